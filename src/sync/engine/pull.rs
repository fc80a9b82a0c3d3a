//! Pulls (PROTOCOL.md, "Reading a head"): pages of changes are opened and staged, and
//! applied together once the vault head on the last page checks out against this device's
//! own set digest. Until then nothing local changes; a failed check retries once as a full
//! pull, and if that fails too, the sync stops with a typed error and nothing changed.

use std::collections::{BTreeMap, BTreeSet};

use vaultsync_wire::ChangesResponse;

use super::Engine;
use super::head::{Order, order, parse_head, toggle};
use crate::crypto::head::{HeadKeys, SealedHead, SetDigest};
use crate::crypto::{RecordId, UnlockedVault};
use crate::sync::error::SyncError;
use crate::sync::event::Event;
use crate::sync::merge::Resolve;
use crate::sync::replica::{Synced, reconcile};

/// How a pull's result is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Changes after the cursor, on top of the verified base.
    Incremental,
    /// Everything from cursor 0, verified by the head: it replaces the base, and what it
    /// does not list is gone.
    Verified,
    /// Everything from cursor 0 where the server's word alone cannot delete: another
    /// device re-seeded the server (a new chain), this device has no head yet but has
    /// records, or its saved state predates heads. Local records the server lacks, or
    /// holds in an older or different form, are kept as edits and pushed again.
    Union,
}

/// A pull under way.
#[derive(Clone, PartialEq)]
pub(crate) struct Pull {
    pub(super) mode: Mode,
    /// Where the next page starts.
    cursor: u64,
    pub(super) staged: BTreeMap<RecordId, Synced>,
    /// The check that failed on the first attempt of this sync (now retried in full).
    retrying: Option<SyncError>,
    /// Records a held mass deletion keeps in view whose values are away: loaded
    /// (`needs_loading`) before the pull, asked again from its last cursor, is applied.
    pub(super) wants: Vec<RecordId>,
}

impl Pull {
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }
}

impl Engine {
    /// The server answered `RESYNC_REQUIRED` (it purged tombstones this device has not
    /// seen): the next pull is a full one. Pending edits are kept; what the pull does not
    /// list is removed only if the vault head vouches for the list.
    pub fn start_resync(&mut self) {
        self.resync = true;
        self.pull = None;
    }

    /// Whether the next pull, or the one under way, starts from cursor 0 (it may need any
    /// record's value).
    pub(crate) fn full_pull_ahead(&self) -> bool {
        match &self.pull {
            Some(pull) => pull.mode != Mode::Incremental,
            None => self.cursor() == 0,
        }
    }

    /// Whether the next pull, or the one under way, is a full one.
    pub fn resyncing(&self) -> bool {
        self.cursor() == 0 && (self.resync || self.pull.is_some())
    }

    /// Whether the pull under way (or the next) is a full one, from cursor 0.
    pub fn full_pull(&self) -> bool {
        match &self.pull {
            Some(pull) => pull.mode != Mode::Incremental,
            None => self.cursor() == 0,
        }
    }

    /// Whether a pull is under way (a page applied with more to come, or a failed check
    /// being retried in full).
    pub fn pulling(&self) -> bool {
        self.pull.is_some()
    }

    /// The mode of a pull that starts now.
    pub(super) fn new_pull(&self, retrying: Option<SyncError>, union: bool) -> Pull {
        let full = self.resync || retrying.is_some() || union || !self.leaves_known();
        let has_records = self.records.values().any(|r| r.synced.is_some());
        let mode =
            if union || !self.leaves_known() || (full && self.head.pinned.is_none() && has_records)
            {
                Mode::Union
            } else if full || self.cursor == 0 {
                Mode::Verified
            } else {
                Mode::Incremental
            };
        Pull {
            mode,
            cursor: if mode == Mode::Incremental {
                self.cursor
            } else {
                0
            },
            staged: BTreeMap::new(),
            retrying,
            wants: Vec::new(),
        }
    }

    /// Applies one page of changes (asked from [`Engine::cursor`]). Pages are checked
    /// (cursor order, authentication of every record) and staged; the last one (`more`
    /// false) carries the vault head, and only if it checks out against the set of
    /// records the pull leads to is anything applied. Events come with the last page.
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
        let pull = match self.pull.take() {
            Some(pull) => pull,
            None => self.new_pull(None, false),
        };
        let keys = vault.head_keys();
        let staged = self.stage(vault, &keys, pull, page);
        self.preopened.clear();
        let pull = staged?;
        if page.more {
            self.pull = Some(pull);
            return Ok(Vec::new());
        }
        let retrying = pull.retrying.clone();
        match self.finish(&keys, pull, page, resolver) {
            Ok(Some(mut events)) => {
                if let Some(first) = retrying {
                    events.push(Event::Integrity {
                        code: first.code(),
                        recovered: true,
                    });
                }
                Ok(events)
            }
            // Pulled again in full (a new chain), or from the last cursor once values a
            // held deletion keeps are loaded: the caller keeps pulling.
            Ok(None) => Ok(Vec::new()),
            Err(e) if retrying.is_none() && is_head_check(&e) => {
                // Nothing applied; try once more from cursor 0 (a change moved below this
                // device's cursor is found that way), then give up.
                self.pull = Some(self.new_pull(Some(e), false));
                Ok(Vec::new())
            }
            Err(e) => {
                if matches!(e, SyncError::HeadRollback { .. }) {
                    self.head.server_behind = true;
                }
                Err(e)
            }
        }
    }

    /// Checks and stages one page.
    fn stage(
        &self,
        vault: &UnlockedVault,
        keys: &HeadKeys,
        mut pull: Pull,
        page: &ChangesResponse,
    ) -> Result<Pull, SyncError> {
        let bad = |reason| SyncError::BadAnswer { reason };
        let mut last = pull.cursor;
        for change in &page.changes {
            if change.cursor <= last {
                return Err(bad("changes out of cursor order"));
            }
            last = change.cursor;
            // Versions first (a rollback is told apart from a forgery), then authenticity.
            match pull.staged.get(&change.record_id) {
                // A later page's copy is newer, unless it is lower and the earlier one is
                // live (a record created again after its purged tombstone is fine: the
                // head decides).
                Some(before) if change.version <= before.version && before.value.is_some() => {
                    return Err(SyncError::Rollback {
                        record_id: change.record_id,
                        seen: before.version,
                        got: change.version,
                    });
                }
                Some(_) => {}
                // Below a version seen: refused at once where no head could make it right
                // (an incremental pull cannot re-create a record this device holds live);
                // in a full pull, the head decides.
                None => {
                    let replica = self.records.get(&change.record_id);
                    let seen = replica.map_or(0, |r| r.max_seen);
                    let live_here = replica.is_some_and(|r| r.synced_live());
                    if change.version < seen && pull.mode == Mode::Incremental && live_here {
                        return Err(SyncError::Rollback {
                            record_id: change.record_id,
                            seen,
                            got: change.version,
                        });
                    }
                }
            }
            let remote = self.open_record(vault, keys, change)?;
            pull.staged.insert(change.record_id, remote);
        }
        let cursor_ok = if page.more {
            !page.changes.is_empty() && page.cursor == last
        } else {
            page.cursor >= last
        };
        if !cursor_ok {
            return Err(bad("a page cursor that is not its last change's"));
        }
        pull.cursor = page.cursor;
        Ok(pull)
    }

    /// The last page: the head checked, then everything applied (`None`: pulled again in
    /// full as a union, another device having re-seeded the server).
    fn finish(
        &mut self,
        keys: &HeadKeys,
        pull: Pull,
        page: &ChangesResponse,
        resolver: &mut dyn Resolve,
    ) -> Result<Option<Vec<Event>>, SyncError> {
        let digest = self.digest_after(&pull);
        let head = match &page.head {
            Some(doc) => Some(parse_head(doc, self)?),
            None if self.head.pinned.is_some() => {
                // The server has no head any more: restored from before heads, or lying.
                return Err(SyncError::HeadRollback {
                    seen: self.head_seq(),
                    got: 0,
                });
            }
            None => None,
        };
        if let Some(head) = &head {
            // The order first: an older head is a rollback whatever records come with it.
            let order = order(self.head.pinned.as_ref(), head, self.me())?;
            if !keys.verify(head, &digest) {
                return Err(SyncError::Omission);
            }
            if order == Order::NewChain && pull.mode != Mode::Union {
                self.pull = Some(self.new_pull(None, true));
                return Ok(None);
            }
        }
        let hold = self.to_hold(&pull);
        let away = self.away_of(&hold);
        if !away.is_empty() {
            if !pull.wants.is_empty() {
                // Asked for and still not loaded: nothing is applied rather than a
                // record lost from view.
                return Err(SyncError::ValuesAway);
            }
            let mut pull = pull;
            pull.wants = away;
            self.pull = Some(pull);
            return Ok(None);
        }
        let mut events = self.commit(pull, page.cursor, head, digest, resolver, &hold);
        if !hold.is_empty() {
            events.push(Event::DeletionsHeld { count: hold.len() });
        }
        Ok(Some(events))
    }

    /// The set digest of the base once the pull is applied.
    fn digest_after(&self, pull: &Pull) -> SetDigest {
        let mut digest = match pull.mode {
            Mode::Incremental => self.head.digest,
            Mode::Verified | Mode::Union => SetDigest::default(),
        };
        for (id, remote) in &pull.staged {
            if pull.mode == Mode::Incremental {
                let base = self.records.get(id).and_then(|r| r.synced.as_ref());
                if base.is_some_and(|b| same_copy(b, remote)) {
                    continue; // already held (this device's own write coming back)
                }
                toggle(&mut digest, base.and_then(|b| b.leaf.as_ref()));
            }
            toggle(&mut digest, remote.leaf.as_ref());
        }
        digest
    }

    /// Applies a checked pull.
    fn commit(
        &mut self,
        pull: Pull,
        cursor: u64,
        head: Option<SealedHead>,
        digest: SetDigest,
        resolver: &mut dyn Resolve,
        hold: &BTreeSet<RecordId>,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let mut reuploaded = 0;
        let vouched = head.is_some();
        let changed: Option<Vec<RecordId>> =
            (pull.mode == Mode::Incremental).then(|| pull.staged.keys().copied().collect());
        for (id, replica) in &mut self.records {
            if pull.mode == Mode::Incremental || pull.staged.contains_key(id) {
                continue;
            }
            let Some(base) = replica.synced.take() else {
                continue;
            };
            if !base.is_live() {
                continue; // a tombstone the server purged
            }
            if pull.mode == Mode::Union {
                // The server lost it: pushed again from here (its value was loaded first:
                // `needs_loading` asks for every value before a full pull).
                debug_assert!(!base.away, "a full pull with values away");
                if let (None, Some(value)) = (&replica.pending, base.value) {
                    replica.pending = Some(Some(value));
                    reuploaded += 1;
                }
            } else if hold.contains(id) {
                replica.held = base.value; // a mass deletion: held (loaded first)
            } else if replica.pending.is_none() {
                // Gone with the head's word (its tombstone was purged).
                events.push(Event::Deleted { id: *id });
            }
        }
        for (id, remote) in pull.staged {
            let replica = self.records.entry(id).or_default();
            let base = replica.synced.clone();
            let kept = match hold.contains(&id) {
                true => replica.synced_value().cloned(),
                false => None,
            };
            if replica.held.is_some() && !base.as_ref().is_some_and(|b| same_copy(b, &remote)) {
                // A held record the server changed again: its new copy is what counts.
                replica.held = None;
                if !remote.is_live() {
                    events.push(Event::Deleted { id });
                }
            }
            let same = base
                .as_ref()
                .is_some_and(|b| !b.away && b.value == remote.value);
            match (pull.mode, base) {
                // The copy this device holds already (its own write coming back): kept
                // as it is once the device store has it, not written again.
                (_, Some(b)) if same_copy(&b, &remote) => {
                    if !b.stored {
                        replica.synced = Some(remote);
                    }
                }
                (Mode::Union, Some(_)) if same => {
                    replica.max_seen = remote.version;
                    replica.synced = Some(remote);
                }
                (Mode::Union, Some(b)) if remote.version <= replica.max_seen && !b.away => {
                    // Not provably newer than what this device had: its own value stays
                    // as an edit on top of the server's, merged field by field.
                    if replica.pending.is_none() {
                        replica.pending = Some(b.value);
                    }
                    replica.synced = None;
                    replica.max_seen = remote.version;
                    events.extend(reconcile(id, replica, remote, resolver, self.lend));
                }
                (_, base) => {
                    if base.is_some_and(|b| remote.version <= b.version) {
                        // Another copy at a version this device holds or passed: a record
                        // created again after its tombstone was purged (a new lineage).
                        // The head vouches for it (a pull without one takes it too, as the
                        // server's word is all there is): it replaces the base.
                        replica.synced = None;
                    }
                    if vouched && remote.version < replica.max_seen {
                        replica.max_seen = remote.version;
                    }
                    events.extend(reconcile(id, replica, remote, resolver, self.lend));
                }
            }
            if let Some(value) = kept {
                // A mass deletion: the tombstone is the base, the value stays in view.
                if events.last() == Some(&Event::Deleted { id }) {
                    events.pop();
                }
                replica.held = Some(value);
            }
        }
        // A full pull may change any record; an incremental one only those it brought.
        let ids: Vec<RecordId> = match &changed {
            Some(staged) => staged.clone(),
            None => self.records.keys().copied().collect(),
        };
        for id in ids {
            self.track(id);
        }
        if reuploaded > 0 {
            events.push(Event::Reuploaded { count: reuploaded });
        }
        match head {
            Some(head) => self.pin_head(head, digest),
            None => self.head.digest = digest,
        }
        self.cursor = cursor;
        self.resync = false;
        self.pull_first = false;
        // A push answered by no one: resent as is while the head has not moved (it did
        // not land), forgotten once it has (it landed and the pull brought its records,
        // or it can never land: its base seq is gone). Its edits are still pending.
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| f.base_seq() != self.head_seq())
        {
            self.in_flight = None;
        }
        events
    }
}

/// Whether the base already is this copy of the server's (same version and leaf, or the
/// same tombstone).
fn same_copy(base: &Synced, remote: &Synced) -> bool {
    base.version == remote.version && base.leaf == remote.leaf && base.is_live() == remote.is_live()
}

/// The refusals that a full pull may cure (a change moved below the cursor, a page
/// the server dropped by mistake).
fn is_head_check(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::Omission | SyncError::Fork { .. } | SyncError::HeadRollback { .. }
    )
}
