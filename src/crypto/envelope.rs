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
use super::error::{FormatError, UnlockError};
use super::ids::{ID_LEN, VaultId};
use super::kdf::{self, ALG_PBKDF2_SHA256, KdfParams, derive_master, hkdf32};
use super::rand::{Entropy, random_array};
use super::recovery::RecoveryCode;
use super::secret::{CheckKey, KEY_LEN, Kek, KeyringKey, MasterKey, Password, RootKey, StateKey};
use super::vault::UnlockedVault;

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

pub(super) const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
pub(super) const CHECK_LEN: usize = 32;
pub(super) const KEYRING_ENTRY_LEN: usize = 4 + KEY_LEN;

/// A slot: a check value and the root key wrapped with AES-256-GCM.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct Slot {
    pub(super) check: [u8; CHECK_LEN],
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) wrapped: [u8; KEY_LEN + TAG_LEN],
}

/// The keyring sealed under the keyring key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct SealedKeyring {
    pub(super) current_key_id: u32,
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) ciphertext: Vec<u8>,
}

/// A parsed envelope. Parsing validates structure and KDF parameters only; nothing in it is
/// trusted until [`Envelope::unlock`] or [`Envelope::unlock_with_recovery_code`] succeeds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Envelope {
    pub(super) vault_id: VaultId,
    pub(super) kdf: KdfParams,
    pub(super) password: Slot,
    pub(super) recovery: Slot,
    pub(super) keyring: SealedKeyring,
    /// HMAC-SHA256 under a root-derived key over every preceding byte: a flip anywhere,
    /// even in the slot not used to unlock, is detected by either unlock path.
    pub(super) mac: [u8; CHECK_LEN],
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
    pub(super) fn body_bytes(&self) -> Vec<u8> {
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
        let keyring = self.open_keyring_with(&root)?;
        Ok(UnlockedVault {
            envelope: self.clone(),
            root,
            keyring,
        })
    }

    /// Checks the envelope MAC under `root` and opens the keyring: an envelope made with
    /// another root key (a substituted envelope) is `Tampered`.
    pub(super) fn open_keyring_with(
        &self,
        root: &RootKey,
    ) -> Result<super::record::Keyring, UnlockError> {
        let expected = envelope_mac(root, &self.body_bytes());
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
        Ok(super::record::Keyring::new(
            self.vault_id,
            self.keyring.current_key_id,
            keys,
        ))
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
pub(super) fn password_slot_ad(vault_id: &VaultId, kdf: &KdfParams) -> Vec<u8> {
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
pub(super) fn recovery_slot_ad(vault_id: &VaultId) -> [u8; 1 + ID_LEN + 1] {
    let mut ad = [0u8; 1 + ID_LEN + 1];
    ad[0] = ENVELOPE_FORMAT_V1;
    ad[1..1 + ID_LEN].copy_from_slice(vault_id.as_bytes());
    ad[1 + ID_LEN] = TAG_RECOVERY_SLOT;
    ad
}

/// `E1 || vault_id || 'K' || current_key_id (u32 BE)`
pub(super) fn keyring_ad(vault_id: &VaultId, current_key_id: u32) -> [u8; 1 + ID_LEN + 1 + 4] {
    let mut ad = [0u8; 1 + ID_LEN + 1 + 4];
    ad[0] = ENVELOPE_FORMAT_V1;
    ad[1..1 + ID_LEN].copy_from_slice(vault_id.as_bytes());
    ad[1 + ID_LEN] = TAG_KEYRING;
    ad[2 + ID_LEN..].copy_from_slice(&current_key_id.to_be_bytes());
    ad
}

pub(super) fn recovery_keys(code: &RecoveryCode, vault_id: &VaultId) -> (CheckKey, Kek) {
    let salt = Some(&vault_id.as_bytes()[..]);
    (
        CheckKey::from_bytes(hkdf32(code.expose(), salt, LABEL_RECOVERY_CHECK)),
        Kek::from_bytes(hkdf32(code.expose(), salt, LABEL_RECOVERY_KEK)),
    )
}

fn check_value(key: &CheckKey, ad: &[u8]) -> [u8; CHECK_LEN] {
    hmac_sha256(key.expose(), ad)
}

pub(super) fn envelope_mac(root: &RootKey, body: &[u8]) -> [u8; CHECK_LEN] {
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

pub(super) fn seal_slot(
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
    pub(super) fn keyring_key(&self) -> KeyringKey {
        KeyringKey::from_bytes(hkdf32(self.expose(), None, LABEL_KEYRING))
    }

    pub(super) fn state_key(&self) -> StateKey {
        StateKey::from_bytes(hkdf32(self.expose(), None, LABEL_STATE))
    }
}
