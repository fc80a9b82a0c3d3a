//! Requests and answers of every route, in the order of `PROTOCOL.md`.

use serde::{Deserialize, Serialize};

use crate::{Blob, RecordId, VaultId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// Always `"ok"` when answered with 200.
    pub status: String,
    /// `"sqlite"` or `"postgres"`.
    pub database: String,
}

/// The key-derivation function of a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum KdfAlgorithm {
    /// PBKDF2-HMAC-SHA256 (`FORMAT.md`).
    #[serde(rename = "pbkdf2-sha256")]
    Pbkdf2Sha256,
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
    pub iterations: u32,
    /// The salt (16 to 64 bytes).
    pub salt: Blob,
}

/// `POST /v1/accounts`: create an account and its vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1 to 128 characters, no control characters; compared case-insensitively (ASCII).
    pub username: String,
    /// The 32-byte auth key derived from the password (`FORMAT.md`); the server stores
    /// only its SHA-256.
    pub auth_key: Blob,
    /// The KDF parameters the envelope was made with.
    pub kdf: Kdf,
    /// The vault's id (chosen by the client, bound into the envelope).
    pub vault_id: VaultId,
    /// The wrapped-key envelope (opaque to the server).
    pub envelope: Blob,
    /// The 32-byte recovery auth key derived from the recovery code (`FORMAT.md`); the
    /// server stores only its SHA-256, so that `POST /v1/recover` can log in a user who
    /// forgot the password.
    pub recovery_key: Blob,
    /// A label for the device token issued now (default `"device"`).
    #[serde(default)]
    pub token_label: Option<String>,
}

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

/// A token as issued: the secret is shown this once and never again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IssuedToken {
    /// `vst_` and 43 characters (256 random bits); send as `Authorization: Bearer …`.
    pub secret: String,
    /// What listing shows about it.
    pub info: TokenInfo,
}

impl core::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("secret", &"[redacted]")
            .field("info", &self.info)
            .finish()
    }
}

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

/// `POST /v1/prelogin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreloginRequest {
    /// The username.
    pub username: String,
}

/// Answer to prelogin: alike in shape and timing whether or not the account exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreloginResponse {
    /// The parameters to derive the auth key with.
    pub kdf: Kdf,
}

/// `POST /v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username.
    pub username: String,
    /// The 32-byte auth key derived with the prelogin parameters.
    pub auth_key: Blob,
    /// A label for the new token (default `"device"`).
    #[serde(default)]
    pub token_label: Option<String>,
    /// Lifetime of the new token in seconds; absent means it never expires.
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
}

/// `POST /v1/recover`: log in with the recovery code instead of the password (the password
/// is forgotten). The client then unlocks the envelope with the recovery code and sets a
/// new password with an envelope put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// The username.
    pub username: String,
    /// The 32-byte recovery auth key derived from the recovery code (`FORMAT.md`).
    pub recovery_key: Blob,
    /// A label for the new token (default `"device"`).
    #[serde(default)]
    pub token_label: Option<String>,
    /// Lifetime of the new token in seconds; absent means it never expires.
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
}

/// `GET /v1/tokens`: the account's live tokens, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenList {
    /// Tokens neither revoked nor expired.
    pub tokens: Vec<TokenInfo>,
}

/// `GET /v1/vaults/{vault_id}/envelope`, and the current copy in a 409.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnvelopeDoc {
    /// Starts at 1; grows by one with each accepted put.
    pub version: u64,
    /// The wrapped-key envelope.
    pub envelope: Blob,
    /// The KDF parameters stored with it (answered by prelogin).
    pub kdf: Kdf,
}

/// `PUT /v1/vaults/{vault_id}/envelope`: replace the envelope (password change, key
/// rotation, recovery).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutEnvelopeRequest {
    /// The version this change was made from; must equal the current one.
    pub base_version: u64,
    /// The new envelope.
    pub envelope: Blob,
    /// The KDF parameters of the new envelope.
    pub kdf: Kdf,
    /// The new auth key when the password changed; absent keeps the current one.
    #[serde(default)]
    pub auth_key: Option<Blob>,
}

/// Answer to an accepted envelope put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PutEnvelopeResponse {
    /// The envelope's new version (`base_version + 1`).
    pub version: u64,
}

/// Answer 409 to an envelope put from a stale version (`CONFLICT`), and to a push sealed
/// against an envelope that is no longer current (`ENVELOPE_CHANGED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnvelopeConflict {
    /// Code `CONFLICT` or `ENVELOPE_CHANGED`.
    pub error: crate::ErrorDetail,
    /// The envelope as it is now.
    pub current: EnvelopeDoc,
}

/// `POST /v1/vaults/{vault_id}/push`: writes applied in one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The envelope version the writes were sealed against (the client's pinned one). A
    /// push is refused whole with 409 `ENVELOPE_CHANGED` unless it is the current version,
    /// so no write sealed under a retired key can land after a key rotation.
    pub envelope_version: u64,
    /// One write per record; a record at most once.
    pub items: Vec<PushItem>,
}

/// One write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushItem {
    /// The record.
    pub record_id: RecordId,
    /// The version this write was made from: 0 creates, otherwise the current version.
    pub base_version: u64,
    /// A tombstone.
    pub deleted: bool,
    /// The sealed record (`FORMAT.md`), sealed for version `base_version + 1`.
    pub ciphertext: Blob,
}

/// Answer to a push: one result per item, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushResponse {
    /// One result per item, in the order of the request.
    pub results: Vec<PushResult>,
}

/// The outcome of one write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PushResult {
    /// Stored (or stored by an earlier attempt of the same write: a retry whose answer
    /// was lost is recognised by its identical ciphertext and answered alike).
    Applied {
        /// The record.
        record_id: RecordId,
        /// Its new version.
        version: u64,
        /// The change cursor of this write.
        cursor: u64,
    },
    /// Not stored: `base_version` is not the current version.
    Conflict {
        /// The record.
        record_id: RecordId,
        /// The server's current copy; `null` when the record does not exist.
        current: Option<Record>,
    },
}

/// A record as stored, and as a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Record {
    /// The record.
    pub record_id: RecordId,
    /// Its version (from 1).
    pub version: u64,
    /// A tombstone.
    pub deleted: bool,
    /// The sealed record.
    pub ciphertext: Blob,
    /// The change cursor of its last write.
    pub cursor: u64,
}

/// Answer to `GET /v1/vaults/{vault_id}/changes?since=C&limit=N`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangesResponse {
    /// Records whose last write has a cursor above `since`, in cursor order.
    pub changes: Vec<Record>,
    /// Pass this as the next `since`: the last change's cursor, or `since` if none.
    pub cursor: u64,
    /// More changes follow: ask again with `cursor`.
    pub more: bool,
    /// The envelope's current version: a client that knows an older one fetches the
    /// envelope (a password change or key rotation on another device).
    pub envelope_version: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn push_results_are_tagged_by_status() {
        let id = RecordId::from_bytes([1; 16]);
        let applied = PushResult::Applied {
            record_id: id,
            version: 2,
            cursor: 9,
        };
        let json = serde_json::to_value(&applied).unwrap();
        assert_eq!(json["status"], "applied");
        assert_eq!(json["cursor"], 9);
        let conflict = PushResult::Conflict {
            record_id: id,
            current: None,
        };
        let json = serde_json::to_value(&conflict).unwrap();
        assert_eq!(json["status"], "conflict");
        assert!(json["current"].is_null());
    }

    #[test]
    fn requests_refuse_unknown_fields_and_negative_versions() {
        let item = r#"{"record_id":"AQEBAQEBAQEBAQEBAQEBAQ","base_version":0,"deleted":false,"ciphertext":""}"#;
        assert!(serde_json::from_str::<PushItem>(item).is_ok());
        let extra = item.replace("}", r#","extra":1}"#);
        assert!(serde_json::from_str::<PushItem>(&extra).is_err());
        let negative = item.replace(r#""base_version":0"#, r#""base_version":-1"#);
        assert!(serde_json::from_str::<PushItem>(&negative).is_err());
    }

    #[test]
    fn issued_tokens_do_not_print_their_secret() {
        let token = IssuedToken {
            secret: "vst_secret".into(),
            info: TokenInfo {
                id: 1,
                indicator: "vst_…cret".into(),
                label: "device".into(),
                created_at: 0,
                last_used_at: None,
                expires_at: None,
                current: false,
            },
        };
        assert!(!format!("{token:?}").contains("vst_secret"));
    }
}
