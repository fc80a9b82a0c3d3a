//! Sealing the sync engine's exported state: AES-256-GCM under the state key (derived from
//! the vault's root key, FORMAT.md), bound to the vault id.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::codec::{Reader, expect_format};
use crate::error::{FormatError, RandomError};
use crate::ids::VaultId;
use crate::rand::{Entropy, random_array};
use crate::secret::StateKey;

/// Format byte of a version 1 state blob.
pub const STATE_FORMAT_V1: u8 = 0x5E;
/// Associated-data label of a state blob.
pub const STATE_AD_LABEL: &[u8] = b"vaultsync/v1/state-blob";

/// Why a state blob did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state blob of a known format.
    Format(FormatError),
    /// Failed authentication: modified, truncated, or of another vault.
    Tampered,
}

impl StateError {
    /// Stable code: `STATE_TAMPERED` whatever the reason.
    pub fn code(&self) -> crate::code::Code {
        crate::code::Code::StateTampered
    }
}

impl core::fmt::Display for StateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Format(e) => write!(f, "not a vaultsync state blob: {e}"),
            Self::Tampered => f.write_str("the state blob failed authentication"),
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Format(e) => Some(e),
            Self::Tampered => None,
        }
    }
}

fn ad(vault_id: &VaultId) -> Vec<u8> {
    labelled_ad(STATE_AD_LABEL, STATE_FORMAT_V1, vault_id, &[])
}

/// `label || format || vault id || rest`: the associated data of a blob sealed under a
/// key derived from the root key, so that one kind of blob never opens as another.
pub(crate) fn labelled_ad(label: &[u8], format: u8, vault_id: &VaultId, rest: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(label.len() + 1 + 16 + rest.len());
    ad.extend_from_slice(label);
    ad.push(format);
    ad.extend_from_slice(vault_id.as_bytes());
    ad.extend_from_slice(rest);
    ad
}

/// `format || nonce (12) || AES-256-GCM(key, nonce, plaintext, ad)`.
pub(crate) fn seal_blob(
    key: &[u8; 32],
    format: u8,
    ad: &[u8],
    plaintext: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Vec<u8>, RandomError> {
    let nonce: [u8; 12] = random_array(entropy)?;
    let sealed = Aes256Gcm::new(key.into())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .map_err(|_| RandomError)?;
    let mut out = Vec::with_capacity(1 + 12 + sealed.len());
    out.push(format);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a blob made by [`seal_blob`] with the same format byte, key and AD.
pub(crate) fn open_blob(
    key: &[u8; 32],
    format: u8,
    ad: &[u8],
    blob: &[u8],
) -> Result<Vec<u8>, StateError> {
    let mut reader = Reader::new(blob);
    expect_format(&mut reader, format).map_err(StateError::Format)?;
    let nonce: [u8; 12] = reader.array().map_err(StateError::Format)?;
    let sealed = reader
        .take(reader.remaining())
        .map_err(StateError::Format)?;
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: sealed,
                aad: ad,
            },
        )
        .map_err(|_| StateError::Tampered)
}

/// `0x5E || nonce (12) || AES-256-GCM(state key, nonce, plaintext, AD)` with
/// `AD = "vaultsync/v1/state-blob" || 0x5E || vault id`.
pub fn seal_state(
    key: &StateKey,
    vault_id: &VaultId,
    plaintext: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Vec<u8>, RandomError> {
    seal_blob(
        key.expose(),
        STATE_FORMAT_V1,
        &ad(vault_id),
        plaintext,
        entropy,
    )
}

/// Opens a blob made by [`seal_state`] for the same vault.
pub fn open_state(key: &StateKey, vault_id: &VaultId, blob: &[u8]) -> Result<Vec<u8>, StateError> {
    open_blob(key.expose(), STATE_FORMAT_V1, &ad(vault_id), blob)
}
