//! The unlocked vault: unlocking an envelope, creating a vault, sealing and opening its
//! records, changing its password, recovering it, and rotating and retiring its keys. Each
//! change produces a new [`Envelope`] (layout in `FORMAT.md`).

use zeroize::Zeroizing;

use crate::envelope::Envelope;
use crate::error::{KeyringError, RecordError, UnlockError};
use crate::head::HeadKeys;
use crate::ids::{GenerateId, VaultId};
use crate::kdf::{KdfParams, derive_master};
use crate::keyring::{FIRST_KEY_ID, Keyring, MAX_KEYS};
use crate::rand::{Entropy, random_array};
use crate::record::{self, RecordMeta, SealedRecord};
use crate::recovery::RecoveryCode;
use crate::secret::{MasterKey, Password, RootKey, StateKey, VaultKey};

/// An unlocked vault: the root key and every vault key, in memory only. It seals and opens
/// records and produces new envelopes for password change and key rotation. Nothing in it
/// is ever serialized in the clear.
pub struct UnlockedVault {
    envelope: Envelope,
    root: RootKey,
    keyring: Keyring,
}

impl core::fmt::Debug for UnlockedVault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnlockedVault")
            .field("vault_id", &self.envelope.vault_id())
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

impl Envelope {
    /// Unlocks with a password: PBKDF2 (slow), then [`Envelope::unlock_with_master`].
    pub fn unlock(&self, password: &Password) -> Result<UnlockedVault, UnlockError> {
        self.unlock_with_master(&derive_master(password, self.kdf_params()))
    }

    /// Unlocks with the PBKDF2 output for this envelope's KDF parameters, computed by the
    /// caller (for instance with WebCrypto in a browser).
    #[inline(never)]
    pub fn unlock_with_master(&self, master: &MasterKey) -> Result<UnlockedVault, UnlockError> {
        let root = self.open_password_slot(master)?;
        UnlockedVault::from_root(self.clone(), root)
    }

    /// Unlocks with the recovery code. Follow with [`UnlockedVault::change_password`] to
    /// set a new password (or use [`recover`]).
    #[inline(never)]
    pub fn unlock_with_recovery_code(
        &self,
        code: &RecoveryCode,
    ) -> Result<UnlockedVault, UnlockError> {
        let root = self.open_recovery_slot(code)?;
        UnlockedVault::from_root(self.clone(), root)
    }
}

impl UnlockedVault {
    /// The vault of `envelope` once a slot gave its root key: the MAC and the keyring are
    /// checked here. A keyring that authenticates but does not parse can only come from a
    /// broken or hostile writer that holds the root key: `Tampered` (FORMAT.md, step 5).
    #[inline(never)]
    pub(crate) fn from_root(envelope: Envelope, root: RootKey) -> Result<Self, UnlockError> {
        let keyring = open_keyring(&envelope, &root)?;
        Ok(Self {
            envelope,
            root,
            keyring,
        })
    }

    /// Forgets every key now (a lock): the root key and the vault keys are zeroized, and
    /// the vault opens and seals nothing afterwards (`UNKNOWN_KEY`).
    pub fn forget_keys(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.root);
        self.keyring.forget();
    }

    /// The bytes of vault key `key_id`, for the platform's AES-GCM (the npm package opens
    /// large records with WebCrypto, many times faster than AES in WASM). Named `danger_`:
    /// import it as a non-extractable key, for decryption only, and zeroize the copy.
    pub fn danger_vault_key(&self, key_id: u32) -> Option<Zeroizing<[u8; crate::secret::KEY_LEN]>> {
        self.keyring
            .key(key_id)
            .map(|k| Zeroizing::new(*k.expose()))
    }

    /// The root key, for the session slot (`store.rs`).
    pub(crate) fn root_key(&self) -> &RootKey {
        &self.root
    }

    /// Creates a vault: random vault id, root key, first vault key and recovery code.
    /// `iterations` is usually [`crate::kdf::DEFAULT_ITERATIONS`].
    pub fn create(
        password: &Password,
        iterations: u32,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<NewVault, UnlockError> {
        let kdf = KdfParams::generate(iterations, entropy)?;
        let master = derive_master(password, &kdf);
        Self::create_with_master(&master, kdf, entropy)
    }

    /// As [`UnlockedVault::create`], with the PBKDF2 output for `kdf` computed by the caller.
    #[inline(never)]
    pub fn create_with_master(
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<NewVault, UnlockError> {
        let vault_id = VaultId::generate(entropy)?;
        let root = RootKey::from_bytes(*Zeroizing::new(random_array(entropy)?));
        let first = VaultKey::from_bytes(*Zeroizing::new(random_array(entropy)?));
        let recovery_code = RecoveryCode::generate(entropy)?;
        let keyring = Keyring::new(vault_id, FIRST_KEY_ID, vec![(FIRST_KEY_ID, first)]);
        let envelope = Envelope::create(
            vault_id,
            kdf,
            master,
            &recovery_code,
            &root,
            FIRST_KEY_ID,
            &keyring.to_plaintext(),
            entropy,
        )?;
        Ok(NewVault {
            envelope: envelope.clone(),
            vault: Self {
                envelope,
                root,
                keyring,
            },
            recovery_code,
        })
    }

    /// The vault id.
    pub fn vault_id(&self) -> VaultId {
        self.envelope.vault_id()
    }

    /// The envelope as it stands after the latest change.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The keys of the vault head's leaves and tags (FORMAT.md, "Vault head").
    pub fn head_keys(&self) -> HeadKeys {
        HeadKeys::new(self.root.leaf_key(), self.root.head_key())
    }

    /// The key that seals the sync engine's saved state.
    pub fn state_key(&self) -> StateKey {
        self.root.state_key()
    }

    /// Seals a record under the current key with a fresh random nonce (a tombstone's
    /// plaintext must be empty).
    pub fn seal(
        &self,
        meta: &RecordMeta,
        plaintext: &[u8],
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Vec<u8>, RecordError> {
        record::seal(&self.keyring, meta, plaintext, entropy)
    }

    /// Opens a sealed record, checking that it belongs to this vault and to `meta`.
    pub fn open(&self, meta: &RecordMeta, sealed: &[u8]) -> Result<Vec<u8>, RecordError> {
        record::open(&self.keyring, meta, sealed.to_vec())
    }

    /// [`UnlockedVault::open`] that decrypts in the caller's buffer (no copy).
    pub fn open_owned(&self, meta: &RecordMeta, sealed: Vec<u8>) -> Result<Vec<u8>, RecordError> {
        record::open(&self.keyring, meta, sealed)
    }

    /// True when a sealed record is under an older key and should be re-sealed (key rotation).
    pub fn needs_reseal(&self, sealed: &[u8]) -> Result<bool, RecordError> {
        Ok(SealedRecord::parse(sealed)?.key_id != self.keyring.current_key_id())
    }

    /// The id of the key new records are sealed under.
    pub fn current_key_id(&self) -> u32 {
        self.keyring.current_key_id()
    }

    /// Every key id in the keyring, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keyring.key_ids()
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

    /// Adopts a newer envelope of this vault, written by another device (a password change,
    /// a key rotation): it must carry this vault's id and authenticate under this vault's
    /// root key (its MAC), so a substituted envelope is refused (`Tampered`). Its keyring
    /// replaces this one. Says what changed.
    #[inline(never)]
    pub fn adopt_envelope(&mut self, envelope: &Envelope) -> Result<EnvelopeChange, UnlockError> {
        if envelope.vault_id() != self.envelope.vault_id() {
            return Err(UnlockError::Tampered);
        }
        let keyring = open_keyring(envelope, &self.root)?;
        let change = EnvelopeChange {
            password: envelope.password_differs(&self.envelope),
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
        entropy: &mut (impl Entropy + ?Sized),
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
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, UnlockError> {
        self.envelope = self.propose_password(master, kdf, entropy)?;
        Ok(self.envelope.clone())
    }

    /// The envelope a password change would produce, without changing this vault: a
    /// client uploads it and [`UnlockedVault::adopt_envelope`]s it once the server has
    /// stored it, so a refused or unanswered upload leaves the vault as it was.
    #[inline(never)]
    pub fn propose_password(
        &self,
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, UnlockError> {
        Ok(self
            .envelope
            .with_password(&self.root, master, kdf, entropy)?)
    }

    /// Starts a key rotation: adds a fresh vault key with the next key id and makes it
    /// current. Records sealed under older keys stay readable; re-seal them (see
    /// [`UnlockedVault::needs_reseal`]) and then [`UnlockedVault::retire_key`] the old ones.
    /// Returns the new key id; the new envelope is [`UnlockedVault::envelope`].
    pub fn rotate(&mut self, entropy: &mut (impl Entropy + ?Sized)) -> Result<u32, KeyringError> {
        let (next, keyring) = self.rotated_keyring(entropy)?;
        self.envelope = self.sealed_with(&keyring, entropy)?;
        self.keyring = keyring;
        Ok(next)
    }

    /// The envelope that starts a key rotation (see [`UnlockedVault::rotate`]), without
    /// changing this vault (see [`UnlockedVault::propose_password`]).
    pub fn propose_rotation(
        &self,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, KeyringError> {
        let (_, keyring) = self.rotated_keyring(entropy)?;
        self.sealed_with(&keyring, entropy)
    }

    /// Removes a key that no record uses any more. The current key cannot be retired.
    pub fn retire_key(
        &mut self,
        key_id: u32,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, KeyringError> {
        if key_id == self.keyring.current_key_id() {
            return Err(KeyringError::CurrentKey);
        }
        let keyring = self.keyring_without(&[key_id])?;
        self.envelope = self.sealed_with(&keyring, entropy)?;
        self.keyring = keyring;
        Ok(self.envelope.clone())
    }

    /// The envelope that ends a key rotation: every key but the current one retired,
    /// without changing this vault (see [`UnlockedVault::propose_password`]). Only once no
    /// record is sealed under an old key (see `Engine::reseal_count`).
    pub fn propose_retirement(
        &self,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, KeyringError> {
        let keyring = self.keyring_without(&self.old_key_ids())?;
        self.sealed_with(&keyring, entropy)
    }

    /// A copy of the keyring with a fresh key added as current; and its id.
    fn rotated_keyring(
        &self,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<(u32, Keyring), KeyringError> {
        if self.keyring.len() >= MAX_KEYS {
            return Err(KeyringError::Full { max: MAX_KEYS });
        }
        let next = self
            .keyring
            .max_key_id()
            .checked_add(1)
            .ok_or(KeyringError::Full { max: MAX_KEYS })?;
        let mut keyring = self.keyring_copy();
        keyring.insert(
            next,
            VaultKey::from_bytes(*Zeroizing::new(random_array(entropy)?)),
        );
        keyring.set_current(next);
        Ok((next, keyring))
    }

    /// A copy of the keyring without the keys `ids` (each must be there).
    fn keyring_without(&self, ids: &[u32]) -> Result<Keyring, KeyringError> {
        let mut keyring = self.keyring_copy();
        for &key_id in ids {
            keyring
                .remove(key_id)
                .ok_or(KeyringError::NoSuchKey { key_id })?;
        }
        Ok(keyring)
    }

    fn keyring_copy(&self) -> Keyring {
        let plain = self.keyring.to_plaintext();
        // The keyring's own plaintext always parses.
        #[allow(clippy::expect_used)]
        Keyring::from_plaintext(self.vault_id(), self.keyring.current_key_id(), &plain)
            .expect("a keyring's plaintext parses")
    }

    /// The current envelope with `keyring` sealed in it.
    #[inline(never)]
    fn sealed_with(
        &self,
        keyring: &Keyring,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Envelope, KeyringError> {
        Ok(self.envelope.with_keyring(
            &self.root,
            keyring.current_key_id(),
            &keyring.to_plaintext(),
            entropy,
        )?)
    }
}

/// Opens and parses the keyring of `envelope` under `root` (MAC and GCM checked first).
fn open_keyring(envelope: &Envelope, root: &RootKey) -> Result<Keyring, UnlockError> {
    let plain = envelope.open_keyring(root)?;
    Keyring::from_plaintext(envelope.vault_id(), envelope.current_key_id(), &plain)
        .map_err(|_| UnlockError::Tampered)
}

/// Recovers a vault with its recovery code and sets a new password: returns the unlocked
/// vault and the new envelope to upload. The recovery code stays valid.
pub fn recover(
    envelope: &Envelope,
    code: &RecoveryCode,
    new_password: &Password,
    iterations: u32,
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<(UnlockedVault, Envelope), UnlockError> {
    let mut vault = envelope.unlock_with_recovery_code(code)?;
    let envelope = vault.change_password(new_password, iterations, entropy)?;
    Ok((vault, envelope))
}
