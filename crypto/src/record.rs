//! Records: AES-256-GCM under the vault key named by the record's key id, with associated
//! data binding the vault id, record id, version, deleted flag and key id.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Nonce, Tag};

use crate::codec::{Reader, expect_format};
use crate::error::{FormatError, RecordError};
use crate::ids::{ID_LEN, RecordId, VaultId};
use crate::keyring::Keyring;
use crate::rand::{Entropy, random_array};

/// Format byte of a version 1 sealed record.
pub const RECORD_FORMAT_V1: u8 = 0xD1;
/// Largest plaintext a record may hold (4 MiB); the server usually sets a lower limit.
pub const MAX_PLAINTEXT_LEN: usize = 4 << 20;
/// Highest record version (2^53 - 1, exact in a JavaScript number).
pub const MAX_VERSION: u64 = vaultsync_wire::MAX_VERSION;
/// Bytes before the ciphertext: format, key id, nonce.
pub const RECORD_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Bytes a sealed record adds to its plaintext.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + TAG_LEN;
/// Length of a record's associated data.
pub const RECORD_AD_LEN: usize = 1 + ID_LEN + ID_LEN + 8 + 1 + 4;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// What a record's ciphertext is bound to besides its key: where it lives and which write
/// of it this is. The server stores these in the clear; the client checks them on open.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordMeta {
    record_id: RecordId,
    version: u64,
    deleted: bool,
}

impl RecordMeta {
    /// Validates metadata: versions run from 1 to [`MAX_VERSION`].
    pub fn new(record_id: RecordId, version: u64, deleted: bool) -> Result<Self, RecordError> {
        if version == 0 || version > MAX_VERSION {
            return Err(RecordError::BadMeta { field: "version" });
        }
        Ok(Self {
            record_id,
            version,
            deleted,
        })
    }

    /// The record id.
    pub fn record_id(&self) -> RecordId {
        self.record_id
    }

    /// The version this ciphertext was written as.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether this is a tombstone.
    pub fn deleted(&self) -> bool {
        self.deleted
    }
}

/// `D1 || vault_id || record_id || version (u64 BE) || deleted (0 or 1) || key_id (u32 BE)`:
/// the associated data of a sealed record, for a platform AES-GCM that opens records
/// itself (the npm package opens large records with WebCrypto, FORMAT.md).
pub fn record_ad(vault_id: &VaultId, meta: &RecordMeta, key_id: u32) -> [u8; RECORD_AD_LEN] {
    let mut ad = [0u8; RECORD_AD_LEN];
    ad[0] = RECORD_FORMAT_V1;
    ad[1..17].copy_from_slice(vault_id.as_bytes());
    ad[17..33].copy_from_slice(meta.record_id.as_bytes());
    ad[33..41].copy_from_slice(&meta.version.to_be_bytes());
    ad[41] = u8::from(meta.deleted);
    ad[42..46].copy_from_slice(&key_id.to_be_bytes());
    ad
}

/// Seals a record under the keyring's current key with a fresh random nonce. A
/// tombstone's plaintext must be empty.
pub(crate) fn seal(
    keyring: &Keyring,
    meta: &RecordMeta,
    plaintext: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Vec<u8>, RecordError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(RecordError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    if meta.deleted && !plaintext.is_empty() {
        return Err(RecordError::TombstoneNotEmpty);
    }
    let key_id = keyring.current_key_id();
    let cipher = keyring
        .cipher(key_id)
        .ok_or(RecordError::UnknownKeyId { key_id })?;
    let nonce: [u8; NONCE_LEN] = random_array(entropy)?;
    let ad = record_ad(&keyring.vault_id(), meta, key_id);
    let mut out = Vec::with_capacity(RECORD_OVERHEAD + plaintext.len());
    out.push(RECORD_FORMAT_V1);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    // The length was checked above, far below AES-GCM's limit: encryption cannot fail.
    let tag = cipher
        .encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &ad,
            &mut out[RECORD_HEADER_LEN..],
        )
        .map_err(|_| RecordError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        })?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a sealed record in the caller's buffer (no copy), checking that it belongs to the
/// keyring's vault and to `meta`. A tombstone whose plaintext is not empty is refused like
/// any failed authentication (`Tampered`): FORMAT.md says it is empty.
pub(crate) fn open(
    keyring: &Keyring,
    meta: &RecordMeta,
    mut sealed: Vec<u8>,
) -> Result<Vec<u8>, RecordError> {
    let (key_id, nonce, tag, body) = {
        let parsed = SealedRecord::parse(&sealed)?;
        (
            parsed.key_id,
            parsed.nonce,
            parsed.tag,
            parsed.ciphertext.len(),
        )
    };
    let cipher = keyring
        .cipher(key_id)
        .ok_or(RecordError::UnknownKeyId { key_id })?;
    let ad = record_ad(&keyring.vault_id(), meta, key_id);
    let ciphertext = &mut sealed[RECORD_HEADER_LEN..RECORD_HEADER_LEN + body];
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &ad,
            ciphertext,
            Tag::from_slice(&tag),
        )
        .map_err(|_| RecordError::Tampered)?;
    if meta.deleted && body != 0 {
        return Err(RecordError::Tampered);
    }
    sealed.truncate(RECORD_HEADER_LEN + body);
    sealed.drain(..RECORD_HEADER_LEN);
    Ok(sealed)
}

/// The parsed parts of a sealed record (nothing authenticated yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedRecord<'a> {
    /// Id of the vault key it is sealed under.
    pub key_id: u32,
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext without the tag.
    pub ciphertext: &'a [u8],
    /// The AES-GCM tag.
    pub tag: [u8; TAG_LEN],
}

impl<'a> SealedRecord<'a> {
    /// Parses a sealed record's binary form.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        expect_format(&mut r, RECORD_FORMAT_V1)?;
        let key_id = r.u32()?;
        let nonce = r.array()?;
        let body = r
            .remaining()
            .checked_sub(TAG_LEN)
            .ok_or(FormatError::Truncated)?;
        if body > MAX_PLAINTEXT_LEN {
            return Err(FormatError::InvalidField {
                field: "ciphertext",
            });
        }
        let ciphertext = r.take(body)?;
        let tag = r.array()?;
        r.finish()?;
        Ok(Self {
            key_id,
            nonce,
            ciphertext,
            tag,
        })
    }
}
