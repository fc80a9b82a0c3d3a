//! The mass-deletion failsafe (PROTOCOL.md, "Mass deletions"). A pull that would delete
//! more of this device's records than the guard allows applies everything else, and keeps
//! the deleted records in view, held, until the application confirms the deletions (or
//! keeps the records: they are written again). A local bulk delete is checked against the
//! same guard before anything is deleted.

use std::collections::BTreeSet;

use super::Engine;
use super::pull::{Mode, Pull};
use crate::crypto::RecordId;
use crate::sync::error::SyncError;
use crate::sync::event::Event;

/// When a deletion counts as a mass deletion: more than `min` records **and** more than
/// `percent` % of the records this device holds. The default is 20 and 50 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MassDelete {
    /// A deletion of this many records or fewer is never held.
    pub min: usize,
    /// A deletion of this share of the records (in percent) or less is never held.
    pub percent: u8,
}

impl Default for MassDelete {
    fn default() -> Self {
        Self {
            min: 20,
            percent: 50,
        }
    }
}

impl MassDelete {
    /// Whether deleting `count` of `live` records goes over the guard.
    pub fn over(&self, count: usize, live: usize) -> bool {
        count > self.min && count * 100 > live * usize::from(self.percent)
    }
}

impl Engine {
    /// The guard against mass deletions (`None`: off). On by default; not saved (the
    /// application sets it every time it opens a client).
    pub fn set_mass_delete(&mut self, guard: Option<MassDelete>) {
        self.guard = guard;
    }

    /// The guard against mass deletions in force.
    pub fn mass_delete(&self) -> Option<MassDelete> {
        self.guard
    }

    /// The records the server deleted in a mass deletion that waits for the application's
    /// word: they stay in view until [`Engine::confirm_deletions`] or
    /// [`Engine::keep_deletions`].
    pub fn held_deletions(&self) -> Vec<RecordId> {
        let held = self.records.iter().filter(|(_, r)| r.held.is_some());
        held.map(|(id, _)| *id).collect()
    }

    /// Applies the held deletions: each record leaves this device's view (a `Deleted`
    /// event each).
    pub fn confirm_deletions(&mut self) -> Vec<Event> {
        let ids = self.held_deletions();
        for id in &ids {
            if let Some(replica) = self.records.get_mut(id) {
                replica.held = None;
            }
            self.track(*id);
        }
        ids.into_iter().map(|id| Event::Deleted { id }).collect()
    }

    /// Refuses the held deletions: each record is written again, from this device's value,
    /// as a new version on the next sync (restored everywhere). Returns how many.
    pub fn keep_deletions(&mut self, now: u64) -> usize {
        let ids = self.held_deletions();
        for id in &ids {
            if let Some(replica) = self.records.get_mut(id) {
                replica.pending = replica.held.take().map(Some);
                replica.edited_at = now;
            }
            self.track(*id);
        }
        ids.len()
    }

    /// Checks a bulk delete of `ids` against the guard, deleting nothing:
    /// `MassDelete` if it goes over (ask the user, then delete anyway).
    pub fn check_bulk_delete(&self, ids: &[RecordId]) -> Result<(), SyncError> {
        let Some(guard) = self.guard else {
            return Ok(());
        };
        // Sets are filled by insert, never collected (`saved.rs`: a collect sorts first).
        let mut unique = BTreeSet::new();
        for id in ids {
            if self.records.get(id).is_some_and(|r| r.live()) {
                unique.insert(id);
            }
        }
        let count = unique.len();
        if count <= guard.min {
            return Ok(());
        }
        let live = self.records.values().filter(|r| r.live()).count();
        match guard.over(count, live) {
            true => Err(SyncError::MassDelete { count, live }),
            false => Ok(()),
        }
    }

    /// The records of this device that a checked pull would delete, if they go over the
    /// guard: they are held instead. A union pull never deletes.
    pub(super) fn to_hold(&self, pull: &Pull) -> BTreeSet<RecordId> {
        let Some(guard) = self.guard.filter(|_| pull.mode != Mode::Union) else {
            return BTreeSet::new();
        };
        let clean_live = |id: &RecordId| {
            self.records
                .get(id)
                .is_some_and(|r| r.pending.is_none() && r.held.is_none() && r.synced_live())
        };
        let mut doomed: BTreeSet<RecordId> = pull
            .staged
            .iter()
            .filter(|(id, remote)| !remote.is_live() && clean_live(id))
            .map(|(id, _)| *id)
            .collect();
        if pull.mode == Mode::Verified {
            // What a verified full pull does not list is gone too.
            let gone = self
                .records
                .keys()
                .filter(|id| !pull.staged.contains_key(id));
            doomed.extend(gone.filter(|id| clean_live(id)));
        }
        if doomed.len() <= guard.min {
            return BTreeSet::new();
        }
        let live = self.records.values().filter(|r| r.live()).count();
        match guard.over(doomed.len(), live) {
            true => doomed,
            false => BTreeSet::new(),
        }
    }

    /// Of the records to hold, those whose value is away in the device store (loaded
    /// before the pull is applied: a held record keeps its value in view).
    pub(super) fn away_of(&self, ids: &BTreeSet<RecordId>) -> Vec<RecordId> {
        let away = ids.iter().filter(|id| {
            let synced = self.records.get(id).and_then(|r| r.synced.as_ref());
            synced.is_some_and(|s| s.away && !s.unreadable)
        });
        away.copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_needs_both_the_count_and_the_share() {
        let guard = MassDelete::default();
        assert!(!guard.over(20, 21), "20 is not more than 20");
        assert!(guard.over(21, 41));
        assert!(!guard.over(21, 42), "exactly half is not more than half");
        assert!(!guard.over(30, 100));
        let strict = MassDelete { min: 0, percent: 0 };
        assert!(strict.over(1, 1000));
        assert!(!strict.over(0, 1000));
    }
}
