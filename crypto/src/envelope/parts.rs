//! The envelope's parts: the two slots that wrap the root key and the sealed keyring,
//! their associated data, sealing and opening.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{
    CHECK_LEN, ENVELOPE_FORMAT_V1, NONCE_LEN, TAG_KEYRING, TAG_LEN, TAG_PASSWORD_SLOT,
    TAG_RECOVERY_SLOT,
};
use crate::codec::Reader;
use crate::error::{FormatError, RandomError, UnlockError};
use crate::ids::{ID_LEN, VaultId};
use crate::kdf::{ALG_PBKDF2_SHA256, KdfParams};
use crate::rand::{Entropy, random_array};
use crate::schedule::hmac_sha256;
use crate::secret::{CheckKey, KEY_LEN, Kek, RootKey};

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

pub(super) fn read_slot(r: &mut Reader<'_>) -> Result<Slot, FormatError> {
    Ok(Slot {
        check: r.array()?,
        nonce: r.array()?,
        wrapped: r.array()?,
    })
}

pub(super) fn write_slot(out: &mut Vec<u8>, slot: &Slot) {
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
pub(super) fn write_kdf_block(out: &mut Vec<u8>, kdf: &KdfParams) {
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

pub(super) fn open_slot(
    slot: &Slot,
    check_key: &CheckKey,
    kek: &Kek,
    ad: &[u8],
    wrong_secret: UnlockError,
) -> Result<RootKey, UnlockError> {
    let expected = hmac_sha256(check_key.expose(), ad);
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
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Slot, RandomError> {
    let nonce: [u8; NONCE_LEN] = random_array(entropy)?;
    let cipher = Aes256Gcm::new(kek.expose().into());
    let mut wrapped = [0u8; KEY_LEN + TAG_LEN];
    wrapped[..KEY_LEN].copy_from_slice(root.expose());
    // AES-GCM encryption of a 32-byte message cannot fail.
    #[allow(clippy::expect_used)]
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), ad, &mut wrapped[..KEY_LEN])
        .expect("AES-GCM encrypts 32 bytes");
    wrapped[KEY_LEN..].copy_from_slice(&tag);
    Ok(Slot {
        check: hmac_sha256(check_key.expose(), ad),
        nonce,
        wrapped,
    })
}

pub(super) fn seal_keyring(
    root: &RootKey,
    vault_id: &VaultId,
    current_key_id: u32,
    plain: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<SealedKeyring, RandomError> {
    let nonce: [u8; NONCE_LEN] = random_array(entropy)?;
    let cipher = Aes256Gcm::new(root.keyring_key().expose().into());
    // AES-GCM encryption of under 1 KiB cannot fail.
    #[allow(clippy::expect_used)]
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &keyring_ad(vault_id, current_key_id),
            },
        )
        .expect("AES-GCM encrypts a keyring");
    Ok(SealedKeyring {
        current_key_id,
        nonce,
        ciphertext,
    })
}
