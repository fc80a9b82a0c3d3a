//! Record history from the native client (PROTOCOL.md, "History"): a record's past
//! versions, opened and checked like current records (`sync::ops::history`), and restoring
//! one as a new edit.

use vaultsync_wire::{self as wire, MAX_VERSION};

use super::{Client, ClientError};
use crate::crypto::RecordId;
use crate::sync::ops::history::{PastValue, open_page};
use crate::sync::{Call, Reply, SyncError};

impl Client {
    /// The past versions of `id` the server keeps, newest first (every page). A version
    /// the server forged or altered is refused (`TAMPERED`).
    pub fn history(&self, id: &RecordId) -> Result<Vec<PastValue>, ClientError> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let call = Call::History {
                vault: self.session.engine.vault_id(),
                record: *id,
                before,
            };
            let Reply::History(page) = self.request(call)? else {
                let reason = "an answer to another request";
                return Err(SyncError::BadAnswer { reason }.into());
            };
            let opened = open_page(&self.vault, id, before.unwrap_or(MAX_VERSION + 1), &page)?;
            let last = page.versions.last().map(|p| p.version);
            all.extend(opened);
            match (page.more, last) {
                (true, Some(last)) => before = Some(last),
                _ => return Ok(all),
            }
        }
    }

    /// The deleted records the server still keeps past versions of (restorable with
    /// [`Client::restore`]), in record id order (every page).
    pub fn deleted_records(&self) -> Result<Vec<wire::DeletedRecord>, ClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let call = Call::Deleted {
                vault: self.session.engine.vault_id(),
                after,
            };
            let Reply::Deleted(page) = self.request(call)? else {
                let reason = "an answer to another request";
                return Err(SyncError::BadAnswer { reason }.into());
            };
            let last = page.records.last().map(|r| r.record_id);
            all.extend(page.records);
            match (page.more, last) {
                (true, Some(last)) => after = Some(last),
                _ => return Ok(all),
            }
        }
    }

    /// Restores `version` of `id` as a new local edit (sync next): its value, or a
    /// deletion when that version is a tombstone. History is never rewritten: the restore
    /// is a new version. `NOT_FOUND` if the server keeps no such version.
    pub fn restore(&mut self, id: &RecordId, version: u64) -> Result<(), ClientError> {
        let past = self
            .history(id)?
            .into_iter()
            .find(|p| p.version == version)
            .ok_or(SyncError::NoSuchVersion {
                record_id: *id,
                version,
            })?;
        match past.value {
            Some(value) => self.put(Some(*id), value).map(drop),
            None => self.delete(id).map(drop),
        }
    }
}
