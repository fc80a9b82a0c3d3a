//! Device linking's cryptography: X25519 device keys, single-shot HPKE base mode (RFC 9180)
//! with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM, and the link phrase both
//! devices show (FORMAT.md, "Device linking").
//!
//! HPKE is written here over the HKDF and AES-GCM the crate already ships (no second copy
//! of SHA-2, HKDF or AES in the .wasm) and `x25519-dalek`'s bare `x25519` function. It is
//! checked against the RFC 9180 test vectors (`tests/data/hpke-rfc9180-x25519.json`) and
//! by an independent WebCrypto implementation (`www/lib/spec.mjs`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::RandomError;
use crate::rand::{Entropy, random_array};

/// Length of an X25519 key (public or private) and of an HPKE `enc`.
pub const KEY_LEN: usize = 32;
/// Length of a link request's id.
pub const REQUEST_ID_LEN: usize = 16;
/// Words in a link phrase (11 bits each: 66 bits).
pub const PHRASE_WORDS: usize = 6;

/// KEM id of DHKEM(X25519, HKDF-SHA256).
const KEM_ID: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
const KDF_ID: u16 = 0x0001;
/// AEAD id of AES-256-GCM.
const AEAD_ID: u16 = 0x0002;
/// `info` of every link payload starts with this.
pub const LINK_INFO: &[u8] = b"vaultsync/v1/link";
/// Label of the link phrase's HKDF.
pub(crate) const PHRASE_SALT: &[u8] = b"vaultsync/v1/link-phrase";

/// A device's X25519 key pair. The private key never leaves the device; it is wiped on
/// drop and never printed.
pub struct DeviceKeyPair {
    secret: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; KEY_LEN],
}

impl core::fmt::Debug for DeviceKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl DeviceKeyPair {
    /// A fresh key pair from `entropy`.
    pub fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        let secret = Zeroizing::new(random_array::<KEY_LEN>(entropy)?);
        Ok(Self::from_secret(secret))
    }

    /// The key pair of a stored private key.
    pub fn from_secret(secret: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let public = x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        Self { secret, public }
    }

    /// RFC 9180's DeriveKeyPair for X25519 (the test vectors' key pairs).
    pub fn derive(ikm: &[u8]) -> Self {
        let suite = kem_suite();
        let prk = labeled_extract(&suite, b"", b"dkp_prk", ikm);
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        labeled_expand(&suite, &prk, b"sk", b"", &mut secret[..]);
        Self::from_secret(secret)
    }

    /// The public key.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The private key, to store sealed.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

/// Why an HPKE operation failed. Says nothing more than that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpkeError {
    /// The peer's key gave an all-zero shared secret (a low-order point): refused.
    BadKey,
    /// The ciphertext, `info` or `aad` is not what was sealed, or not for this key.
    Open,
}

impl core::fmt::Display for HpkeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BadKey => "the public key is not a usable X25519 key",
            Self::Open => "the sealed payload does not open with this key, info and aad",
        })
    }
}

impl std::error::Error for HpkeError {}

/// `"KEM"` ‖ kem_id.
fn kem_suite() -> Vec<u8> {
    let mut suite = b"KEM".to_vec();
    suite.extend_from_slice(&KEM_ID.to_be_bytes());
    suite
}

/// `"HPKE"` ‖ kem_id ‖ kdf_id ‖ aead_id.
fn hpke_suite(aead_id: u16) -> Vec<u8> {
    let mut suite = b"HPKE".to_vec();
    for id in [KEM_ID, KDF_ID, aead_id] {
        suite.extend_from_slice(&id.to_be_bytes());
    }
    suite
}

fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut labeled = Zeroizing::new(Vec::with_capacity(
        7 + suite.len() + label.len() + ikm.len(),
    ));
    for part in [b"HPKE-v1".as_slice(), suite, label, ikm] {
        labeled.extend_from_slice(part);
    }
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled);
    Zeroizing::new(prk.into())
}

fn labeled_expand(suite: &[u8], prk: &[u8; 32], label: &[u8], info: &[u8], out: &mut [u8]) {
    let mut labeled = Vec::with_capacity(9 + suite.len() + label.len() + info.len());
    labeled.extend_from_slice(&(out.len() as u16).to_be_bytes());
    for part in [b"HPKE-v1".as_slice(), suite, label, info] {
        labeled.extend_from_slice(part);
    }
    // The PRK is a full HMAC-SHA256 output and `out` at most 64 bytes: neither can fail.
    if let Ok(hkdf) = Hkdf::<Sha256>::from_prk(prk) {
        let _ = hkdf.expand(&labeled, out);
    }
}

/// DHKEM's shared secret from a Diffie-Hellman output and `enc ‖ pkR`.
fn extract_and_expand(dh: &[u8; 32], kem_context: &[u8]) -> Zeroizing<[u8; 32]> {
    let suite = kem_suite();
    let prk = labeled_extract(&suite, b"", b"eae_prk", dh);
    let mut shared = Zeroizing::new([0u8; 32]);
    labeled_expand(&suite, &prk, b"shared_secret", kem_context, &mut shared[..]);
    shared
}

fn dh(secret: &[u8; KEY_LEN], public: &[u8; KEY_LEN]) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let shared = Zeroizing::new(x25519_dalek::x25519(*secret, *public));
    // RFC 9180 §7.1.4: an all-zero output means a low-order point; abort.
    if shared.iter().all(|b| *b == 0) {
        return Err(HpkeError::BadKey);
    }
    Ok(shared)
}

/// The key schedule's values (base mode, no PSK), for an AEAD whose key is `key.len()`
/// bytes.
pub(crate) struct Schedule {
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) base_nonce: [u8; 12],
}

pub(crate) fn key_schedule(
    aead_id: u16,
    key_len: usize,
    shared: &[u8; 32],
    info: &[u8],
) -> Schedule {
    let suite = hpke_suite(aead_id);
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", b"info_hash", info);
    let mut context = vec![0u8]; // mode_base
    context.extend_from_slice(&psk_id_hash[..]);
    context.extend_from_slice(&info_hash[..]);
    let secret = labeled_extract(&suite, shared, b"secret", b"");
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    labeled_expand(&suite, &secret, b"key", &context, &mut key);
    let mut base_nonce = [0u8; 12];
    labeled_expand(&suite, &secret, b"base_nonce", &context, &mut base_nonce);
    Schedule { key, base_nonce }
}

/// Encap: the shared secret and `enc` for `recipient`, with the ephemeral key pair given.
pub(crate) fn encap(
    ephemeral: &DeviceKeyPair,
    recipient: &[u8; KEY_LEN],
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let dh = dh(ephemeral.secret(), recipient)?;
    let mut kem_context = ephemeral.public().to_vec();
    kem_context.extend_from_slice(recipient);
    Ok(extract_and_expand(&dh, &kem_context))
}

/// Decap: the shared secret from `enc`, for `recipient`.
pub(crate) fn decap(
    recipient: &DeviceKeyPair,
    enc: &[u8; KEY_LEN],
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let dh = dh(recipient.secret(), enc)?;
    let mut kem_context = enc.to_vec();
    kem_context.extend_from_slice(recipient.public());
    Ok(extract_and_expand(&dh, &kem_context))
}

/// HPKE SealBase, single shot: `(enc, ciphertext)` of `plaintext` for `recipient`, bound
/// to `info` and `aad`.
pub fn seal(
    recipient: &[u8; KEY_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<([u8; KEY_LEN], Vec<u8>), SealError> {
    let ephemeral = DeviceKeyPair::generate(entropy).map_err(SealError::Random)?;
    seal_with(&ephemeral, recipient, info, aad, plaintext).map_err(SealError::Hpke)
}

/// Why [`seal`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealError {
    /// No randomness for the ephemeral key.
    Random(RandomError),
    /// The recipient's key is unusable.
    Hpke(HpkeError),
}

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Random(e) => e.fmt(f),
            Self::Hpke(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SealError {}

/// [`seal`] with a given ephemeral key pair (the test vectors fix it).
pub fn seal_with(
    ephemeral: &DeviceKeyPair,
    recipient: &[u8; KEY_LEN],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; KEY_LEN], Vec<u8>), HpkeError> {
    let shared = encap(ephemeral, recipient)?;
    let schedule = key_schedule(AEAD_ID, 32, &shared, info);
    let sealed = Aes256Gcm::new_from_slice(&schedule.key)
        .map_err(|_| HpkeError::Open)?
        .encrypt(
            Nonce::from_slice(&schedule.base_nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| HpkeError::Open)?;
    Ok((*ephemeral.public(), sealed))
}

/// HPKE OpenBase, single shot.
pub fn open(
    recipient: &DeviceKeyPair,
    enc: &[u8; KEY_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HpkeError> {
    let shared = decap(recipient, enc)?;
    let schedule = key_schedule(AEAD_ID, 32, &shared, info);
    Aes256Gcm::new_from_slice(&schedule.key)
        .map_err(|_| HpkeError::Open)?
        .decrypt(
            Nonce::from_slice(&schedule.base_nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| HpkeError::Open)
}

mod grant;

pub use grant::{LINK_FORMAT_V1, LinkError, LinkGrant, link_aad, link_info, link_phrase};

#[cfg(test)]
mod tests;
