//! The mass-deletion failsafe on the native client (`sync/engine/guard.rs`): deletions a
//! pull held, confirmed or refused, and bulk deletes checked against the same guard.

use super::{Client, ClientError, now_ms};
use crate::crypto::RecordId;
use crate::sync::{Event, MassDelete};

impl Client {
    /// Sets the mass-deletion guard (`None`: off) from now on.
    pub fn set_mass_delete(&mut self, guard: Option<MassDelete>) {
        self.session.engine.set_mass_delete(guard);
    }

    /// The records another device (or the server) deleted in a mass deletion this device
    /// holds: still in view until [`Client::confirm_deletions`] or
    /// [`Client::keep_deletions`]. A sync that held them returned `DeletionsHeld`.
    pub fn held_deletions(&self) -> Vec<RecordId> {
        self.engine().held_deletions()
    }

    /// Applies the held deletions here (nothing is sent: the server has them); returns a
    /// `Deleted` event per record.
    pub fn confirm_deletions(&mut self) -> Result<Vec<Event>, ClientError> {
        let events = self.session.engine.confirm_deletions();
        self.after_change()?;
        Ok(events)
    }

    /// Refuses the held deletions: the records are written again from this device on the
    /// next sync (every device gets them back). Returns how many.
    pub fn keep_deletions(&mut self) -> Result<usize, ClientError> {
        let kept = self.session.engine.keep_deletions(now_ms());
        self.after_change()?;
        Ok(kept)
    }

    /// Deletes these records, unless that goes over the mass-deletion guard and
    /// `confirmed` is false: then `MASS_DELETE` and nothing is deleted (ask the user, then
    /// call again with `confirmed`). Returns how many records were deleted.
    pub fn delete_many(&mut self, ids: &[RecordId], confirmed: bool) -> Result<usize, ClientError> {
        if !confirmed {
            self.engine().check_bulk_delete(ids)?;
        }
        let now = now_ms();
        let deleted = ids
            .iter()
            .filter(|id| self.session.engine.delete(id, now))
            .count();
        self.after_change()?;
        Ok(deleted)
    }
}
