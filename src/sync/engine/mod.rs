//! The engine: a local replica of one vault as a state machine. Callers feed it local
//! edits, server answers and the time; it hands back requests to send and events to show.
//!
//! - this module: the replica, local edits, pages of changes, resync, export/import;
//! - `push`: pushes and their answers;
//! - `keys`: the envelope (pinning, adoption) and key rotation's re-seals.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};
use vaultsync_wire::{ChangesResponse, Record};

use super::error::SyncError;
use super::event::Event;
use super::merge::{ConflictPolicy, FieldConflict, Resolve};
use super::replica::{Replica, Synced, reconcile};
use crate::crypto::rand::Entropy;
use crate::crypto::state::{open_state, seal_state};
use crate::crypto::{RecordId, RecordMeta, SealedRecord, UnlockedVault, VaultId};

mod keys;
mod push;

use push::Sent;

/// The key id of a sealed record (0 if it does not parse: never one of a keyring's ids).
fn key_id_of(sealed: &[u8]) -> u32 {
    SealedRecord::parse(sealed).map_or(0, |s| s.key_id)
}

/// The sync engine of one vault. Its `Debug` shows counts, never a record's value.
#[derive(Clone, PartialEq)]
pub struct Engine {
    vault_id: VaultId,
    policy: ConflictPolicy,
    cursor: u64,
    records: BTreeMap<RecordId, Replica>,
    in_flight: Option<Vec<Sent>>,
    /// During a full resync: the records the server has listed so far.
    resync_seen: Option<BTreeSet<RecordId>>,
    /// The envelope version this replica last accepted.
    envelope_version: u64,
    /// The fewest PBKDF2 iterations an envelope may have (the pinned parameters).
    kdf_floor: u32,
    /// The records with a pending edit (an index: a sync does not scan every record).
    /// Not stored; rebuilt on load.
    dirty: BTreeSet<RecordId>,
}

/// The engine's saved form (`src/sync/forms.rs`): every field but the pending index.
impl ToJson for Engine {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "vault_id", &self.vault_id);
        put(&mut o, "policy", &self.policy);
        put(&mut o, "cursor", &self.cursor);
        // Maps are filled by insert, never collected: `collect` into a B-tree sorts first,
        // and the sort's code cost the .wasm 30 KB.
        let mut records = Map::new();
        for (id, replica) in &self.records {
            records.insert(id.to_string(), replica.to_json().unwrap_or(Value::Null));
        }
        o.insert("records".into(), Value::Object(records));
        let or_null = |v: Option<Value>| v.unwrap_or(Value::Null);
        o.insert("in_flight".into(), or_null(self.in_flight.to_json()));
        let seen = self
            .resync_seen
            .as_ref()
            .map(|seen| seen.iter().copied().collect::<Vec<_>>());
        o.insert("resync_seen".into(), or_null(seen.to_json()));
        put(&mut o, "envelope_version", &self.envelope_version);
        put(&mut o, "kdf_floor", &self.kdf_floor);
        Some(Value::Object(o))
    }
}

impl FromJson for Engine {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        let mut records = BTreeMap::new();
        for (id, replica) in object(o.get("records").unwrap_or(&Value::Null), "records")? {
            let id = RecordId::parse(id).map_err(|_| JsonError {
                at: "records",
                expected: "record ids as keys",
            })?;
            records.insert(id, Replica::from_json(replica, "records")?);
        }
        let seen: Option<Vec<RecordId>> = field(o, "resync_seen")?;
        let mut engine = Self {
            vault_id: field(o, "vault_id")?,
            policy: field(o, "policy")?,
            cursor: field(o, "cursor")?,
            records,
            in_flight: field(o, "in_flight")?,
            resync_seen: seen.map(|ids| {
                let mut set = BTreeSet::new();
                for id in ids {
                    set.insert(id);
                }
                set
            }),
            envelope_version: field(o, "envelope_version")?,
            kdf_floor: field(o, "kdf_floor")?,
            dirty: BTreeSet::new(),
        };
        engine.after_load();
        Ok(engine)
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
            .field("in_flight", &self.in_flight.as_ref().map(Vec::len))
            .field("resyncing", &self.resync_seen.is_some())
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
            resync_seen: None,
            envelope_version: 0,
            kdf_floor: 0,
            dirty: BTreeSet::new(),
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

    /// The cursor to pull from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// How conflicts are decided.
    pub fn policy(&self) -> ConflictPolicy {
        self.policy
    }

    /// Sets how conflicts are decided from now on.
    pub fn set_policy(&mut self, policy: ConflictPolicy) {
        self.policy = policy;
    }

    /// The value of a record as this device sees it (pending edits included).
    pub fn get(&self, id: &RecordId) -> Option<&Value> {
        self.records.get(id).and_then(Replica::view)
    }

    /// Every live record as this device sees it, by id.
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
        }
    }

    /// Creates or replaces a record locally (offline is fine); `now` is the caller's clock.
    pub fn put(&mut self, id: RecordId, value: Value, now: u64) {
        let replica = self.records.entry(id).or_default();
        replica.pending = Some(Some(value));
        replica.edited_at = now;
        self.dirty.insert(id);
    }

    /// Deletes a record locally. False if there was nothing to delete.
    pub fn delete(&mut self, id: &RecordId, now: u64) -> bool {
        let Some(replica) = self.records.get_mut(id) else {
            return false;
        };
        if replica.view().is_none() {
            return false;
        }
        replica.pending = Some(None);
        replica.edited_at = now;
        self.dirty.insert(*id);
        true
    }

    /// Applies one page of `changes since cursor`. Checks the whole page first (cursor
    /// order, authentication of every record, no version below one already seen): on any
    /// error nothing changes.
    pub fn apply_changes(
        &mut self,
        vault: &UnlockedVault,
        page: &ChangesResponse,
    ) -> Result<Vec<Event>, SyncError> {
        let mut policy = self.policy;
        self.apply_changes_with(vault, page, &mut policy)
    }

    /// [`Engine::apply_changes`] with an application's own conflict resolver instead of
    /// the engine's policy.
    pub fn apply_changes_with(
        &mut self,
        vault: &UnlockedVault,
        page: &ChangesResponse,
        resolver: &mut dyn Resolve,
    ) -> Result<Vec<Event>, SyncError> {
        self.check_vault(vault)?;
        let mut last = self.cursor;
        let mut opened = Vec::with_capacity(page.changes.len());
        for change in &page.changes {
            if change.cursor <= last {
                return Err(SyncError::BadAnswer {
                    reason: "changes out of cursor order",
                });
            }
            last = change.cursor;
            opened.push((change.record_id, self.open_checked(vault, change)?));
        }
        if page.cursor != last || (page.changes.is_empty() && page.cursor != self.cursor) {
            return Err(SyncError::BadAnswer {
                reason: "a page cursor that is not its last change's",
            });
        }
        let mut events = Vec::new();
        for (id, remote) in opened {
            if let Some(seen) = self.resync_seen.as_mut() {
                seen.insert(id);
            }
            let replica = self.records.entry(id).or_default();
            events.extend(reconcile(id, replica, remote, resolver));
            self.track(id);
        }
        self.cursor = page.cursor;
        if !page.more {
            if let Some(seen) = self.resync_seen.take() {
                events.extend(self.finish_resync(&seen));
            }
        }
        Ok(events)
    }

    /// The server answered `RESYNC_REQUIRED`: pull everything from cursor 0. Pending
    /// edits are kept; records the full pull does not list are removed at its end.
    pub fn start_resync(&mut self) {
        self.cursor = 0;
        self.resync_seen = Some(BTreeSet::new());
    }

    /// Whether a full resync is under way.
    pub fn resyncing(&self) -> bool {
        self.resync_seen.is_some()
    }

    /// The whole state as one blob sealed under the vault's state key, for the embedder to
    /// store (chrome.storage, IndexedDB, a file).
    pub fn export(
        &self,
        vault: &UnlockedVault,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Vec<u8>, SyncError> {
        self.check_vault(vault)?;
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

    /// Opens a server record, refusing anything that fails authentication (moved, flipped,
    /// forged) and any version below one already accepted (rollback).
    fn open_checked(&self, vault: &UnlockedVault, record: &Record) -> Result<Synced, SyncError> {
        let seen = self
            .records
            .get(&record.record_id)
            .map_or(0, |r| r.max_seen);
        if record.version < seen {
            return Err(SyncError::Rollback {
                record_id: record.record_id,
                seen,
                got: record.version,
            });
        }
        let meta =
            RecordMeta::new(record.record_id, record.version, record.deleted).map_err(|_| {
                SyncError::Tampered {
                    record_id: record.record_id,
                }
            })?;
        let plaintext = vault
            .open(&meta, record.ciphertext.as_bytes())
            .map_err(|_| SyncError::Tampered {
                record_id: record.record_id,
            })?;
        let value = if record.deleted {
            None
        } else {
            Some(
                vaultsync_wire::json::parse(&plaintext).ok_or(SyncError::Tampered {
                    record_id: record.record_id,
                })?,
            )
        };
        let key_id = key_id_of(record.ciphertext.as_bytes());
        Ok(Synced::new(record.version, value, key_id))
    }

    fn finish_resync(&mut self, seen: &BTreeSet<RecordId>) -> Vec<Event> {
        let mut events = Vec::new();
        for (id, replica) in &mut self.records {
            if seen.contains(id) || replica.synced.is_none() {
                continue;
            }
            // Gone from the server (a purged tombstone): deleted here too, unless edited.
            let was_live = replica.synced_value().is_some();
            replica.synced = None;
            if replica.pending.is_none() && was_live {
                events.push(Event::Deleted { id: *id });
            }
        }
        events
    }
}
