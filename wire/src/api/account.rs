//! Accounts: key derivation, register, prelogin, login, recovery and tokens.

use serde::{Deserialize, Serialize};

use crate::json::{FromJson, JsonError, ToJson};
use crate::{BearerToken, Blob, SecretBlob, VaultId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The key-derivation function of a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum KdfAlgorithm {
    /// PBKDF2-HMAC-SHA256 (`FORMAT.md`).
    #[serde(rename = "pbkdf2-sha256")]
    Pbkdf2Sha256,
}

impl FromJson for KdfAlgorithm {
    fn from_json(value: &serde_json::Value, at: &'static str) -> Result<Self, JsonError> {
        match value.as_str() {
            Some("pbkdf2-sha256") => Ok(Self::Pbkdf2Sha256),
            _ => Err(JsonError {
                at,
                expected: "\"pbkdf2-sha256\"",
            }),
        }
    }
}

impl ToJson for KdfAlgorithm {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Self::Pbkdf2Sha256 => "pbkdf2-sha256".into(),
        })
    }
}

/// KDF parameters as stored by the server and answered by prelogin. The envelope binds
/// them too, so a client checks them against its own floor and the envelope, never trusts
/// them alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// The algorithm.
    pub algorithm: KdfAlgorithm,
    /// PBKDF2 iterations.
    #[cfg_attr(feature = "openapi", schema(minimum = 100_000, maximum = 10_000_000))]
    pub iterations: u32,
    /// The salt (16 to 64 bytes).
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 22, max_length = 86, pattern = "^[A-Za-z0-9_-]*$"))]
    pub salt: Blob,
}

crate::json_struct!(Kdf {
    algorithm,
    iterations,
    salt
});

/// `POST /v1/accounts`: create an account and its vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1 to 128 characters, no control characters; compared case-insensitively (ASCII).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
    /// The 32-byte auth key derived from the password (`FORMAT.md`); the server stores
    /// only its SHA-256.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub auth_key: SecretBlob,
    /// The KDF parameters the envelope was made with.
    pub kdf: Kdf,
    /// The vault's id (chosen by the client, bound into the envelope).
    pub vault_id: VaultId,
    /// The wrapped-key envelope (opaque to the server); at most the server's
    /// `--max-envelope-bytes` (default 64 KiB).
    pub envelope: Blob,
    /// The 32-byte recovery auth key derived from the recovery code (`FORMAT.md`); the
    /// server stores only its SHA-256, so that `POST /v1/recover` can log in a user who
    /// forgot the password.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub recovery_key: SecretBlob,
    /// A label for the device token issued now (default `"device"`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub token_label: Option<String>,
}

crate::json_struct!(RegisterRequest {
    username,
    auth_key,
    kdf,
    vault_id,
    envelope,
    recovery_key,
    token_label
});

/// Answer to register and login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    /// The account's vault.
    pub vault_id: VaultId,
    /// The envelope's current version.
    pub envelope_version: u64,
    /// The new device token.
    pub token: IssuedToken,
}

crate::json_struct!(Session {
    vault_id,
    envelope_version,
    token
});

/// A token as issued: the secret is shown this once and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IssuedToken {
    /// `vst_` and 43 characters (256 random bits); send as `Authorization: Bearer …`.
    pub secret: BearerToken,
    /// What listing shows about it.
    pub info: TokenInfo,
}

crate::json_struct!(IssuedToken { secret, info });

/// A token as listed. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenInfo {
    /// The id used to revoke it.
    pub id: u64,
    /// `vst_…` and the last 4 characters, to recognise a token without revealing it.
    pub indicator: String,
    /// The label given at login.
    pub label: String,
    /// Creation time.
    pub created_at: i64,
    /// Last use, to the minute (not written on every request); `null` if never used.
    pub last_used_at: Option<i64>,
    /// Expiry; `null` means never.
    pub expires_at: Option<i64>,
    /// This is the token the request was made with.
    pub current: bool,
}

crate::json_struct!(TokenInfo {
    id,
    indicator,
    label,
    created_at,
    last_used_at,
    expires_at,
    current
});

/// `POST /v1/prelogin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreloginRequest {
    /// The username.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
}

crate::json_struct!(PreloginRequest { username });

/// Answer to prelogin: alike in shape and timing whether or not the account exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreloginResponse {
    /// The parameters to derive the auth key with.
    pub kdf: Kdf,
}

crate::json_struct!(PreloginResponse { kdf });

/// `POST /v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
    /// The 32-byte auth key derived with the prelogin parameters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub auth_key: SecretBlob,
    /// A label for the new token (default `"device"`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub token_label: Option<String>,
    /// Lifetime of the new token in seconds; absent means it never expires.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315_360_000))]
    pub token_ttl_secs: Option<u64>,
}

crate::json_struct!(LoginRequest {
    username,
    auth_key,
    token_label,
    token_ttl_secs
});

/// `POST /v1/recover`: log in with the recovery code instead of the password (the password
/// is forgotten). The client then unlocks the envelope with the recovery code and sets a
/// new password with an envelope put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// The username.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
    /// The 32-byte recovery auth key derived from the recovery code (`FORMAT.md`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub recovery_key: SecretBlob,
    /// A label for the new token (default `"device"`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub token_label: Option<String>,
    /// Lifetime of the new token in seconds; absent means it never expires.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 315_360_000))]
    pub token_ttl_secs: Option<u64>,
}

crate::json_struct!(RecoverRequest {
    username,
    recovery_key,
    token_label,
    token_ttl_secs
});

/// `GET /v1/tokens`: the account's live tokens, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenList {
    /// Tokens neither revoked nor expired.
    pub tokens: Vec<TokenInfo>,
}

crate::json_struct!(TokenList { tokens });
