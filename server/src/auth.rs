//! Accounts and tokens: usernames, auth-key verifiers, bearer tokens, the prelogin decoy,
//! and login rate limits. No key material is logged; secrets are compared in constant time.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vaultsync_wire::{Blob, Kdf, KdfAlgorithm, SecretBlob, TOKEN_PREFIX};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::store::NewToken;

/// Length of an auth key, in bytes.
pub const AUTH_KEY_LEN: usize = 32;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;
/// Longest token label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Iterations answered by prelogin for unknown usernames (the client's default).
pub const DECOY_ITERATIONS: u32 = vaultsync_wire::kdf::DEFAULT_ITERATIONS;
/// Salt length answered by prelogin for unknown usernames (the client's default).
pub const DECOY_SALT_LEN: usize = vaultsync_wire::kdf::DEFAULT_SALT_LEN;
/// `last_used_at` is written at most this often per token.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// Checks and normalises a username: 1 to 128 characters, no control characters, no
/// surrounding whitespace; ASCII letters are lower-cased so `Alice` and `alice` are one
/// account.
pub fn normalize_username(username: &str) -> Result<String, ApiError> {
    let chars = username.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(ApiError::invalid(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters"
        )));
    }
    if username.chars().any(char::is_control) || username.trim() != username {
        return Err(ApiError::invalid(
            "username must not contain control characters or surrounding spaces",
        ));
    }
    Ok(username.to_ascii_lowercase())
}

/// Checks a token label (default `"device"`).
pub fn token_label(label: Option<String>) -> Result<String, ApiError> {
    let label = label.unwrap_or_else(|| "device".to_string());
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "token_label must be at most {MAX_LABEL_CHARS} characters, no control characters"
        )));
    }
    Ok(label)
}

/// The stored verifier of an auth key: its SHA-256. The auth key is a 256-bit HKDF output
/// of the PBKDF2 master key, so the hash lets nobody test passwords faster than PBKDF2.
pub fn auth_verifier(auth_key: &SecretBlob) -> Result<[u8; 32], ApiError> {
    key_verifier("auth_key", auth_key)
}

/// The stored verifier of a recovery auth key: its SHA-256. The key is an HKDF output of
/// the 160-bit recovery code, so the hash cannot be searched for the code.
pub fn recovery_verifier(recovery_key: &SecretBlob) -> Result<[u8; 32], ApiError> {
    key_verifier("recovery_key", recovery_key)
}

fn key_verifier(field: &str, key: &SecretBlob) -> Result<[u8; 32], ApiError> {
    if key.len() != AUTH_KEY_LEN {
        return Err(ApiError::invalid(format!(
            "{field} must be {AUTH_KEY_LEN} bytes"
        )));
    }
    Ok(Sha256::digest(key.expose()).into())
}

/// Constant-time comparison of a stored verifier with a presented one.
pub fn verifier_matches(stored: &[u8], presented: &[u8; 32]) -> bool {
    stored.ct_eq(presented).into()
}

/// A freshly issued token: the secret (shown once) and what is stored.
pub struct IssuedSecret {
    /// `vst_` + 43 base64url characters (256 random bits).
    pub secret: Zeroizing<String>,
    /// Hash, indicator, label, expiry.
    pub stored: NewToken,
}

/// Issues a token with 256 random bits.
pub fn issue_token(label: String, expires_at: Option<i64>) -> Result<IssuedSecret, ApiError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(|_| ApiError::no_randomness())?;
    let secret = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        Blob(bytes.to_vec()).to_base64url()
    ));
    let last4 = &secret[secret.len() - 4..];
    Ok(IssuedSecret {
        stored: NewToken {
            hash: token_hash(&secret),
            indicator: format!("{TOKEN_PREFIX}…{last4}"),
            label,
            expires_at,
        },
        secret,
    })
}

/// SHA-256 of a secret a client proves it holds (a link request's claim secret).
pub fn secret_hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// SHA-256 of a token's text: tokens are looked up by this hash, so the database never
/// holds a usable token and the lookup's timing reveals nothing about a real token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The prelogin answer for a username without an account: a salt derived from a server
/// secret (stable across requests and replicas) and the default iterations, so the answer
/// looks like a real account's.
pub fn decoy_kdf(secret: &[u8], username: &str) -> Kdf {
    let mut salt = [0u8; DECOY_SALT_LEN];
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(b"vaultsync/v1/prelogin-decoy\0");
            mac.update(username.as_bytes());
            salt.copy_from_slice(&mac.finalize().into_bytes()[..DECOY_SALT_LEN]);
        }
        Err(_) => tracing::error!("prelogin secret unusable"),
    }
    Kdf {
        algorithm: KdfAlgorithm::Pbkdf2Sha256,
        iterations: DECOY_ITERATIONS,
        salt: Blob(salt.to_vec()),
    }
}

/// Login rate limits: per account (login) and per client address (register, prelogin,
/// login). Kept in memory, so with several replicas each enforces its own budget.
#[derive(Clone)]
pub struct RateLimits {
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RateLimits {
    /// Budgets per minute.
    pub fn new(per_account: u32, per_address: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_account: Arc::new(RateLimiter::keyed(quota(per_account))),
            per_address: Arc::new(RateLimiter::keyed(quota(per_address))),
        }
    }

    /// Spends one unit of the address's budget (no address: nothing to count).
    pub fn check_address(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        match addr {
            Some(ip) => self
                .per_address
                .check_key(&ip)
                .map_err(|wait| retry_after(&wait)),
            None => Ok(()),
        }
    }

    /// Spends one unit of the account's budget.
    pub fn check_account(&self, username: &str) -> Result<(), ApiError> {
        self.per_account
            .check_key(&username.to_string())
            .map_err(|wait| retry_after(&wait))
    }

    /// Forgets keys whose budget is full again (bounded memory).
    pub fn forget_idle(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}

pub(crate) fn retry_after(wait: &governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    use governor::clock::{Clock, DefaultClock};
    let secs = wait
        .wait_time_from(DefaultClock::default().now())
        .as_secs_f64()
        .ceil() as u64;
    ApiError::rate_limited(secs.max(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_have_the_prefix_256_bits_and_a_short_indicator() {
        let issued = issue_token("laptop".into(), None).unwrap();
        assert!(issued.secret.starts_with("vst_"));
        assert_eq!(issued.secret.len(), 4 + 43);
        assert_eq!(issued.stored.hash, token_hash(&issued.secret));
        assert!(issued.stored.indicator.starts_with("vst_…"));
        assert!(issued.secret.ends_with(&issued.stored.indicator[7..]));
        let other = issue_token("laptop".into(), None).unwrap();
        assert_ne!(*issued.secret, *other.secret);
    }

    #[test]
    fn usernames_are_checked_and_folded() {
        assert_eq!(
            normalize_username("Alice@Example.com").unwrap(),
            "alice@example.com"
        );
        for bad in ["", " alice", "al\nice", &"x".repeat(129)] {
            assert!(normalize_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decoy_salts_are_stable_per_username() {
        let a = decoy_kdf(b"secret", "alice");
        assert_eq!(a, decoy_kdf(b"secret", "alice"));
        assert_ne!(a.salt, decoy_kdf(b"secret", "bob").salt);
        assert_ne!(a.salt, decoy_kdf(b"other", "alice").salt);
        assert_eq!(a.salt.len(), DECOY_SALT_LEN);
    }

    #[test]
    fn verifiers_need_32_bytes() {
        assert!(auth_verifier(&SecretBlob::new(vec![1; 31])).is_err());
        let v = auth_verifier(&SecretBlob::new(vec![1; 32])).unwrap();
        assert!(verifier_matches(&v, &v));
        assert!(!verifier_matches(&v[..31], &v));
    }
}
