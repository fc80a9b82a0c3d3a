//! Password key derivation: PBKDF2-HMAC-SHA256, then HKDF-SHA256 subkeys.

use hkdf::Hkdf;
use sha2::Sha256;

use super::error::KdfError;
use super::rand::Entropy;
use super::secret::{AuthKey, CheckKey, KEY_LEN, Kek, MasterKey, Password};
use crate::crypto::error::RandomError;

/// Algorithm identifier of PBKDF2-HMAC-SHA256 in binary formats.
pub const ALG_PBKDF2_SHA256: u8 = 1;
// The bounds are part of the protocol: one definition, shared with the server.
pub use vaultsync_wire::kdf::{
    DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, MAX_ITERATIONS, MAX_SALT_LEN, MIN_ITERATIONS,
    MIN_SALT_LEN,
};

/// HKDF info label of the key-encryption key.
pub const LABEL_KEK: &[u8] = b"vaultsync/v1/kek";
/// HKDF info label of the auth key.
pub const LABEL_AUTH: &[u8] = b"vaultsync/v1/auth";
/// HKDF info label of the password slot's check key.
pub const LABEL_PASSWORD_CHECK: &[u8] = b"vaultsync/v1/password-check";

/// Validated PBKDF2-HMAC-SHA256 parameters. Holding one means the floor, the ceiling and
/// the salt length have been checked: nothing re-checks them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KdfParams {
    iterations: u32,
    salt: Vec<u8>,
}

impl KdfParams {
    /// Validates parameters received from anywhere (an envelope, a server answer).
    pub fn new(iterations: u32, salt: Vec<u8>) -> Result<Self, KdfError> {
        if iterations < MIN_ITERATIONS {
            return Err(KdfError::TooWeak {
                iterations,
                minimum: MIN_ITERATIONS,
            });
        }
        if iterations > MAX_ITERATIONS {
            return Err(KdfError::TooExpensive {
                iterations,
                maximum: MAX_ITERATIONS,
            });
        }
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(KdfError::SaltLength { len: salt.len() });
        }
        Ok(Self { iterations, salt })
    }

    /// Fresh parameters with a random salt of [`DEFAULT_SALT_LEN`] bytes.
    pub fn generate(iterations: u32, entropy: &mut impl Entropy) -> Result<Self, NewKdfError> {
        let mut salt = vec![0u8; DEFAULT_SALT_LEN];
        entropy.fill(&mut salt).map_err(NewKdfError::Random)?;
        Self::new(iterations, salt).map_err(NewKdfError::Kdf)
    }

    /// PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt bytes.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

/// Fresh KDF parameters could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewKdfError {
    /// The iteration count was refused.
    Kdf(KdfError),
    /// No randomness was available.
    Random(RandomError),
}

/// Runs PBKDF2-HMAC-SHA256 over the password. This is the slow step (hundreds of ms).
pub fn derive_master(password: &Password, params: &KdfParams) -> MasterKey {
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2_sha256(
        password.as_bytes(),
        params.salt(),
        params.iterations(),
        &mut out[..],
    );
    MasterKey::from_bytes(*out)
}

/// Raw PBKDF2-HMAC-SHA256 with any output length (no parameter checks: known-answer tests).
pub(crate) fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
}

/// HKDF-SHA256 (no salt means the empty salt), one 32-byte output for one label.
pub(crate) fn hkdf32(ikm: &[u8], salt: Option<&[u8]>, label: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand cannot fail.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(label, &mut out)
        .expect("32-byte HKDF output is always valid");
    out
}

impl MasterKey {
    /// The key-encryption key of the password slot.
    pub(crate) fn kek(&self) -> Kek {
        Kek::from_bytes(hkdf32(self.expose(), None, LABEL_KEK))
    }

    /// The HMAC key of the password slot's check value.
    pub(crate) fn check_key(&self) -> CheckKey {
        CheckKey::from_bytes(hkdf32(self.expose(), None, LABEL_PASSWORD_CHECK))
    }

    /// The auth key: the only password-derived value the server ever receives.
    pub fn auth_key(&self) -> AuthKey {
        AuthKey::from_bytes(hkdf32(self.expose(), None, LABEL_AUTH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceiling_are_enforced() {
        let salt = vec![0u8; 16];
        assert!(matches!(
            KdfParams::new(MIN_ITERATIONS - 1, salt.clone()),
            Err(KdfError::TooWeak { .. })
        ));
        assert!(KdfParams::new(MIN_ITERATIONS, salt.clone()).is_ok());
        assert!(KdfParams::new(MAX_ITERATIONS, salt.clone()).is_ok());
        assert!(matches!(
            KdfParams::new(MAX_ITERATIONS + 1, salt),
            Err(KdfError::TooExpensive { .. })
        ));
        assert!(matches!(
            KdfParams::new(DEFAULT_ITERATIONS, vec![0; 15]),
            Err(KdfError::SaltLength { len: 15 })
        ));
        assert!(matches!(
            KdfParams::new(DEFAULT_ITERATIONS, vec![0; 65]),
            Err(KdfError::SaltLength { len: 65 })
        ));
    }

    /// RFC 7914 section 11 vectors, from `tests/data/pbkdf2-sha256-rfc7914.json`.
    #[test]
    fn rfc7914_vectors() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/pbkdf2-sha256-rfc7914.json"))
                .unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 2);
        for v in vectors {
            let mut out = vec![0u8; v["dk_len"].as_u64().unwrap() as usize];
            pbkdf2_sha256(
                v["password"].as_str().unwrap().as_bytes(),
                v["salt"].as_str().unwrap().as_bytes(),
                v["iterations"].as_u64().unwrap() as u32,
                &mut out,
            );
            let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, v["dk_hex"].as_str().unwrap());
        }
    }

    #[test]
    fn derive_master_is_the_first_32_bytes_of_pbkdf2() {
        let params = KdfParams::new(MIN_ITERATIONS, b"0123456789abcdef".to_vec()).unwrap();
        let mut long = [0u8; 64];
        pbkdf2_sha256(b"pw", params.salt(), MIN_ITERATIONS, &mut long);
        let master = derive_master(&Password::from("pw"), &params);
        assert_eq!(master.expose()[..], long[..32]);
    }

    #[test]
    fn subkeys_are_distinct() {
        let master = MasterKey::from_bytes([7; KEY_LEN]);
        let kek = *master.kek().expose();
        let auth = *master.auth_key().expose();
        let check = *master.check_key().expose();
        assert_ne!(kek, auth);
        assert_ne!(kek, check);
        assert_ne!(auth, check);
        assert_ne!(&kek, master.expose());
    }
}
