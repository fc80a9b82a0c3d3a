//! The engine: a local replica of one vault as a state machine. Callers feed it local
//! edits, server answers and the time; it hands back requests to send and events to show.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vaultsync_wire::{
    Blob, ChangesResponse, PushItem, PushRequest, PushResponse, PushResult, Record,
};

use super::error::SyncError;
use super::event::Event;
use super::merge::{ConflictPolicy, FieldConflict, Resolve};
use super::replica::{Replica, Synced, reconcile};
use crate::crypto::rand::Entropy;
use crate::crypto::state::{open_state, seal_state};
use crate::crypto::{Envelope, RecordId, RecordMeta, SealedRecord, UnlockedVault, VaultId};

/// A write sent and not yet answered: resent byte for byte until answered, so that the
/// server recognises a retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Sent {
    record_id: RecordId,
    base_version: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::forms::exact"
    )]
    value: Option<Value>,
    ciphertext: Blob,
}

impl Sent {
    /// The key id the write is sealed under.
    fn key_id(&self) -> u32 {
        key_id_of(self.ciphertext.as_bytes())
    }
}

/// The key id of a sealed record (0 if it does not parse: never one of a keyring's ids).
fn key_id_of(sealed: &[u8]) -> u32 {
    SealedRecord::parse(sealed).map_or(0, |s| s.key_id)
}

/// The sync engine of one vault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(skip)]
    dirty: BTreeSet<RecordId>,
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
        self.dirty = self
            .records
            .iter()
            .filter(|(_, r)| r.pending.is_some())
            .map(|(id, _)| *id)
            .collect();
    }

    /// Keeps the pending index in step with one record.
    fn track(&mut self, id: RecordId) {
        if self.records.get(&id).is_some_and(|r| r.pending.is_some()) {
            self.dirty.insert(id);
        } else {
            self.dirty.remove(&id);
        }
    }

    /// Pins the envelope this device unlocked (at register or login): its version, and its
    /// iterations as the floor any later envelope must meet.
    pub fn pin_envelope(&mut self, version: u64, iterations: u32) {
        self.envelope_version = version;
        self.kdf_floor = iterations;
    }

    /// The envelope version this replica last accepted.
    pub fn envelope_version(&self) -> u64 {
        self.envelope_version
    }

    /// The server's envelope, newer than the pinned one (another device changed the
    /// password, rotated keys or recovered): refused when older than the pinned version
    /// (`ROLLBACK`), weaker than the pinned KDF (`KDF_DOWNGRADE`), or not this vault's
    /// (`TAMPERED`: another vault id, or not authenticated by this vault's root key);
    /// otherwise adopted by the vault. Nothing changes on a refusal.
    pub fn check_envelope(
        &mut self,
        vault: &mut UnlockedVault,
        doc: &vaultsync_wire::EnvelopeDoc,
    ) -> Result<Option<Event>, SyncError> {
        self.check_vault(vault)?;
        if doc.version < self.envelope_version {
            return Err(SyncError::EnvelopeRollback {
                seen: self.envelope_version,
                got: doc.version,
            });
        }
        if doc.version == self.envelope_version {
            return Ok(None);
        }
        let envelope = crate::crypto::Envelope::parse(doc.envelope.as_bytes())
            .map_err(|_| SyncError::EnvelopeTampered)?;
        if envelope.vault_id() != vault.vault_id() {
            return Err(SyncError::EnvelopeTampered);
        }
        let iterations = envelope.kdf_params().iterations();
        if iterations < self.kdf_floor {
            return Err(SyncError::KdfDowngrade {
                pinned: self.kdf_floor,
                got: iterations,
            });
        }
        // Key rotations only go forward: an older (authentic) envelope replayed as a newer
        // version would have this device seal under a key the vault moved away from.
        if envelope.current_key_id() < vault.current_key_id() {
            return Err(SyncError::KeyRollback {
                current: vault.current_key_id(),
                got: envelope.current_key_id(),
            });
        }
        let change = self.adopt(vault, &envelope, doc.version)?;
        Ok(Some(Event::EnvelopeChanged {
            password: change.password,
            keys: change.keys,
        }))
    }

    /// The server stored an envelope this device made (a password change, a key rotation
    /// or retirement) as `version`: the vault adopts it and the engine pins it.
    pub fn envelope_stored(
        &mut self,
        vault: &mut UnlockedVault,
        envelope: &Envelope,
        version: u64,
    ) -> Result<(), SyncError> {
        self.check_vault(vault)?;
        self.adopt(vault, envelope, version).map(drop)
    }

    /// Adopts an envelope authenticated under the vault's root key and pins it. A write
    /// sealed and sent under a key that is no longer the current one is forgotten (it is
    /// still pending and is sealed again under the current key): after a rotation no
    /// write of this device under an old key can land, so retiring it is safe.
    fn adopt(
        &mut self,
        vault: &mut UnlockedVault,
        envelope: &Envelope,
        version: u64,
    ) -> Result<crate::crypto::EnvelopeChange, SyncError> {
        let change = vault
            .adopt_envelope(envelope)
            .map_err(|_| SyncError::EnvelopeTampered)?;
        self.envelope_version = version;
        self.kdf_floor = envelope.kdf_params().iterations();
        let current = vault.current_key_id();
        if self
            .in_flight
            .as_ref()
            .is_some_and(|sent| sent.iter().any(|s| s.key_id() != current))
        {
            self.in_flight = None;
        }
        Ok(change)
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

    /// The highest version accepted for a record (0 if none).
    pub fn version(&self, id: &RecordId) -> u64 {
        self.records.get(id).map_or(0, |r| r.max_seen)
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

    /// The next push: the unanswered one again (same bytes, so the server recognises a
    /// retry), or up to `max_items` pending edits sealed for their next version. `None`
    /// when there is nothing to push.
    pub fn prepare_push(
        &mut self,
        vault: &UnlockedVault,
        max_items: usize,
        entropy: &mut impl Entropy,
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if let Some(again) = self.resend() {
            return Ok(Some(again));
        }
        let mut sent = Vec::new();
        let mut settled = Vec::new();
        for id in &self.dirty {
            if sent.len() == max_items {
                break;
            }
            let Some(replica) = self.records.get(id) else {
                continue;
            };
            let Some(pending) = &replica.pending else {
                continue;
            };
            if pending.is_none() && replica.synced_value().is_none() {
                // Deleting what the server never had (or already deleted): nothing to send.
                settled.push(*id);
                continue;
            }
            let version = replica.base_version() + 1;
            let meta = RecordMeta::new(*id, version, pending.is_none())?;
            let plaintext = match pending {
                Some(value) => serde_json::to_vec(value).map_err(|_| SyncError::NotJson)?,
                None => Vec::new(),
            };
            let ciphertext = vault.seal(&meta, &plaintext, entropy)?;
            sent.push(Sent {
                record_id: *id,
                base_version: replica.base_version(),
                value: pending.clone(),
                ciphertext: Blob(ciphertext),
            });
        }
        for id in settled {
            if let Some(r) = self.records.get_mut(&id) {
                r.pending = None;
            }
            self.track(id);
        }
        Ok(self.send(sent))
    }

    /// The unanswered push again, byte for byte (with the envelope version pinned now).
    fn resend(&self) -> Option<PushRequest> {
        let sent = self.in_flight.as_ref()?;
        Some(request_of(sent, self.envelope_version))
    }

    /// Makes `sent` the push in flight.
    fn send(&mut self, sent: Vec<Sent>) -> Option<PushRequest> {
        if sent.is_empty() {
            return None;
        }
        let request = request_of(&sent, self.envelope_version);
        self.in_flight = Some(sent);
        Some(request)
    }

    /// Records the server holds under another key than the vault's current one (a key
    /// rotation is under way), with or without a pending edit here: until none is left,
    /// the old key cannot be retired.
    pub fn reseal_count(&self, vault: &UnlockedVault) -> usize {
        let current = vault.current_key_id();
        self.records
            .values()
            .filter(|r| r.synced.as_ref().is_some_and(|s| s.key_id != current))
            .count()
    }

    /// The next push of a key rotation: the unanswered one again, or up to `max_items`
    /// records the server holds under an old key, sealed again unchanged under the current
    /// key for their next version (tombstones too: a tombstone under a retired key could
    /// not be authenticated). Records with a pending edit are left to
    /// [`Engine::prepare_push`], which seals under the current key anyway. `None` when
    /// every record is under the current key. Answers go to [`Engine::apply_push`].
    pub fn prepare_reseal(
        &mut self,
        vault: &UnlockedVault,
        max_items: usize,
        entropy: &mut impl Entropy,
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if let Some(again) = self.resend() {
            return Ok(Some(again));
        }
        let current = vault.current_key_id();
        let mut sent = Vec::new();
        for (id, replica) in &self.records {
            if sent.len() == max_items {
                break;
            }
            let Some(synced) = replica
                .synced
                .as_ref()
                .filter(|_| needs_reseal(replica, current))
            else {
                continue;
            };
            let meta = RecordMeta::new(*id, synced.version + 1, synced.value.is_none())?;
            let plaintext = match &synced.value {
                Some(value) => serde_json::to_vec(value).map_err(|_| SyncError::NotJson)?,
                None => Vec::new(),
            };
            sent.push(Sent {
                record_id: *id,
                base_version: synced.version,
                value: synced.value.clone(),
                ciphertext: Blob(vault.seal(&meta, &plaintext, entropy)?),
            });
        }
        Ok(self.send(sent))
    }

    /// Applies the server's answer to the push from [`Engine::prepare_push`]. Checks the
    /// whole answer first: on any error nothing changes and the push stays unanswered.
    pub fn apply_push(
        &mut self,
        vault: &UnlockedVault,
        response: &PushResponse,
    ) -> Result<Vec<Event>, SyncError> {
        let mut policy = self.policy;
        self.apply_push_with(vault, response, &mut policy)
    }

    /// [`Engine::apply_push`] with an application's own conflict resolver instead of the
    /// engine's policy.
    pub fn apply_push_with(
        &mut self,
        vault: &UnlockedVault,
        response: &PushResponse,
        resolver: &mut dyn Resolve,
    ) -> Result<Vec<Event>, SyncError> {
        self.check_vault(vault)?;
        let sent = self.in_flight.as_ref().ok_or(SyncError::BadAnswer {
            reason: "a push answer without a push",
        })?;
        if sent.len() != response.results.len() {
            return Err(SyncError::BadAnswer {
                reason: "a push answer with another number of results",
            });
        }
        // Validate every result before changing anything.
        let mut outcomes = Vec::with_capacity(sent.len());
        for (item, result) in sent.iter().zip(&response.results) {
            let outcome = match result {
                PushResult::Applied {
                    record_id, version, ..
                } => {
                    if *record_id != item.record_id || *version != item.base_version + 1 {
                        return Err(SyncError::BadAnswer {
                            reason: "an applied result that does not match the write",
                        });
                    }
                    Outcome::Applied(*version)
                }
                PushResult::Conflict { record_id, current } => {
                    if *record_id != item.record_id {
                        return Err(SyncError::BadAnswer {
                            reason: "a conflict result for another record",
                        });
                    }
                    match current {
                        Some(record) => {
                            if record.record_id != item.record_id
                                || record.version == item.base_version
                            {
                                return Err(SyncError::BadAnswer {
                                    reason: "a conflict whose copy is not newer",
                                });
                            }
                            Outcome::Remote(self.open_checked(vault, record)?)
                        }
                        None if item.base_version > 0 => Outcome::Gone,
                        None => {
                            return Err(SyncError::BadAnswer {
                                reason: "a create refused without a current copy",
                            });
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        let sent = self.in_flight.take().unwrap_or_default();
        let mut events = Vec::new();
        for (item, outcome) in sent.into_iter().zip(outcomes) {
            let id = item.record_id;
            let replica = self.records.entry(id).or_default();
            match outcome {
                Outcome::Applied(version) => {
                    let key_id = item.key_id();
                    replica.synced = Some(Synced::new(version, item.value.clone(), key_id));
                    replica.max_seen = replica.max_seen.max(version);
                    if replica.pending.as_ref() == Some(&item.value) {
                        replica.pending = None;
                    }
                }
                Outcome::Remote(remote) => {
                    events.extend(reconcile(item.record_id, replica, remote, resolver));
                }
                Outcome::Gone => {
                    // The server no longer has the record (its tombstone was purged).
                    let remote = Synced::new(0, None, 0);
                    events.extend(reconcile(item.record_id, replica, remote, resolver));
                    replica.synced = None;
                }
            }
            self.track(id);
        }
        Ok(events)
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
        entropy: &mut impl Entropy,
    ) -> Result<Vec<u8>, SyncError> {
        self.check_vault(vault)?;
        let json = serde_json::to_vec(self).map_err(|_| SyncError::NotJson)?;
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
        let mut engine: Self =
            serde_json::from_slice(&json).map_err(|_| SyncError::StateCorrupt)?;
        engine.after_load();
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
                serde_json::from_slice(&plaintext).map_err(|_| SyncError::Tampered {
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

/// A validated push result.
enum Outcome {
    Applied(u64),
    Remote(Synced),
    Gone,
}

/// A record whose server copy is under another key than `current`, with no pending edit.
fn needs_reseal(replica: &Replica, current: u32) -> bool {
    replica.pending.is_none() && replica.synced.as_ref().is_some_and(|s| s.key_id != current)
}

fn request_of(sent: &[Sent], envelope_version: u64) -> PushRequest {
    PushRequest {
        envelope_version,
        items: sent
            .iter()
            .map(|s| PushItem {
                record_id: s.record_id,
                base_version: s.base_version,
                deleted: s.value.is_none(),
                ciphertext: s.ciphertext.clone(),
            })
            .collect(),
    }
}
