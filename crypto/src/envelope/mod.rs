//! The key envelope: a password slot and a recovery slot that each wrap the vault's root
//! key, and the keyring (every vault key by key id) sealed under a key derived from the
//! root key, all authenticated by a MAC under the root key.
//!
//! This module owns the layout: parsing, serialising, associated data, sealing and opening
//! slots and the sealed keyring. What the keyring holds is [`crate::keyring`]'s; unlocking
//! and changing a vault is [`crate::vault`]'s, through the methods here that return a new
//! envelope (fields are never written from outside). Byte layout: `FORMAT.md`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

mod parts;

use parts::{
    SealedKeyring, Slot, keyring_ad, open_slot, password_slot_ad, read_slot, recovery_slot_ad,
    seal_keyring, seal_slot, write_kdf_block, write_slot,
};

use crate::codec::{Reader, from_base64url, to_base64url};
use crate::error::{FormatError, KdfError, RandomError, UnlockError};
use crate::ids::VaultId;
use crate::kdf::{ALG_PBKDF2_SHA256, KdfParams};
use crate::keyring::{KEYRING_ENTRY_LEN, MAX_KEYS};
use crate::rand::Entropy;
use crate::recovery::RecoveryCode;
use crate::schedule::{hmac_sha256, recovery_slot_keys};
use crate::secret::{MasterKey, RootKey};

/// Format byte of a version 1 envelope.
pub const ENVELOPE_FORMAT_V1: u8 = 0xE1;
/// Format byte of a version 2 envelope: version 1 with a generation after the vault id.
pub const ENVELOPE_FORMAT_V2: u8 = 0xE2;
/// Tag byte in the password slot's associated data.
pub const TAG_PASSWORD_SLOT: u8 = b'P';
/// Tag byte in the recovery slot's associated data.
pub const TAG_RECOVERY_SLOT: u8 = b'R';
/// Tag byte in the keyring's associated data.
pub const TAG_KEYRING: u8 = b'K';

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CHECK_LEN: usize = 32;
/// Shortest sealed keyring: one entry.
const MIN_KEYRING_CT: usize = 1 + KEYRING_ENTRY_LEN + TAG_LEN;
/// Longest sealed keyring: [`MAX_KEYS`] entries.
const MAX_KEYRING_CT: usize = 1 + MAX_KEYS * KEYRING_ENTRY_LEN + TAG_LEN;

/// A parsed envelope. Parsing validates structure and KDF parameters only; nothing in it is
/// trusted until it is unlocked ([`crate::vault::UnlockedVault`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Envelope {
    vault_id: VaultId,
    /// 0 for a vault's first envelope (format `E1`); every change writes the next one
    /// (format `E2`), so an older envelope replayed under a newer version number is told
    /// apart by its content, under the MAC.
    generation: u64,
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
    #[inline(never)]
    pub fn parse(bytes: &[u8]) -> Result<Self, UnlockError> {
        let mut r = Reader::new(bytes);
        let format = match r.u8() {
            Ok(format @ (ENVELOPE_FORMAT_V1 | ENVELOPE_FORMAT_V2)) => format,
            Ok(found) => return Err(FormatError::UnsupportedFormat { found }.into()),
            Err(_) => return Err(FormatError::Empty.into()),
        };
        let vault_id = VaultId::from_bytes(r.array()?);
        let generation = if format == ENVELOPE_FORMAT_V2 {
            match r.u64()? {
                0 => {
                    return Err(FormatError::InvalidField {
                        field: "generation",
                    }
                    .into());
                }
                generation => generation,
            }
        } else {
            0
        };
        let alg = r.u8()?;
        if alg != ALG_PBKDF2_SHA256 {
            return Err(KdfError::UnknownAlgorithm { id: alg }.into());
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
        if !(MIN_KEYRING_CT..=MAX_KEYRING_CT).contains(&ct_len) {
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
            generation,
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
        let mut out = Vec::with_capacity(330);
        if self.generation == 0 {
            out.push(ENVELOPE_FORMAT_V1);
            out.extend_from_slice(self.vault_id.as_bytes());
        } else {
            out.push(ENVELOPE_FORMAT_V2);
            out.extend_from_slice(self.vault_id.as_bytes());
            out.extend_from_slice(&self.generation.to_be_bytes());
        }
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

    /// The envelope's generation: 0 for a vault's first envelope, one more for every
    /// change (authenticated once unlocked).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The KDF parameters (validated against the floor and ceiling, not yet authenticated).
    pub fn kdf_params(&self) -> &KdfParams {
        &self.kdf
    }

    /// The id of the key new records are sealed under (authenticated once unlocked).
    pub fn current_key_id(&self) -> u32 {
        self.keyring.current_key_id
    }

    /// Whether `other` has another password slot or KDF than this one (a password change).
    pub(crate) fn password_differs(&self, other: &Envelope) -> bool {
        self.kdf != other.kdf || self.password != other.password
    }

    /// A new vault's envelope: both slots wrap `root`, the keyring plaintext is sealed
    /// under it, and the MAC is computed.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(crate) fn create(
        vault_id: VaultId,
        kdf: KdfParams,
        master: &MasterKey,
        code: &RecoveryCode,
        root: &RootKey,
        current_key_id: u32,
        keyring_plain: &[u8],
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, RandomError> {
        let password = seal_slot(
            &master.check_key(),
            &master.kek(),
            &password_slot_ad(&vault_id, &kdf),
            root,
            entropy,
        )?;
        let (check, kek) = recovery_slot_keys(code.expose(), vault_id.as_bytes());
        let recovery = seal_slot(&check, &kek, &recovery_slot_ad(&vault_id), root, entropy)?;
        let keyring = seal_keyring(root, &vault_id, current_key_id, keyring_plain, entropy)?;
        Ok(Self::with_mac(
            root, vault_id, 0, kdf, password, recovery, keyring,
        ))
    }

    /// This envelope with a new password slot (`master` derived with `kdf`, a fresh salt):
    /// the recovery slot and keyring are unchanged.
    pub(crate) fn with_password(
        &self,
        root: &RootKey,
        master: &MasterKey,
        kdf: KdfParams,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, RandomError> {
        let ad = password_slot_ad(&self.vault_id, &kdf);
        let password = seal_slot(&master.check_key(), &master.kek(), &ad, root, entropy)?;
        Ok(Self::with_mac(
            root,
            self.vault_id,
            self.generation + 1,
            kdf,
            password,
            self.recovery.clone(),
            self.keyring.clone(),
        ))
    }

    /// This envelope with another keyring (a rotation or a retirement), sealed afresh.
    pub(crate) fn with_keyring(
        &self,
        root: &RootKey,
        current_key_id: u32,
        keyring_plain: &[u8],
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, RandomError> {
        let keyring = seal_keyring(root, &self.vault_id, current_key_id, keyring_plain, entropy)?;
        Ok(Self::with_mac(
            root,
            self.vault_id,
            self.generation + 1,
            self.kdf.clone(),
            self.password.clone(),
            self.recovery.clone(),
            keyring,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn with_mac(
        root: &RootKey,
        vault_id: VaultId,
        generation: u64,
        kdf: KdfParams,
        password: Slot,
        recovery: Slot,
        keyring: SealedKeyring,
    ) -> Self {
        let mut envelope = Self {
            vault_id,
            generation,
            kdf,
            password,
            recovery,
            keyring,
            mac: [0; CHECK_LEN],
        };
        envelope.mac = hmac_sha256(&root.envelope_mac_key(), &envelope.body_bytes());
        envelope
    }

    /// The root key from the password slot. A check value that differs is
    /// `WrongPassword` (also when the salt, iterations or vault id were changed: they are
    /// in the associated data); a failed unwrap is `Tampered`.
    #[inline(never)]
    pub(crate) fn open_password_slot(&self, master: &MasterKey) -> Result<RootKey, UnlockError> {
        let ad = password_slot_ad(&self.vault_id, &self.kdf);
        open_slot(
            &self.password,
            &master.check_key(),
            &master.kek(),
            &ad,
            UnlockError::WrongPassword,
        )
    }

    /// The root key from the recovery slot (`WrongRecoveryCode` on another code).
    #[inline(never)]
    pub(crate) fn open_recovery_slot(&self, code: &RecoveryCode) -> Result<RootKey, UnlockError> {
        let (check, kek) = recovery_slot_keys(code.expose(), self.vault_id.as_bytes());
        open_slot(
            &self.recovery,
            &check,
            &kek,
            &recovery_slot_ad(&self.vault_id),
            UnlockError::WrongRecoveryCode,
        )
    }

    /// Checks the envelope MAC under `root` and opens the sealed keyring: an envelope made
    /// with another root key (a substituted envelope) or any changed byte is `Tampered`.
    #[inline(never)]
    pub(crate) fn open_keyring(&self, root: &RootKey) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
        let expected = hmac_sha256(&root.envelope_mac_key(), &self.body_bytes());
        if !bool::from(expected.ct_eq(&self.mac)) {
            return Err(UnlockError::Tampered);
        }
        let ad = keyring_ad(&self.vault_id, self.keyring.current_key_id);
        let cipher = Aes256Gcm::new(root.keyring_key().expose().into());
        cipher
            .decrypt(
                Nonce::from_slice(&self.keyring.nonce),
                Payload {
                    msg: &self.keyring.ciphertext,
                    aad: &ad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| UnlockError::Tampered)
    }
}
