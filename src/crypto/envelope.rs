//! The key envelope: a password slot and a recovery slot that each wrap the vault's root
//! key, and the keyring (every vault key by key id) sealed under the root key.
//!
//! Byte layout, associated data and derivations are specified in `FORMAT.md`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::codec::{Reader, expect_format, from_base64url, to_base64url};
use super::error::{FormatError, KeyringError, RandomError, UnlockError};
use super::ids::{ID_LEN, VaultId};
use super::kdf::{self, ALG_PBKDF2_SHA256, KdfParams, derive_master, hkdf32};
use super::rand::{Entropy, random_array};
use super::recovery::RecoveryCode;
use super::secret::{CheckKey, KEY_LEN, Kek, KeyringKey, MasterKey, Password, RootKey, StateKey};

/// Format byte of a version 1 envelope.
pub const ENVELOPE_FORMAT_V1: u8 = 0xE1;
/// Tag byte in the password slot's associated data.
pub const TAG_PASSWORD_SLOT: u8 = b'P';
/// Tag byte in the recovery slot's associated data.
pub const TAG_RECOVERY_SLOT: u8 = b'R';
/// Tag byte in the keyring's associated data.
pub const TAG_KEYRING: u8 = b'K';
/// HKDF label of the recovery slot's key-encryption key.
pub const LABEL_RECOVERY_KEK: &[u8] = b"vaultsync/v1/recovery-kek";
/// HKDF label of the recovery slot's check key.
pub const LABEL_RECOVERY_CHECK: &[u8] = b"vaultsync/v1/recovery-check";
/// HKDF label of the keyring key (from the root key).
pub const LABEL_KEYRING: &[u8] = b"vaultsync/v1/keyring";
/// HKDF label of the whole-envelope MAC key (from the root key).
pub const LABEL_ENVELOPE_MAC: &[u8] = b"vaultsync/v1/envelope-mac";
/// HKDF label of the engine-state key (from the root key).
pub const LABEL_STATE: &[u8] = b"vaultsync/v1/state";
/// Most keys a keyring holds; retire old keys after a rotation completes.
pub const MAX_KEYS: usize = 16;
/// Key id of a new vault's first key.
pub const FIRST_KEY_ID: u32 = 1;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CHECK_LEN: usize = 32;
const KEYRING_ENTRY_LEN: usize = 4 + KEY_LEN;

/// A slot: a check value and the root key wrapped with AES-256-GCM.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Slot {
    check: [u8; CHECK_LEN],
    nonce: [u8; NONCE_LEN],
    wrapped: [u8; KEY_LEN + TAG_LEN],
}

/// The keyring sealed under the keyring key.
#[derive(Clone, PartialEq, Eq, Debug)]
struct SealedKeyring {
    current_key_id: u32,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

/// A parsed envelope. Parsing validates structure and KDF parameters only; nothing in it is
/// trusted until [`Envelope::unlock`] or [`Envelope::unlock_with_recovery_code`] succeeds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Envelope {
    vault_id: VaultId,
    kdf: KdfParams,
    password: Slot,
    recovery: Slot,
    keyring: SealedKeyring,
    /// HMAC-SHA256 under a root-derived key over every preceding byte: a flip anywhere,
    /// even in the slot not used to unlock, is detected by either unlock path.
    mac: [u8; CHECK_LEN],
}

impl Envelope {
    /// Parses the binary form. Refuses unknown formats and weak or absurd KDF parameters
    /// before any key derivation is attempted.
    pub fn parse(bytes: &[u8]) -> Result<Self, UnlockError> {
        let mut r = Reader::new(bytes);
        expect_format(&mut r, ENVELOPE_FORMAT_V1)?;
        let vault_id = VaultId::from_bytes(r.array()?);
        let alg = r.u8()?;
        if alg != ALG_PBKDF2_SHA256 {
            return Err(UnlockError::Kdf(
                crate::crypto::error::KdfError::UnknownAlgorithm { id: alg },
            ));
        }
        let iterations = r.u32()?;
        let salt_len = usize::from(r.u8()?);
        let salt = r.take(salt_len)?.to_vec();
        let kdf = KdfParams::new(iterations, salt)?;
        let password = read_slot(&mut r)?;
        let recovery = read_slot(&mut r)?;
        let current_key_id = r.u32()?;
        let nonce = r.array()?;
        let ct_len = usize::from(r.u16()?);
        if !(1 + KEYRING_ENTRY_LEN + TAG_LEN..=1 + MAX_KEYS * KEYRING_ENTRY_LEN + TAG_LEN)
            .contains(&ct_len)
        {
            return Err(FormatError::InvalidField {
                field: "keyring_len",
            }
            .into());
        }
        let ciphertext = r.take(ct_len)?.to_vec();
        let mac = r.array()?;
        r.finish()?;
        Ok(Self {
            vault_id,
            kdf,
            password,
            recovery,
            keyring: SealedKeyring {
                current_key_id,
                nonce,
                ciphertext,
            },
            mac,
        })
    }

    /// Parses the text form (unpadded base64url of the binary form).
    pub fn parse_text(text: &str) -> Result<Self, UnlockError> {
        Self::parse(&from_base64url(text)?)
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body_bytes();
        out.extend_from_slice(&self.mac);
        out
    }

    /// Every byte of the binary form before the MAC.
    fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(320);
        out.push(ENVELOPE_FORMAT_V1);
        out.extend_from_slice(self.vault_id.as_bytes());
        write_kdf_block(&mut out, &self.kdf);
        write_slot(&mut out, &self.password);
        write_slot(&mut out, &self.recovery);
        out.extend_from_slice(&self.keyring.current_key_id.to_be_bytes());
        out.extend_from_slice(&self.keyring.nonce);
        // The parser bounds the keyring to MAX_KEYS entries, far below u16::MAX.
        out.extend_from_slice(&(self.keyring.ciphertext.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.keyring.ciphertext);
        out
    }

    /// The text form: unpadded base64url of [`Envelope::to_bytes`].
    pub fn to_text(&self) -> String {
        to_base64url(&self.to_bytes())
    }

    /// The vault id (not authenticated until unlocked).
    pub fn vault_id(&self) -> VaultId {
        self.vault_id
    }

    /// The KDF parameters (validated against the floor and ceiling, not yet authenticated).
    pub fn kdf_params(&self) -> &KdfParams {
        &self.kdf
    }

    /// The id of the key new records are sealed under (authenticated once unlocked).
    pub fn current_key_id(&self) -> u32 {
        self.keyring.current_key_id
    }

    /// Unlocks with a password: PBKDF2 (slow), then [`Envelope::unlock_with_master`].
    pub fn unlock(&self, password: &Password) -> Result<UnlockedVault, UnlockError> {
        self.unlock_with_master(&derive_master(password, &self.kdf))
    }

    /// Unlocks with the PBKDF2 output for this envelope's KDF parameters, computed by the
    /// caller (for instance with WebCrypto in a browser).
    pub fn unlock_with_master(&self, master: &MasterKey) -> Result<UnlockedVault, UnlockError> {
        let ad = password_slot_ad(&self.vault_id, &self.kdf);
        let root = open_slot(
            &self.password,
            &master.check_key(),
            &master.kek(),
            &ad,
            UnlockError::WrongPassword,
        )?;
        self.open_keyring(root)
    }

    /// Unlocks with the recovery code. Follow with [`UnlockedVault::change_password`] to
    /// set a new password (or use [`recover`]).
    pub fn unlock_with_recovery_code(
        &self,
        code: &RecoveryCode,
    ) -> Result<UnlockedVault, UnlockError> {
        let (check_key, kek) = recovery_keys(code, &self.vault_id);
        let ad = recovery_slot_ad(&self.vault_id);
        let root = open_slot(
            &self.recovery,
            &check_key,
            &kek,
            &ad,
            UnlockError::WrongRecoveryCode,
        )?;
        self.open_keyring(root)
    }

    fn open_keyring(&self, root: RootKey) -> Result<UnlockedVault, UnlockError> {
        let expected = envelope_mac(&root, &self.body_bytes());
        if !bool::from(expected.ct_eq(&self.mac)) {
            return Err(UnlockError::Tampered);
        }
        let ad = keyring_ad(&self.vault_id, self.keyring.current_key_id);
        let key = root.keyring_key();
        let cipher = Aes256Gcm::new(key.expose().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&self.keyring.nonce),
                    Payload {
                        msg: &self.keyring.ciphertext,
                        aad: &ad,
                    },
                )
                .map_err(|_| UnlockError::Tampered)?,
        );
        let keys = parse_keyring(&plain, self.keyring.current_key_id)?;
        Ok(UnlockedVault {
            envelope: self.clone(),
            root,
            keyring: super::record::Keyring::new(self.vault_id, self.keyring.current_key_id, keys),
        })
    }
}

impl From<kdf::NewKdfError> for UnlockError {
    fn from(e: kdf::NewKdfError) -> Self {
        match e {
            kdf::NewKdfError::Kdf(e) => Self::Kdf(e),
            kdf::NewKdfError::Random(e) => Self::Random(e),
        }
    }
}

fn read_slot(r: &mut Reader<'_>) -> Result<Slot, FormatError> {
    Ok(Slot {
        check: r.array()?,
        nonce: r.array()?,
        wrapped: r.array()?,
    })
}

fn write_slot(out: &mut Vec<u8>, slot: &Slot) {
    out.extend_from_slice(&slot.check);
    out.extend_from_slice(&slot.nonce);
    out.extend_from_slice(&slot.wrapped);
}

/// `E1 || vault_id || 'P' || alg || iterations (u32 BE) || salt_len || salt`
fn password_slot_ad(vault_id: &VaultId, kdf: &KdfParams) -> Vec<u8> {
    let mut ad = Vec::with_capacity(1 + ID_LEN + 1 + 1 + 4 + 1 + kdf.salt().len());
    ad.push(ENVELOPE_FORMAT_V1);
    ad.extend_from_slice(vault_id.as_bytes());
    ad.push(TAG_PASSWORD_SLOT);
    write_kdf_block(&mut ad, kdf);
    ad
}

/// `alg || iterations (u32 BE) || salt_len || salt`
fn write_kdf_block(out: &mut Vec<u8>, kdf: &KdfParams) {
    out.push(ALG_PBKDF2_SHA256);
    out.extend_from_slice(&kdf.iterations().to_be_bytes());
    // KdfParams bounds the salt to MAX_SALT_LEN (64) bytes.
    out.push(kdf.salt().len() as u8);
    out.extend_from_slice(kdf.salt());
}

/// `E1 || vault_id || 'R'`
fn recovery_slot_ad(vault_id: &VaultId) -> [u8; 1 + ID_LEN + 1] {
    let mut ad = [0u8; 1 + ID_LEN + 1];
    ad[0] = ENVELOPE_FORMAT_V1;
    ad[1..1 + ID_LEN].copy_from_slice(vault_id.as_bytes());
    ad[1 + ID_LEN] = TAG_RECOVERY_SLOT;
    ad
}

/// `E1 || vault_id || 'K' || current_key_id (u32 BE)`
fn keyring_ad(vault_id: &VaultId, current_key_id: u32) -> [u8; 1 + ID_LEN + 1 + 4] {
    let mut ad = [0u8; 1 + ID_LEN + 1 + 4];
    ad[0] = ENVELOPE_FORMAT_V1;
    ad[1..1 + ID_LEN].copy_from_slice(vault_id.as_bytes());
    ad[1 + ID_LEN] = TAG_KEYRING;
    ad[2 + ID_LEN..].copy_from_slice(&current_key_id.to_be_bytes());
    ad
}

fn recovery_keys(code: &RecoveryCode, vault_id: &VaultId) -> (CheckKey, Kek) {
    let salt = Some(&vault_id.as_bytes()[..]);
    (
        CheckKey::from_bytes(hkdf32(code.expose(), salt, LABEL_RECOVERY_CHECK)),
        Kek::from_bytes(hkdf32(code.expose(), salt, LABEL_RECOVERY_KEK)),
    )
}

fn check_value(key: &CheckKey, ad: &[u8]) -> [u8; CHECK_LEN] {
    hmac_sha256(key.expose(), ad)
}

fn envelope_mac(root: &RootKey, body: &[u8]) -> [u8; CHECK_LEN] {
    let key = Zeroizing::new(hkdf32(root.expose(), None, LABEL_ENVELOPE_MAC));
    hmac_sha256(&key, body)
}

fn hmac_sha256(key: &[u8; KEY_LEN], data: &[u8]) -> [u8; CHECK_LEN] {
    // HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn open_slot(
    slot: &Slot,
    check_key: &CheckKey,
    kek: &Kek,
    ad: &[u8],
    wrong_secret: UnlockError,
) -> Result<RootKey, UnlockError> {
    let expected = check_value(check_key, ad);
    if !bool::from(expected.ct_eq(&slot.check)) {
        return Err(wrong_secret);
    }
    let cipher = Aes256Gcm::new(kek.expose().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&slot.nonce),
                Payload {
                    msg: &slot.wrapped,
                    aad: ad,
                },
            )
            .map_err(|_| UnlockError::Tampered)?,
    );
    let bytes: [u8; KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| UnlockError::Tampered)?;
    Ok(RootKey::from_bytes(bytes))
}

fn seal_slot(
    check_key: &CheckKey,
    kek: &Kek,
    ad: &[u8],
    root: &RootKey,
    entropy: &mut impl Entropy,
) -> Result<Slot, UnlockError> {
    let nonce: [u8; NONCE_LEN] = random_array(entropy)?;
    let cipher = Aes256Gcm::new(kek.expose().into());
    let wrapped = seal_exact(&cipher, &nonce, root.expose(), ad);
    Ok(Slot {
        check: check_value(check_key, ad),
        nonce,
        wrapped,
    })
}

fn seal_exact(
    cipher: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    msg: &[u8; KEY_LEN],
    ad: &[u8],
) -> [u8; KEY_LEN + TAG_LEN] {
    let mut out = [0u8; KEY_LEN + TAG_LEN];
    out[..KEY_LEN].copy_from_slice(msg);
    // AES-GCM encryption of a 32-byte message cannot fail.
    #[allow(clippy::expect_used)]
    let tag = aes_gcm::AeadInPlace::encrypt_in_place_detached(
        cipher,
        Nonce::from_slice(nonce),
        ad,
        &mut out[..KEY_LEN],
    )
    .expect("AES-GCM encrypts 32 bytes");
    out[KEY_LEN..].copy_from_slice(&tag);
    out
}

/// Keyring plaintext: `count (u8) || count x (key_id u32 BE || key 32 bytes)`, ids strictly
/// ascending, the current key id among them.
fn parse_keyring(
    plain: &[u8],
    current_key_id: u32,
) -> Result<Vec<(u32, super::secret::VaultKey)>, FormatError> {
    let mut r = Reader::new(plain);
    let count = usize::from(r.u8()?);
    if count == 0 || count > MAX_KEYS || r.remaining() != count * KEYRING_ENTRY_LEN {
        return Err(FormatError::InvalidField { field: "keyring" });
    }
    let mut keys = Vec::with_capacity(count);
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let id = r.u32()?;
        if previous.is_some_and(|p| p >= id) {
            return Err(FormatError::InvalidField { field: "keyring" });
        }
        previous = Some(id);
        let key = Zeroizing::new(r.array::<KEY_LEN>()?);
        keys.push((id, super::secret::VaultKey::from_bytes(*key)));
    }
    r.finish()?;
    if !keys.iter().any(|(id, _)| *id == current_key_id) {
        return Err(FormatError::InvalidField {
            field: "current_key_id",
        });
    }
    Ok(keys)
}

impl RootKey {
    fn keyring_key(&self) -> KeyringKey {
        KeyringKey::from_bytes(hkdf32(self.expose(), None, LABEL_KEYRING))
    }

    fn state_key(&self) -> StateKey {
        StateKey::from_bytes(hkdf32(self.expose(), None, LABEL_STATE))
    }
}

/// An unlocked vault: the root key and every vault key, in memory only. It seals and opens
/// records (see [`super::record`]) and produces new envelopes for password change and key
/// rotation. Nothing in it is ever serialized in the clear.
pub struct UnlockedVault {
    envelope: Envelope,
    root: RootKey,
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
