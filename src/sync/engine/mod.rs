//! The engine: a local replica of one vault as a state machine. Callers feed it local
//! edits, server answers and the time; it hands back requests to send and events to show.
//!
//! - this module: the replica, local edits, export/import;
//! - `pull`: pages of changes staged and applied once the vault head on the last page
//!   checks out; resync;
//! - `head`: the vault head: the set digest, the pinned head and the rules a newer one
//!   meets;
//! - `push`: pushes (each with the next head) and their answers;
//! - `keys`: the envelope (pinning, adoption) and key rotation's re-seals;
//! - `reseed`: re-uploading this device's records to a server that lost them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use vaultsync_wire::Record;

use super::error::SyncError;
use super::merge::{ConflictPolicy, FieldConflict};
use super::replica::{Replica, Synced};
use crate::crypto::head::HeadKeys;
use crate::crypto::rand::Entropy;
use crate::crypto::state::{open_state, seal_state};
use crate::crypto::{RecordId, RecordMeta, SealedRecord, UnlockedVault, VaultId};

mod guard;
pub(crate) mod head;
mod keys;
mod lazy;
mod pull;
mod push;
mod reseed;
mod saved;
mod sent;

use head::HeadState;
use pull::Pull;
use sent::InFlight;

pub use guard::MassDelete;
pub use lazy::{KEEP_LOADED, Lookup};
pub use reseed::Survey;

/// The key id of a sealed record (0 if it does not parse: never one of a keyring's ids).
pub(crate) fn key_id_of(sealed: &[u8]) -> u32 {
    SealedRecord::parse(sealed).map_or(0, |s| s.key_id)
}

/// The sync engine of one vault. Its `Debug` shows counts, never a record's value.
/// Two engines are equal when their saved states are (a pull under way is not saved).
#[derive(Clone)]
pub struct Engine {
    vault_id: VaultId,
    policy: ConflictPolicy,
    /// Where the next pull starts: the last page's cursor of the last pull applied.
    cursor: u64,
    records: BTreeMap<RecordId, Replica>,
    in_flight: Option<InFlight>,
    /// The next pull is a full one (from cursor 0): the server purged tombstones this
    /// device had not seen, or a head check failed.
    resync: bool,
    /// The envelope version this replica last accepted.
    envelope_version: u64,
    /// The fewest PBKDF2 iterations an envelope may have (the pinned parameters).
    kdf_floor: u32,
    /// The vault head: digest, pinned head, this device's id.
    head: HeadState,
    /// The records with a pending edit (an index: a sync does not scan every record).
    /// Not stored; rebuilt on load.
    dirty: BTreeSet<RecordId>,
    /// The pull under way: pages staged until the last one. Not stored: a pull cut off
    /// starts again.
    pull: Option<Pull>,
    /// A push did not land (a conflict): pull before pushing again. Not stored.
    pull_first: bool,
    /// Records changed since the device store last took them (`take_touched`). Not stored.
    touched: BTreeSet<RecordId>,
    /// Plaintexts of the next page's records that the driver opened itself (WebCrypto), by
    /// record and version. Not stored; emptied by every page.
    preopened: BTreeMap<(RecordId, u64), Vec<u8>>,
    /// The values loaded last from the device store (kept by an eviction). Not stored.
    recent: Vec<RecordId>,
    /// A pull hands changed values to its events (see [`Engine::lend_values`]). Not stored.
    lend: bool,
    /// The mass-deletion guard (`guard.rs`; `None`: off). Not stored.
    guard: Option<MassDelete>,
}

impl PartialEq for Engine {
    fn eq(&self, other: &Self) -> bool {
        vaultsync_wire::json::to_string(self) == vaultsync_wire::json::to_string(other)
    }
}

impl core::fmt::Debug for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("vault_id", &self.vault_id)
            .field("cursor", &self.cursor)
            .field("envelope_version", &self.envelope_version)
            .field("records", &self.records.len())
            .field("pending", &self.dirty.len())
            .field("in_flight", &self.in_flight.is_some())
            .field("resync", &self.resync)
            .field("head_seq", &self.head_seq())
            .finish_non_exhaustive()
    }
}

/// How many writes one push carries at most (the server's default limit is 1000).
pub const DEFAULT_PUSH_ITEMS: usize = 500;

impl Engine {
    /// An empty replica of `vault_id` (nothing synced yet).
    pub fn new(vault_id: VaultId, policy: ConflictPolicy) -> Self {
        Self {
            vault_id,
            policy,
            cursor: 0,
            records: BTreeMap::new(),
            in_flight: None,
            resync: false,
            envelope_version: 0,
            kdf_floor: 0,
            head: HeadState::default(),
            dirty: BTreeSet::new(),
            pull: None,
            pull_first: false,
            touched: BTreeSet::new(),
            preopened: BTreeMap::new(),
            recent: Vec::new(),
            lend: false,
            guard: Some(MassDelete::default()),
        }
    }

    /// Rebuilds what is not stored (the pending index) after deserialising.
    pub(crate) fn after_load(&mut self) {
        self.dirty.clear();
        for (id, replica) in &self.records {
            if replica.pending.is_some() {
                self.dirty.insert(*id);
            }
        }
    }

    /// Keeps the pending index in step with one record.
    fn track(&mut self, id: RecordId) {
        self.touched.insert(id);
        if self.records.get(&id).is_some_and(|r| r.pending.is_some()) {
            self.dirty.insert(id);
        } else {
            self.dirty.remove(&id);
        }
    }

    /// The vault this replica belongs to.
    pub fn vault_id(&self) -> VaultId {
        self.vault_id
    }

    /// The cursor to pull from next (0 for a full pull, and during one, where it is).
    pub fn cursor(&self) -> u64 {
        match &self.pull {
            Some(pull) => pull.cursor(),
            None if self.resync || !self.leaves_known() => 0,
            None => self.cursor,
        }
    }

    /// How conflicts are decided.
    pub fn policy(&self) -> ConflictPolicy {
        self.policy
    }

    /// Sets how conflicts are decided from now on.
    pub fn set_policy(&mut self, policy: ConflictPolicy) {
        self.policy = policy;
    }

    /// The value of a record as this device sees it (pending edits included); `None` also
    /// for a value away in the device store (see [`Engine::lookup`]).
    pub fn get(&self, id: &RecordId) -> Option<&Value> {
        self.records.get(id).and_then(Replica::view)
    }

    /// Every live record as this device sees it, by id (values away left out: see
    /// [`Engine::live_ids`]).
    pub fn records(&self) -> impl Iterator<Item = (&RecordId, &Value)> {
        self.records
            .iter()
            .filter_map(|(id, r)| r.view().map(|v| (id, v)))
    }

    /// How many local edits wait for the server.
    pub fn pending_count(&self) -> usize {
        self.records
            .values()
            .filter(|r| r.pending.is_some())
            .count()
    }

    /// Conflicts met on a record and not yet dismissed.
    pub fn conflicts(&self, id: &RecordId) -> &[FieldConflict] {
        self.records.get(id).map_or(&[], |r| &r.conflicts)
    }

    /// Forgets the conflicts of a record (after a UI showed them).
    pub fn dismiss_conflicts(&mut self, id: &RecordId) {
        if let Some(r) = self.records.get_mut(id) {
            r.conflicts.clear();
            self.touched.insert(*id);
        }
    }

    /// Creates or replaces a record locally (offline is fine); `now` is the caller's clock.
    pub fn put(&mut self, id: RecordId, value: Value, now: u64) {
        let replica = self.records.entry(id).or_default();
        replica.held = None; // an edit answers a held deletion: the record stays
        replica.pending = Some(Some(value));
        replica.edited_at = now;
        self.dirty.insert(id);
        self.touched.insert(id);
    }

    /// Deletes a record locally. False if there was nothing to delete.
    pub fn delete(&mut self, id: &RecordId, now: u64) -> bool {
        let Some(replica) = self.records.get_mut(id) else {
            return false;
        };
        if !replica.live() {
            return false;
        }
        if replica.held.take().is_some() {
            // Held from a mass deletion the server already has: confirmed for this one.
            self.touched.insert(*id);
            return true;
        }
        replica.pending = Some(None);
        replica.edited_at = now;
        self.dirty.insert(*id);
        self.touched.insert(*id);
        true
    }

    /// The whole state as one blob sealed under the vault's state key, for the embedder to
    /// store (chrome.storage, IndexedDB, a file).
    pub fn export(
        &self,
        vault: &UnlockedVault,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Vec<u8>, SyncError> {
        self.check_vault(vault)?;
        if !self.all_loaded() {
            return Err(SyncError::ValuesAway);
        }
        let json = vaultsync_wire::json::to_string(self).into_bytes();
        Ok(seal_state(
            &vault.state_key(),
            &self.vault_id,
            &json,
            entropy,
        )?)
    }

    /// Restores an engine from [`Engine::export`]; a modified blob or one of another vault
    /// is refused.
    pub fn import(vault: &UnlockedVault, blob: &[u8]) -> Result<Self, SyncError> {
        let json = open_state(&vault.state_key(), &vault.vault_id(), blob)?;
        let engine: Self = std::str::from_utf8(&json)
            .ok()
            .and_then(|text| vaultsync_wire::json::from_str(text).ok())
            .ok_or(SyncError::StateCorrupt)?;
        engine.check_vault(vault)?;
        Ok(engine)
    }

    fn check_vault(&self, vault: &UnlockedVault) -> Result<(), SyncError> {
        if vault.vault_id() == self.vault_id {
            Ok(())
        } else {
            Err(SyncError::WrongVault)
        }
    }

    /// Plaintext of a record of the next page of changes that the driver opened itself with
    /// the platform's AES-GCM (WebCrypto) under the record's key, nonce and associated data
    /// (`FORMAT.md`): used instead of opening it here. Only a driver that checked the
    /// record's tag may give one; the next page applied forgets them all.
    pub fn provide_opened(&mut self, record_id: RecordId, version: u64, plaintext: Vec<u8>) {
        self.preopened.insert((record_id, version), plaintext);
    }

    /// Opens a server record, refusing anything that fails authentication (moved, flipped,
    /// forged), and computes its leaf. Versions are the caller's to check.
    fn open_record(
        &self,
        vault: &UnlockedVault,
        keys: &HeadKeys,
        record: &Record,
    ) -> Result<Synced, SyncError> {
        let tampered = || SyncError::Tampered {
            record_id: record.record_id,
        };
        let meta = RecordMeta::new(record.record_id, record.version, record.deleted)
            .map_err(|_| tampered())?;
        let sealed = record.ciphertext.as_bytes();
        let preopened = match record.deleted {
            false => self.preopened.get(&(record.record_id, record.version)),
            true => None,
        };
        let opened;
        let plaintext: &[u8] = match preopened {
            Some(plaintext) => plaintext,
            None => {
                opened = vault.open(&meta, sealed).map_err(|_| tampered())?;
                &opened
            }
        };
        let (value, leaf) = if record.deleted {
            (None, None)
        } else {
            let value = vaultsync_wire::json::parse(plaintext).ok_or_else(tampered)?;
            let leaf = keys.leaf(&self.vault_id, &record.record_id, record.version, sealed);
            (Some(value), Some(leaf))
        };
        let key_id = key_id_of(sealed);
        let mut synced = Synced::new(record.version, value, key_id, leaf);
        if !record.deleted {
            synced.sealed = Some(sealed.to_vec());
        }
        Ok(synced)
    }
}
