//! The unlocked vault: creating a vault, changing its password, recovering it, and rotating
//! and retiring its keys. Each change produces a new [`Envelope`] (layout in `FORMAT.md`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::envelope::{
    CHECK_LEN, Envelope, FIRST_KEY_ID, KEYRING_ENTRY_LEN, MAX_KEYS, NONCE_LEN, SealedKeyring,
    envelope_mac, keyring_ad, password_slot_ad, recovery_keys, recovery_slot_ad, seal_slot,
};
use super::error::{KeyringError, RandomError, UnlockError};
use super::ids::{GenerateId, VaultId};
use super::kdf::{KdfParams, derive_master};
use super::rand::{Entropy, random_array};
use super::recovery::RecoveryCode;
use super::secret::{MasterKey, Password, RootKey, StateKey};

/// An unlocked vault: the root key and every vault key, in memory only. It seals and opens
/// records (see [`super::record`]) and produces new envelopes for password change and key
/// rotation. Nothing in it is ever serialized in the clear.
pub struct UnlockedVault {
    pub(super) envelope: Envelope,
    pub(super) root: RootKey,
    pub(crate) keyring: super::record::Keyring,
}

impl core::fmt::Debug for UnlockedVault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnlockedVault")
            .field("vault_id", &self.envelope.vault_id)
            .field("current_key_id", &self.keyring.current_key_id())
            .finish_non_exhaustive()
    }
}

/// What a newer envelope changed (see [`UnlockedVault::adopt_envelope`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EnvelopeChange {
    /// The password slot changed: the next unlock needs the new password.
    pub password: bool,
    /// The keyring changed (a rotation started or a key was retired).
    pub keys: bool,
}

/// A new vault: the unlocked vault, its first envelope and the recovery code to show once.
#[derive(Debug)]
pub struct NewVault {
    /// The unlocked vault.
    pub vault: UnlockedVault,
    /// The envelope to store and upload.
    pub envelope: Envelope,
    /// The recovery code: show it to the user once, never store it.
    pub recovery_code: RecoveryCode,
}

impl UnlockedVault {
    /// Creates a vault: random vault id, root key, first vault key and recovery code.
    /// `iterations` is usually [`kdf::DEFAULT_ITERATIONS`].
    pub fn create(
        password: &Password,
        iterations: u32,
        entropy: &mut impl Entropy,
    ) -> Result<NewVault, UnlockError> {
        let kdf = KdfParams::generate(iterations, entropy)?;
        let master = derive_master(password, &kdf);
        Self::create_with_master(&master, kdf, entropy)
    }

    /// As [`UnlockedVault::create`], with the PBKDF2 output for `kdf` computed by the caller.
    pub fn create_with_master(
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut impl Entropy,
    ) -> Result<NewVault, UnlockError> {
        let vault_id = VaultId::generate(entropy)?;
        let root = RootKey::from_bytes(*Zeroizing::new(random_array(entropy)?));
        let first = super::secret::VaultKey::from_bytes(*Zeroizing::new(random_array(entropy)?));
        let recovery_code = RecoveryCode::generate(entropy)?;
        let ad = password_slot_ad(&vault_id, &kdf);
        let password = seal_slot(&master.check_key(), &master.kek(), &ad, &root, entropy)?;
        let (rc_check, rc_kek) = recovery_keys(&recovery_code, &vault_id);
        let recovery = seal_slot(
            &rc_check,
            &rc_kek,
            &recovery_slot_ad(&vault_id),
            &root,
            entropy,
        )?;
        let keyring =
            super::record::Keyring::new(vault_id, FIRST_KEY_ID, vec![(FIRST_KEY_ID, first)]);
        let mut vault = UnlockedVault {
            envelope: Envelope {
                vault_id,
                kdf,
                password,
                recovery,
                keyring: SealedKeyring {
                    current_key_id: FIRST_KEY_ID,
                    nonce: [0; NONCE_LEN],
                    ciphertext: Vec::new(),
                },
                mac: [0; CHECK_LEN],
            },
            root,
            keyring,
        };
        vault.reseal_keyring(entropy)?;
        Ok(NewVault {
            envelope: vault.envelope.clone(),
            vault,
            recovery_code,
        })
    }

    /// The vault id.
    pub fn vault_id(&self) -> VaultId {
        self.envelope.vault_id
    }

    /// The envelope as it stands after the latest change.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The key used for the engine's exported state (separate from every record key).
    pub fn state_key(&self) -> StateKey {
        self.root.state_key()
    }

    /// Adopts a newer envelope of this vault, written by another device (a password change,
    /// a key rotation): it must carry this vault's id and authenticate under this vault's
    /// root key (its MAC), so a substituted envelope is refused (`Tampered`). Its keyring
    /// replaces this one. Says what changed.
    pub fn adopt_envelope(&mut self, envelope: &Envelope) -> Result<EnvelopeChange, UnlockError> {
        if envelope.vault_id != self.envelope.vault_id {
            return Err(UnlockError::Tampered);
        }
        let keyring = envelope.open_keyring_with(&self.root)?;
        let change = EnvelopeChange {
            password: envelope.kdf != self.envelope.kdf
                || envelope.password != self.envelope.password,
            keys: keyring.key_ids() != self.keyring.key_ids()
                || keyring.current_key_id() != self.keyring.current_key_id(),
        };
        self.envelope = envelope.clone();
        self.keyring = keyring;
        Ok(change)
    }

    /// Re-wraps the root key under a new password with a fresh salt. Records, the recovery
    /// slot and the keyring are untouched. Returns the new envelope.
    pub fn change_password(
        &mut self,
        new_password: &Password,
        iterations: u32,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, UnlockError> {
        let kdf = KdfParams::generate(iterations, entropy)?;
        let master = derive_master(new_password, &kdf);
        self.change_password_with_master(&master, kdf, entropy)
    }

    /// As [`UnlockedVault::change_password`], with the PBKDF2 output computed by the caller.
    pub fn change_password_with_master(
        &mut self,
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, UnlockError> {
        let ad = password_slot_ad(&self.envelope.vault_id, &kdf);
        let slot = seal_slot(&master.check_key(), &master.kek(), &ad, &self.root, entropy)?;
        self.envelope.kdf = kdf;
        self.envelope.password = slot;
        self.refresh_mac();
        Ok(self.envelope.clone())
    }

    /// Starts a key rotation: adds a fresh vault key with the next key id and makes it
    /// current. Records sealed under older keys stay readable; re-seal them (see
    /// [`UnlockedVault::needs_reseal`]) and then [`UnlockedVault::retire_key`] the old ones.
    /// Returns the new key id; the new envelope is [`UnlockedVault::envelope`].
    pub fn rotate(&mut self, entropy: &mut impl Entropy) -> Result<u32, KeyringError> {
        if self.keyring.len() >= MAX_KEYS {
            return Err(KeyringError::Full);
        }
        let next = self
            .keyring
            .max_key_id()
            .checked_add(1)
            .ok_or(KeyringError::Full)?;
        let key = super::secret::VaultKey::from_bytes(*Zeroizing::new(random_array(entropy)?));
        let previous = self.keyring.current_key_id();
        self.keyring.insert(next, key);
        self.keyring.set_current(next);
        if let Err(e) = self.reseal_keyring(entropy) {
            // Put the keyring back as it was: nothing half-done survives a failure.
            self.keyring.set_current(previous);
            self.keyring.remove(next);
            return Err(e.into());
        }
        Ok(next)
    }

    /// Removes a key that no record uses any more. The current key cannot be retired.
    pub fn retire_key(
        &mut self,
        key_id: u32,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, KeyringError> {
        if key_id == self.keyring.current_key_id() {
            return Err(KeyringError::CurrentKey);
        }
        let removed = self
            .keyring
            .remove(key_id)
            .ok_or(KeyringError::NoSuchKey { key_id })?;
        if let Err(e) = self.reseal_keyring(entropy) {
            self.keyring.insert(key_id, removed);
            return Err(e.into());
        }
        Ok(self.envelope.clone())
    }

    /// The envelope a password change would produce, without changing this vault: a
    /// client uploads it and [`UnlockedVault::adopt_envelope`]s it once the server has
    /// stored it, so a refused or unanswered upload leaves the vault as it was.
    pub fn propose_password(
        &mut self,
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, UnlockError> {
        let before = self.envelope.clone();
        let proposed = self.change_password_with_master(master, kdf, entropy);
        self.envelope = before;
        proposed
    }

    /// The envelope that starts a key rotation (see [`UnlockedVault::rotate`]), without
    /// changing this vault (see [`UnlockedVault::propose_password`]).
    pub fn propose_rotation(
        &mut self,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, KeyringError> {
        let before = self.envelope.clone();
        let previous = self.keyring.current_key_id();
        let next = self.rotate(entropy)?;
        let proposed = self.envelope.clone();
        self.keyring.set_current(previous);
        self.keyring.remove(next);
        self.envelope = before;
        Ok(proposed)
    }

    /// The envelope that ends a key rotation: every key but the current one retired,
    /// without changing this vault (see [`UnlockedVault::propose_password`]). Only once no
    /// record is sealed under an old key (see `Engine::reseal_count`).
    pub fn propose_retirement(
        &mut self,
        entropy: &mut impl Entropy,
    ) -> Result<Envelope, KeyringError> {
        let before = self.envelope.clone();
        let removed: Vec<(u32, super::secret::VaultKey)> = self
            .old_key_ids()
            .into_iter()
            .filter_map(|id| self.keyring.remove(id).map(|key| (id, key)))
            .collect();
        let resealed = self.reseal_keyring(entropy);
        let proposed = self.envelope.clone();
        for (id, key) in removed {
            self.keyring.insert(id, key);
        }
        self.envelope = before;
        resealed?;
        Ok(proposed)
    }

    /// Key ids other than the current one: a rotation is under way while there are any.
    pub fn old_key_ids(&self) -> Vec<u32> {
        let current = self.keyring.current_key_id();
        self.keyring
            .key_ids()
            .into_iter()
            .filter(|id| *id != current)
            .collect()
    }

    fn reseal_keyring(&mut self, entropy: &mut impl Entropy) -> Result<(), RandomError> {
        let nonce: [u8; NONCE_LEN] = random_array(entropy)?;
        let current = self.keyring.current_key_id();
        let mut plain = Zeroizing::new(Vec::with_capacity(
            1 + self.keyring.len() * KEYRING_ENTRY_LEN,
        ));
        // The keyring never holds more than MAX_KEYS (16) entries.
        plain.push(self.keyring.len() as u8);
        for (id, key) in self.keyring.keys() {
            plain.extend_from_slice(&id.to_be_bytes());
            plain.extend_from_slice(key.expose());
        }
        let ad = keyring_ad(&self.envelope.vault_id, current);
        let cipher = Aes256Gcm::new(self.root.keyring_key().expose().into());
        // AES-GCM encryption of under 1 KiB cannot fail.
        #[allow(clippy::expect_used)]
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &ad,
                },
            )
            .expect("AES-GCM encrypts a keyring");
        self.envelope.keyring = SealedKeyring {
            current_key_id: current,
            nonce,
            ciphertext,
        };
        self.refresh_mac();
        Ok(())
    }

    fn refresh_mac(&mut self) {
        self.envelope.mac = envelope_mac(&self.root, &self.envelope.body_bytes());
    }
}

/// Recovers a vault with its recovery code and sets a new password: returns the unlocked
/// vault and the new envelope to upload. The recovery code stays valid.
pub fn recover(
    envelope: &Envelope,
    code: &RecoveryCode,
    new_password: &Password,
    iterations: u32,
    entropy: &mut impl Entropy,
) -> Result<(UnlockedVault, Envelope), UnlockError> {
    let mut vault = envelope.unlock_with_recovery_code(code)?;
    let envelope = vault.change_password(new_password, iterations, entropy)?;
    Ok((vault, envelope))
}
