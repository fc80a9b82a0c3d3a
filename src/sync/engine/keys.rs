//! The engine's side of the envelope and of key rotation: pinning the envelope this
//! device unlocked, adopting a newer one (refused if older, weaker, of another vault or
//! undoing a rotation), and re-sealing records under the current key.

use vaultsync_wire::PushRequest;

use super::Engine;
use super::sent::{Sent, batch_full};
use crate::crypto::rand::Entropy;
use crate::crypto::{Envelope, EnvelopeChange, UnlockedVault};
use crate::sync::error::SyncError;
use crate::sync::event::Event;

impl Engine {
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
        let held = vault.envelope();
        if doc.envelope.as_bytes() == held.to_bytes().as_slice() {
            // The same envelope under a new version number: nothing changed.
            self.envelope_version = doc.version;
            return Ok(None);
        }
        if doc.version == self.envelope_version {
            return Err(SyncError::Fork {
                reason: "another envelope under the same version or generation",
            });
        }
        let envelope =
            Envelope::parse(doc.envelope.as_bytes()).map_err(|_| SyncError::EnvelopeTampered)?;
        if envelope.vault_id() != vault.vault_id() {
            return Err(SyncError::EnvelopeTampered);
        }
        // Envelopes only go forward by content: an older one (a password change or a
        // rotation undone) replayed under a newer version number is refused, and so is
        // another envelope of the same generation (the server showing two histories).
        // The generation is under the MAC, checked when the envelope is adopted below.
        if envelope.generation() < held.generation() {
            return Err(SyncError::EnvelopeRollback {
                seen: held.generation(),
                got: envelope.generation(),
            });
        }
        if envelope.generation() == held.generation() {
            return Err(SyncError::Fork {
                reason: "another envelope under the same version or generation",
            });
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
    ) -> Result<EnvelopeChange, SyncError> {
        let change = vault
            .adopt_envelope(envelope)
            .map_err(|_| SyncError::EnvelopeTampered)?;
        self.envelope_version = version;
        self.kdf_floor = envelope.kdf_params().iterations();
        let current = vault.current_key_id();
        // Values the device store holds as the server sealed them, under a key this vault
        // no longer has, are stored again (under the state key) from memory.
        let held = vault.key_ids();
        for (id, replica) in &mut self.records {
            if let Some(s) = &mut replica.synced {
                if s.value.is_some() && !held.contains(&s.key_id) && s.stored {
                    s.stored = false;
                    self.touched.insert(*id);
                }
            }
        }
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| f.sent().iter().any(|s| s.key_id() != current))
        {
            self.in_flight = None;
        }
        Ok(change)
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
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Option<PushRequest>, SyncError> {
        self.check_vault(vault)?;
        if let Some(again) = self.resend() {
            return Ok(Some(again));
        }
        if !self.ready_to_push() {
            return Ok(None);
        }
        let keys = vault.head_keys();
        let current = vault.current_key_id();
        let mut sent = Vec::new();
        for (id, replica) in &self.records {
            if batch_full(&sent, max_items) {
                break;
            }
            if replica.pending.is_some() {
                continue;
            }
            let Some(synced) = replica.synced.as_ref().filter(|s| s.key_id != current) else {
                continue;
            };
            if synced.away {
                return Err(SyncError::ValuesAway);
            }
            let value = synced.value.clone();
            let versions = (synced.version, synced.version + 1);
            sent.push(Sent::seal(vault, &keys, *id, versions, value, entropy)?);
        }
        self.send(vault, &keys, sent, false, entropy)
    }
}
