//! Values away: an engine opened from a device store holds every record's version, leaf
//! and pending edit, and the values only of what is used. The driver loads a value from
//! the store when it is asked for ([`Engine::lookup`]) or needed ([`Engine::needs_loading`]),
//! and lets the engine drop clean values once the store has them ([`Engine::evict`]).

use serde_json::Value;

use super::Engine;
use crate::crypto::RecordId;
use crate::sync::error::SyncError;

/// How many values loaded for reading stay in memory after an eviction (a small cache).
pub const KEEP_LOADED: usize = 64;

/// A record as [`Engine::lookup`] finds it.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a> {
    /// Its value as this device sees it (pending edits included).
    Value(&'a Value),
    /// No such record, or deleted.
    Absent,
    /// Live, its value in the device store: load it ([`Engine::load`]) and look again.
    Away,
}

impl Engine {
    /// A record as this device sees it; unlike [`Engine::get`], tells a value away in the
    /// device store from an absent record.
    pub fn lookup(&self, id: &RecordId) -> Lookup<'_> {
        match self.records.get(id) {
            Some(r) if r.pending.is_none() && r.away() => Lookup::Away,
            Some(r) => r.view().map_or(Lookup::Absent, Lookup::Value),
            None => Lookup::Absent,
        }
    }

    /// Every record this device sees as live, values in memory or away.
    pub fn live_ids(&self) -> Vec<RecordId> {
        let live = self.records.iter().filter(|(_, r)| r.live());
        live.map(|(id, _)| *id).collect()
    }

    /// Every record whose value is away.
    pub fn away_ids(&self) -> Vec<RecordId> {
        let away = self.records.iter().filter(|(_, r)| r.away());
        away.map(|(id, _)| *id).collect()
    }

    /// The values to load before the next step of a sync: the bases of pending edits
    /// (a merge needs them), the values a held mass deletion keeps in view, and, when the next pull is a full one (which may push a
    /// record again from here), every value away. Key rotation and re-seeding need every
    /// value too ([`Engine::away_ids`]).
    pub fn needs_loading(&self) -> Vec<RecordId> {
        if self.full_pull_ahead() {
            return self.away_ids();
        }
        let dirty = self.dirty.iter().filter(|id| {
            let synced = self.records.get(id).and_then(|r| r.synced.as_ref());
            synced.is_some_and(|s| s.away && !s.unreadable)
        });
        // And the values a held mass deletion keeps in view.
        let wants: &[RecordId] = self.pull.as_ref().map_or(&[], |p| &p.wants);
        let held = wants.iter().filter(|id| self.is_away(id));
        dirty.chain(held).copied().collect()
    }

    /// For a driver whose device store keeps the values and that evicts them once written:
    /// a pull hands each changed value to its event instead of a copy, and the record keeps
    /// only the server's bytes ([`Engine::held`]) until the store has them. A first sync
    /// then holds each value once, not twice.
    pub fn lend_values(&mut self) {
        self.lend = true;
    }

    /// The server's bytes of a value away that the device store may not hold yet (read
    /// the value from them, not from the store).
    pub fn held(&self, id: &RecordId) -> Option<&[u8]> {
        let synced = self.records.get(id).and_then(|r| r.synced.as_ref());
        synced.filter(|s| s.away).and_then(|s| s.sealed.as_deref())
    }

    /// Whether this record's value is away (to load before reading or merging it).
    pub fn is_away(&self, id: &RecordId) -> bool {
        self.records.get(id).is_some_and(|r| r.away())
    }

    /// The version of a record whose value is away (what its store entry must hold).
    pub fn away_version(&self, id: &RecordId) -> Option<u64> {
        let synced = self.records.get(id).and_then(|r| r.synced.as_ref());
        synced.filter(|s| s.away).map(|s| s.version)
    }

    /// Takes a value read back from the device store. Refused (`STATE_TAMPERED`) unless
    /// the record's value is away at exactly this version.
    pub fn load(&mut self, id: &RecordId, version: u64, value: Value) -> Result<(), SyncError> {
        let synced = self.records.get_mut(id).and_then(|r| r.synced.as_mut());
        match synced {
            Some(s) if s.away && s.version == version => {
                s.value = Some(value);
                s.away = false;
                // Read from the store, unless from the bytes it is still to take.
                s.stored = s.sealed.is_none();
                if self.recent.len() == KEEP_LOADED {
                    self.recent.remove(0);
                }
                self.recent.push(*id);
                Ok(())
            }
            _ => Err(SyncError::StateCorrupt),
        }
    }

    /// A value away that no longer opens because the vault retired its key: left away
    /// (see `Synced::unreadable`), not asked for again.
    pub fn value_unreadable(&mut self, id: &RecordId) {
        if let Some(s) = self.records.get_mut(id).and_then(|r| r.synced.as_mut()) {
            s.unreadable = s.away;
        }
    }

    /// A value that could not be read back (its entry corrupted, missing or moved): the
    /// record is left out until a full pull brings the server's copy again.
    pub fn refuse_value(&mut self, id: &RecordId) {
        if let Some(replica) = self.records.get_mut(id) {
            if replica.away() {
                replica.synced = None;
                self.start_resync();
            }
        }
    }

    /// Drops from memory the values the device store holds, of records without a pending
    /// edit or conflict, but the last ones loaded (call it after a write of the store
    /// succeeded, never before). Not while a full pull is ahead or under way: it needs
    /// every value (a union pushes again what the server lacks), and dropping them after
    /// each page would load them all again for the next one.
    pub fn evict(&mut self) {
        if self.full_pull_ahead() {
            return;
        }
        let keep: &[RecordId] = &self.recent;
        let wanted: &[RecordId] = self.pull.as_ref().map_or(&[], |p| &p.wants);
        for (id, replica) in &mut self.records {
            if replica.pending.is_some() || !replica.conflicts.is_empty() || wanted.contains(id) {
                continue;
            }
            if let Some(s) = replica.synced.as_mut().filter(|s| s.stored) {
                s.sealed = None; // the store has them
                if s.value.is_some() && !keep.contains(id) {
                    s.value = None;
                    s.away = true;
                }
            }
        }
    }

    /// A write of the device store failed: the values it was to hold are not there (the
    /// next write, of every entry, writes them again from memory: their values, or the
    /// server's bytes of those away).
    pub fn unstore(&mut self) {
        for replica in self.records.values_mut() {
            if let Some(s) = &mut replica.synced {
                if !s.away || s.sealed.is_some() {
                    s.stored = false;
                }
            }
        }
    }

    /// Whether every value is in memory (what a whole-state export needs).
    pub(crate) fn all_loaded(&self) -> bool {
        self.records.values().all(|r| !r.away())
    }
}
