//! The engine's pushes: pending edits sealed into a push with the vault head that follows
//! it (resent byte for byte until answered, so the server recognises a retry) and the
//! server's answer applied, checked whole first. A push lands whole or not at all.

use vaultsync_wire::{PushRequest, PushResponse, PushResult};

use super::Engine;
use super::head::toggle;
use super::sent::{InFlight, Sent, batch_full};
use crate::crypto::UnlockedVault;
use crate::crypto::head::{DeviceId, Head, HeadKeys, SealedHead, SetDigest};
use crate::crypto::rand::Entropy;
use crate::sync::error::SyncError;
use crate::sync::event::Event;

impl Engine {
    /// The next push: the unanswered one again (same bytes, so the server recognises a
    /// retry), or up to `max_items` pending edits sealed for their next version. `None`
    /// when there is nothing to push.
    pub fn prepare_push(
        &mut self,
        vault: &UnlockedVault,
        max_items: usize,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if let Some(again) = self.resend() {
            return Ok(Some(again));
        }
        if !self.ready_to_push() {
            return Ok(None); // pull first: a head is made on top of a verified base
        }
        let keys = vault.head_keys();
        let mut sent = Vec::new();
        let mut settled = Vec::new();
        for id in &self.dirty {
            if batch_full(&sent, max_items) {
                break;
            }
            let Some(replica) = self.records.get(id) else {
                continue;
            };
            let Some(pending) = &replica.pending else {
                continue;
            };
            if pending.is_none() && !replica.synced_live() {
                // Deleting what the server never had (or already deleted): nothing to send.
                settled.push(*id);
                continue;
            }
            let base = replica.base_version();
            let versions = (base, base + 1);
            sent.push(Sent::seal(
                vault,
                &keys,
                *id,
                versions,
                pending.clone(),
                entropy,
            )?);
        }
        for id in settled {
            if let Some(r) = self.records.get_mut(&id) {
                r.pending = None;
            }
            self.track(id);
        }
        self.send(vault, &keys, sent, false, entropy)
    }

    /// The vault's first head, pushed alone after a pull found none (a vault from before
    /// heads, or a new one), so that readers are protected before anyone writes. `None`
    /// when the vault has a head or a push is unanswered.
    pub fn prepare_head_push(
        &mut self,
        vault: &UnlockedVault,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if self.in_flight.is_some()
            || self.head.pinned.is_some()
            || self.pull.is_some()
            || self.resync
            || !self.leaves_known()
        {
            return Ok(None);
        }
        let keys = vault.head_keys();
        self.send(vault, &keys, Vec::new(), true, entropy)
    }

    /// The unanswered push again, byte for byte (with the envelope version pinned now).
    pub(super) fn resend(&self) -> Option<PushRequest> {
        let in_flight = self.in_flight.as_ref()?;
        Some(in_flight.request(self.envelope_version))
    }

    /// Makes `sent` the push in flight, with the head that follows the pinned one.
    pub(super) fn send(
        &mut self,
        vault: &UnlockedVault,
        keys: &HeadKeys,
        sent: Vec<Sent>,
        head_alone: bool,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Option<PushRequest>, SyncError> {
        if sent.is_empty() && !head_alone {
            return Ok(None);
        }
        let mut digest = self.head.digest;
        for s in &sent {
            let base = self
                .records
                .get(&s.record_id)
                .and_then(|r| r.synced.as_ref());
            toggle(&mut digest, base.and_then(|b| b.leaf.as_ref()));
            toggle(&mut digest, s.leaf.as_ref());
        }
        let device = self.device(entropy)?;
        let head = Head::after(self.head.pinned.as_ref(), vault.vault_id(), device);
        self.start(keys.seal(head, &digest), digest, sent)
    }

    /// Makes a push in flight, made on the pinned head.
    pub(super) fn start(
        &mut self,
        head: SealedHead,
        digest: SetDigest,
        sent: Vec<Sent>,
    ) -> Result<Option<PushRequest>, SyncError> {
        let in_flight = InFlight {
            base_seq: head.head().seq - 1,
            head,
            digest,
            sent,
        };
        let request = in_flight.request(self.envelope_version);
        self.in_flight = Some(in_flight);
        Ok(Some(request))
    }

    /// Whether a push may be made now: on top of a verified base, with no pull pending.
    pub(super) fn ready_to_push(&self) -> bool {
        self.pull.is_none() && !self.pull_first && !self.resync && self.leaves_known()
    }

    /// This device's id in heads, chosen now if it has none.
    pub(super) fn device(
        &mut self,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<DeviceId, SyncError> {
        if let Some(device) = self.head.device {
            return Ok(device);
        }
        let device = DeviceId::generate(entropy).map_err(SyncError::Random)?;
        self.head.device = Some(device);
        Ok(device)
    }

    /// Applies the server's answer to the push from [`Engine::prepare_push`]. Checks the
    /// whole answer first: on any error nothing changes and the push stays unanswered. A
    /// push lands whole (the records and the head it carried become the base) or not at
    /// all (then the next pull, checked against the server's head, comes before another
    /// push). Returns no events: nothing of another device's is applied here.
    pub fn apply_push(
        &mut self,
        vault: &UnlockedVault,
        response: &PushResponse,
    ) -> Result<Vec<Event>, SyncError> {
        self.check_vault(vault)?;
        let in_flight = self.in_flight.as_ref().ok_or(SyncError::BadAnswer {
            reason: "a push answer without a push",
        })?;
        let sent = &in_flight.sent;
        if sent.len() != response.results.len() {
            return Err(SyncError::BadAnswer {
                reason: "a push answer with another number of results",
            });
        }
        let landed = response
            .results
            .iter()
            .all(|r| matches!(r, PushResult::Applied { .. }));
        // Validate every result before changing anything.
        let mut outcomes = Vec::with_capacity(sent.len());
        for (item, result) in sent.iter().zip(&response.results) {
            let outcome = match result {
                PushResult::Applied {
                    record_id, version, ..
                } => {
                    if *record_id != item.record_id || *version != item.version || !landed {
                        return Err(SyncError::BadAnswer {
                            reason: "an applied result that does not match the write",
                        });
                    }
                    Outcome::Applied
                }
                PushResult::Skipped { record_id } if *record_id == item.record_id => {
                    Outcome::Skipped
                }
                PushResult::Conflict { record_id, current } if *record_id == item.record_id => {
                    match current {
                        Some(record) => {
                            if record.record_id != item.record_id
                                || record.version == item.base_version
                            {
                                return Err(SyncError::BadAnswer {
                                    reason: "a conflict whose copy is not newer",
                                });
                            }
                            if record.version < item.base_version {
                                return Err(SyncError::Rollback {
                                    record_id: item.record_id,
                                    seen: item.base_version,
                                    got: record.version,
                                });
                            }
                            Outcome::Newer
                        }
                        None if item.base_version > 0 => Outcome::Gone,
                        None => {
                            return Err(SyncError::BadAnswer {
                                reason: "a create refused without a current copy",
                            });
                        }
                    }
                }
                PushResult::Skipped { .. } | PushResult::Conflict { .. } => {
                    return Err(SyncError::BadAnswer {
                        reason: "a result for another record",
                    });
                }
            };
            outcomes.push(outcome);
        }
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(Vec::new());
        };
        if !landed {
            // Nothing was written. The server's newer copies come with the next pull,
            // checked against its head, before this device pushes again; a record whose
            // tombstone the server purged is created afresh.
            for (item, outcome) in in_flight.sent.iter().zip(outcomes) {
                self.touched.insert(item.record_id);
                let replica = self.records.entry(item.record_id).or_default();
                match outcome {
                    Outcome::Gone if !replica.synced_live() => replica.synced = None,
                    Outcome::Gone | Outcome::Newer => self.pull_first = true,
                    Outcome::Applied | Outcome::Skipped => {}
                }
            }
            return Ok(Vec::new());
        }
        for item in in_flight.sent {
            let id = item.record_id;
            let replica = self.records.entry(id).or_default();
            replica.synced = Some(item.synced());
            replica.max_seen = if item.base_version == 0 {
                // Created (again, after a purged tombstone): a new lineage.
                item.version
            } else {
                replica.max_seen.max(item.version)
            };
            if replica.pending.as_ref() == Some(&item.value) {
                replica.pending = None;
            }
            self.track(id);
        }
        self.pin_head(in_flight.head, in_flight.digest);
        Ok(Vec::new())
    }
}

/// A validated push result.
enum Outcome {
    Applied,
    Skipped,
    /// The server has a newer copy.
    Newer,
    /// The server has no copy.
    Gone,
}
