//! Re-seeding a server that has less than this device saw (restored from a backup, or
//! hiding changes: `SERVER_BEHIND`, or an older vault head). Nothing is deleted on the
//! server's word: this device reads what the server holds (a survey), then pushes every
//! record whose value differs from its own at a version above both, under the first head
//! of a new chain. Other devices then see the new chain and merge their own records in
//! (PROTOCOL.md, "Re-seeding").

use std::collections::{BTreeMap, BTreeSet};

use vaultsync_wire::{ChangesResponse, PushRequest, PushResponse, PushResult};

use super::Engine;
use super::head::{parse_head, toggle};
use super::sent::{Sent, batch_full};
use crate::crypto::head::{Head, SealedHead, SetDigest};
use crate::crypto::rand::Entropy;
use crate::crypto::{RecordId, UnlockedVault};
use crate::sync::error::SyncError;
use crate::sync::replica::Synced;

/// What the server holds, read in full before a re-seed: records opened and authenticated,
/// nothing applied to the replica.
#[derive(Default)]
pub struct Survey {
    cursor: u64,
    done: bool,
    records: BTreeMap<RecordId, Synced>,
    /// The server's head, then each head this re-seed wrote.
    head: Option<SealedHead>,
    head_seq: u64,
    digest: SetDigest,
    written: BTreeSet<RecordId>,
    /// A push of the new chain landed.
    started: bool,
}

impl core::fmt::Debug for Survey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Survey")
            .field("cursor", &self.cursor)
            .field("done", &self.done)
            .field("records", &self.records.len())
            .field("written", &self.written.len())
            .finish_non_exhaustive()
    }
}

impl Survey {
    /// The cursor to read the next page from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether every page was read.
    pub fn done(&self) -> bool {
        self.done
    }
}

impl Engine {
    /// Reads one page of a survey: every record authenticated, none applied.
    pub fn survey_page(
        &self,
        vault: &UnlockedVault,
        survey: &mut Survey,
        page: &ChangesResponse,
    ) -> Result<(), SyncError> {
        self.check_vault(vault)?;
        let keys = vault.head_keys();
        let mut last = survey.cursor;
        for change in &page.changes {
            if change.cursor <= last {
                return Err(SyncError::BadAnswer {
                    reason: "changes out of cursor order",
                });
            }
            last = change.cursor;
            let record = self.open_record(vault, &keys, change)?;
            survey.records.insert(change.record_id, record);
        }
        survey.cursor = page.cursor.max(last);
        if !page.more {
            survey.done = true;
            survey.head = page
                .head
                .as_ref()
                .map(|d| parse_head(d, self))
                .transpose()?;
            survey.head_seq = page.head.as_ref().map_or(0, |d| d.seq);
            survey.digest = SetDigest::default();
            for record in survey.records.values() {
                toggle(&mut survey.digest, record.leaf.as_ref());
            }
        }
        Ok(())
    }

    /// The next push of a re-seed (the unanswered one again, if any): up to `max_items`
    /// records whose value here differs from the server's, at a version above both, with
    /// the next head of the new chain. Records the server has and this device never knew
    /// are left as they are. `None` when nothing is left to write.
    pub fn prepare_reseed(
        &mut self,
        vault: &UnlockedVault,
        survey: &mut Survey,
        max_items: usize,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if let Some(again) = self.resend() {
            return Ok(Some(again));
        }
        let keys = vault.head_keys();
        let mut sent = Vec::new();
        let mut digest = survey.digest;
        for (id, replica) in &self.records {
            if batch_full(&sent, max_items) {
                break;
            }
            if survey.written.contains(id) {
                continue;
            }
            if replica.pending.is_none() && replica.away() {
                return Err(SyncError::ValuesAway);
            }
            let mine = replica.view().cloned();
            let server = survey.records.get(id);
            let theirs = server.and_then(|s| s.value.clone());
            if mine == theirs {
                continue;
            }
            let base = server.map_or(0, |s| s.version);
            let version = base.max(replica.max_seen).max(replica.base_version()) + 1;
            let write = Sent::seal(vault, &keys, *id, (base, version), mine, entropy)?;
            toggle(&mut digest, server.and_then(|s| s.leaf.as_ref()));
            toggle(&mut digest, write.leaf());
            sent.push(write);
        }
        if sent.is_empty() && survey.started {
            return Ok(None);
        }
        // The first push starts the new chain, even with nothing to write: devices that
        // saw more than the server must see a head newer than theirs.
        let device = self.device(entropy)?;
        let chain = self.head.pinned.as_ref().map_or(0, |h| h.head().chain);
        let head = if survey.started {
            Head::after(survey.head.as_ref(), vault.vault_id(), device)
        } else {
            Head::new_chain(
                survey.head.as_ref(),
                survey.head_seq,
                chain,
                vault.vault_id(),
                device,
            )
        };
        self.start(keys.seal(head, &digest), digest, sent)
    }

    /// The answer to a re-seed push: it must have landed whole.
    pub fn apply_reseed(
        &mut self,
        survey: &mut Survey,
        response: &PushResponse,
    ) -> Result<(), SyncError> {
        let in_flight = self.in_flight.take().ok_or(SyncError::BadAnswer {
            reason: "a push answer without a push",
        })?;
        let landed = response.results.len() == in_flight.sent().len()
            && response
                .results
                .iter()
                .all(|r| matches!(r, PushResult::Applied { .. }));
        if !landed {
            return Err(SyncError::BadAnswer {
                reason: "a re-seed push that did not land whole",
            });
        }
        for write in in_flight.sent() {
            survey.written.insert(write.record_id());
            survey.records.insert(write.record_id(), write.synced());
        }
        survey.head_seq = in_flight.head().head().seq;
        survey.digest = *in_flight.digest();
        survey.head = Some(in_flight.head().clone());
        survey.started = true;
        Ok(())
    }

    /// The re-seed is complete: its last head is pinned and the next pull, a full one,
    /// rebuilds the replica from the server, checked against it.
    pub fn finish_reseed(&mut self, survey: Survey) {
        if let Some(head) = survey.head {
            let digest = self.head.digest;
            self.pin_head(head, digest); // the full pull that follows recomputes the digest
        }
        self.head.server_behind = false;
        self.in_flight = None;
        self.start_resync();
    }

    /// Forgets a push that will not be answered usefully (a re-seed another device beat):
    /// its edits were not taken from the replica, which is unchanged.
    pub fn abandon_push(&mut self) {
        self.in_flight = None;
    }
}
