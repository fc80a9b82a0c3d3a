//! Password key derivation: validated PBKDF2-HMAC-SHA256 parameters and the PBKDF2 itself.
//! (The HKDF subkeys of the master key are in [`crate::schedule`].)

use sha2::Sha256;

use crate::error::{KdfError, NewKdfError};
use crate::rand::Entropy;
use crate::secret::{KEY_LEN, MasterKey, Password};

/// Algorithm identifier of PBKDF2-HMAC-SHA256 in binary formats.
pub const ALG_PBKDF2_SHA256: u8 = 1;
// The bounds are part of the protocol: one definition, shared with the server.
pub use vaultsync_wire::kdf::{
    DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, MAX_ITERATIONS, MAX_SALT_LEN, MIN_ITERATIONS,
    MIN_SALT_LEN,
};

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
            return Err(KdfError::SaltLength {
                len: salt.len(),
                min: MIN_SALT_LEN,
                max: MAX_SALT_LEN,
            });
        }
        Ok(Self { iterations, salt })
    }

    /// Fresh parameters with a random salt of [`DEFAULT_SALT_LEN`] bytes.
    pub fn generate(
        iterations: u32,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, NewKdfError> {
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

/// Runs PBKDF2-HMAC-SHA256 over the password. This is the slow step (hundreds of ms).
pub fn derive_master(password: &Password, params: &KdfParams) -> MasterKey {
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2_sha256(
        password.expose(),
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
            Err(KdfError::SaltLength { len: 15, .. })
        ));
        assert!(matches!(
            KdfParams::new(DEFAULT_ITERATIONS, vec![0; 65]),
            Err(KdfError::SaltLength { len: 65, .. })
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
}
