//! A vault: its envelope, pushes and changes.

use serde::{Deserialize, Serialize};

use crate::json::{FromJson, JsonError, ToJson, field, put};
use crate::{Blob, Kdf, RecordId, SecretBlob};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

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

crate::json_struct!(EnvelopeDoc {
    version,
    envelope,
    kdf
});

/// `PUT /v1/vaults/{vault_id}/envelope`: replace the envelope (password change, key
/// rotation, recovery).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutEnvelopeRequest {
    /// The version this change was made from; must equal the current one.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_990_u64))]
    pub base_version: u64,
    /// The new envelope.
    pub envelope: Blob,
    /// The KDF parameters of the new envelope.
    pub kdf: Kdf,
    /// The new auth key when the password changed; absent keeps the current one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 43, max_length = 43))]
    pub auth_key: Option<SecretBlob>,
}

crate::json_struct!(PutEnvelopeRequest {
    base_version,
    envelope,
    kdf,
    auth_key
});

/// Answer to an accepted envelope put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PutEnvelopeResponse {
    /// The envelope's new version (`base_version + 1`).
    pub version: u64,
}

crate::json_struct!(PutEnvelopeResponse { version });

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

crate::json_struct!(EnvelopeConflict { error, current });

/// The vault head as the server stores it (`FORMAT.md`, "Vault head"): opaque to the
/// server, which keeps the chain linear by its `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeadDoc {
    /// How many heads the vault has had: a push must name it as its `base_seq`.
    pub seq: u64,
    /// The sealed head (at most 1,650 bytes once decoded).
    pub head: Blob,
}

crate::json_struct!(HeadDoc { seq, head });

/// The longest sealed head, in bytes (a full device vector: `FORMAT.md`).
pub const MAX_HEAD_BYTES: usize = 1650;

/// `POST /v1/vaults/{vault_id}/push`: writes applied in one transaction, all or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The envelope version the writes were sealed against (the client's pinned one). A
    /// push is refused whole with 409 `ENVELOPE_CHANGED` unless it is the current version,
    /// so no write sealed under a retired key can land after a key rotation.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_991_u64))]
    pub envelope_version: u64,
    /// The head seq this push was made on (0: the vault has no head yet). A push is
    /// refused whole with 409 `HEAD_STALE` unless it is the stored seq, so heads form one
    /// chain.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_990_u64))]
    pub base_seq: u64,
    /// The vault head after this push, stored with it as seq `base_seq + 1`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 1, max_length = 2200))]
    pub head: Blob,
    /// One write per record; a record at most once; at most the server's
    /// `--max-push-items` (default 1000). May be empty (a push of the head alone).
    pub items: Vec<PushItem>,
}

crate::json_struct!(PushRequest {
    envelope_version,
    base_seq,
    head,
    items
});

/// One write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushItem {
    /// The record.
    pub record_id: RecordId,
    /// The version this write was made from: 0 creates, otherwise the current version.
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_990_u64))]
    pub base_version: u64,
    /// A tombstone.
    pub deleted: bool,
    /// The sealed record (`FORMAT.md`), sealed for its new version; at most the server's
    /// `--max-record-bytes` (default 1 MiB) once decoded.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 1))]
    pub ciphertext: Blob,
    /// The new version, when it is not `base_version + 1` (a re-seed writes versions above
    /// every one a device has seen); must be above `base_version`.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 9_007_199_254_740_991_u64)
    )]
    pub version: Option<u64>,
}

crate::json_struct!(PushItem {
    record_id,
    base_version,
    deleted,
    ciphertext,
    version
});

impl PushItem {
    /// The version this write creates.
    pub fn new_version(&self) -> u64 {
        self.version.unwrap_or(self.base_version + 1)
    }
}

/// Answer to a push: one result per item, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushResponse {
    /// One result per item, in the order of the request.
    pub results: Vec<PushResult>,
}

crate::json_struct!(PushResponse { results });

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
    /// Not stored because another write of the same push conflicted (a push is applied
    /// whole or not at all).
    Skipped {
        /// The record.
        record_id: RecordId,
    },
}

impl FromJson for PushResult {
    fn from_json(value: &serde_json::Value, at: &'static str) -> Result<Self, JsonError> {
        let object = crate::json::object(value, at)?;
        match object.get("status").and_then(serde_json::Value::as_str) {
            Some("applied") => Ok(Self::Applied {
                record_id: field(object, "record_id")?,
                version: field(object, "version")?,
                cursor: field(object, "cursor")?,
            }),
            Some("conflict") => Ok(Self::Conflict {
                record_id: field(object, "record_id")?,
                current: field(object, "current")?,
            }),
            Some("skipped") => Ok(Self::Skipped {
                record_id: field(object, "record_id")?,
            }),
            _ => Err(JsonError {
                at: "status",
                expected: "\"applied\", \"conflict\" or \"skipped\"",
            }),
        }
    }
}

impl ToJson for PushResult {
    fn to_json(&self) -> Option<serde_json::Value> {
        let mut object = serde_json::Map::new();
        match self {
            Self::Applied {
                record_id,
                version,
                cursor,
            } => {
                put(&mut object, "status", &"applied".to_string());
                put(&mut object, "record_id", record_id);
                put(&mut object, "version", version);
                put(&mut object, "cursor", cursor);
            }
            Self::Conflict { record_id, current } => {
                put(&mut object, "status", &"conflict".to_string());
                put(&mut object, "record_id", record_id);
                // `null` when the record does not exist: written, not omitted.
                object.insert(
                    "current".into(),
                    current.to_json().unwrap_or(serde_json::Value::Null),
                );
            }
            Self::Skipped { record_id } => {
                put(&mut object, "status", &"skipped".to_string());
                put(&mut object, "record_id", record_id);
            }
        }
        Some(serde_json::Value::Object(object))
    }
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

crate::json_struct!(Record {
    record_id,
    version,
    deleted,
    ciphertext,
    cursor
});

/// Answer to `GET /v1/vaults/{vault_id}/changes?since=C&limit=N`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangesResponse {
    /// Records whose last write has a cursor above `since`, in cursor order.
    pub changes: Vec<Record>,
    /// Pass this as the next `since`: the last change's cursor; on the last page
    /// (`more` false), the vault's latest cursor, never below the purge horizon.
    pub cursor: u64,
    /// More changes follow: ask again with `cursor`.
    pub more: bool,
    /// The envelope's current version: a client that knows an older one fetches the
    /// envelope (a password change or key rotation on another device).
    pub envelope_version: u64,
    /// On the last page: the vault head as of that page (read in the same snapshot);
    /// absent while the vault has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadDoc>,
}

crate::json_struct!(ChangesResponse {
    changes,
    cursor,
    more,
    envelope_version,
    head
});

/// Answer 409 `HEAD_STALE` to a push whose `base_seq` is not the stored one, and 410
/// `SERVER_BEHIND` to changes asked from a cursor the server has not reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeadRefusal {
    /// Code `HEAD_STALE` or `SERVER_BEHIND`.
    pub error: crate::ErrorDetail,
    /// The vault head as it is now (`null` when the vault has none).
    pub head: Option<HeadDoc>,
}

crate::json_struct!(HeadRefusal { error, head });
