//! The engine's pushes: pending edits sealed into a push (resent byte for byte until
//! answered, so the server recognises a retry) and the server's answer applied, checked
//! whole first.

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};
use vaultsync_wire::{Blob, PushItem, PushRequest, PushResponse, PushResult};

use super::{Engine, key_id_of};
use crate::crypto::rand::Entropy;
use crate::crypto::{RecordId, RecordMeta, UnlockedVault};
use crate::sync::error::SyncError;
use crate::sync::event::Event;
use crate::sync::forms::{get_exact, put_exact};
use crate::sync::merge::Resolve;
use crate::sync::replica::{Synced, reconcile};

/// A write sent and not yet answered: resent byte for byte until answered, so that the
/// server recognises a retry.
#[derive(Clone, PartialEq)]
pub(super) struct Sent {
    record_id: RecordId,
    base_version: u64,
    value: Option<Value>,
    ciphertext: Blob,
}

impl FromJson for Sent {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        Ok(Self {
            record_id: field(o, "record_id")?,
            base_version: field(o, "base_version")?,
            value: get_exact(o, "value"),
            ciphertext: field(o, "ciphertext")?,
        })
    }
}

impl ToJson for Sent {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "record_id", &self.record_id);
        put(&mut o, "base_version", &self.base_version);
        put_exact(&mut o, "value", &self.value);
        put(&mut o, "ciphertext", &self.ciphertext);
        Some(Value::Object(o))
    }
}

impl Sent {
    /// Seals `value` (`None`: a tombstone) as the write of `record_id` from
    /// `base_version`.
    pub(super) fn seal(
        vault: &UnlockedVault,
        record_id: RecordId,
        base_version: u64,
        value: Option<Value>,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, SyncError> {
        let meta = RecordMeta::new(record_id, base_version + 1, value.is_none())?;
        let plaintext = match &value {
            Some(value) => vaultsync_wire::json::write(value),
            None => Vec::new(),
        };
        let ciphertext = Blob(vault.seal(&meta, &plaintext, entropy)?);
        Ok(Self {
            record_id,
            base_version,
            value,
            ciphertext,
        })
    }

    /// The key id the write is sealed under.
    pub(super) fn key_id(&self) -> u32 {
        key_id_of(self.ciphertext.as_bytes())
    }
}

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
            let base = replica.base_version();
            sent.push(Sent::seal(vault, *id, base, pending.clone(), entropy)?);
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
    pub(super) fn resend(&self) -> Option<PushRequest> {
        let sent = self.in_flight.as_ref()?;
        Some(request_of(sent, self.envelope_version))
    }

    /// Makes `sent` the push in flight.
    pub(super) fn send(&mut self, sent: Vec<Sent>) -> Option<PushRequest> {
        if sent.is_empty() {
            return None;
        }
        let request = request_of(&sent, self.envelope_version);
        self.in_flight = Some(sent);
        Some(request)
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
}

/// A validated push result.
enum Outcome {
    Applied(u64),
    Remote(Synced),
    Gone,
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
