//! Devices and linking (`PROTOCOL.md`, "Devices and linking"): an account's devices, and a
//! new device's request to join, approved by one of them with an HPKE payload the server
//! cannot open.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::{Blob, SecretBlob, Session};

/// How long a link request waits for an approval, in milliseconds (15 minutes).
pub const LINK_LIFE_MS: i64 = 15 * 60 * 1000;

/// `POST /v1/link-requests`: a new device asks to join `username`'s account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The account.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub username: String,
    /// 16 random bytes chosen by the new device.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 22, max_length = 22))]
    pub request_id: Blob,
    /// The new device's X25519 public key (32 bytes).
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub public_key: Blob,
    /// What the other devices show (e.g. "Firefox on the laptop").
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub label: String,
    /// 32 random bytes only the new device knows: it claims the answer with them.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub secret: SecretBlob,
}

crate::json_struct!(LinkRequest {
    username,
    request_id,
    public_key,
    label,
    secret
});

/// Answer to a link request: when it expires (Unix milliseconds). The same for every
/// username, with an account or without.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LinkPending {
    /// When the request stops being approvable.
    pub expires_at: i64,
}

crate::json_struct!(LinkPending { expires_at });

/// A pending link request, as the account's devices see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PendingLink {
    /// The request id (16 bytes).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub request_id: Blob,
    /// The new device's public key (32 bytes): the link phrase is computed from it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub public_key: Blob,
    /// Its label.
    pub label: String,
    /// When it was asked (Unix milliseconds).
    pub created_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

crate::json_struct!(PendingLink {
    request_id,
    public_key,
    label,
    created_at,
    expires_at
});

/// `GET /v1/link-requests`: the account's pending requests, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LinkList {
    /// Pending, unexpired requests.
    pub requests: Vec<PendingLink>,
}

crate::json_struct!(LinkList { requests });

/// `POST /v1/link-requests/{id}/approve`: the payload sealed to the new device's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkApproval {
    /// HPKE `enc` (32 bytes).
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub enc: Blob,
    /// HPKE ciphertext (FORMAT.md, "Device linking"), at most 4 KiB.
    #[cfg_attr(feature = "openapi", schema(value_type = String, max_length = 5462))]
    pub payload: Blob,
}

crate::json_struct!(LinkApproval { enc, payload });

/// `POST /v1/link-requests/{id}/claim`: the new device's secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkClaim {
    /// The secret sent with the request.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 43, max_length = 43))]
    pub secret: SecretBlob,
}

crate::json_struct!(LinkClaim { secret });

/// Answer to a claim. `pending` also for a request the server does not know (or a wrong
/// secret): nothing tells a username with an account from one without.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LinkAnswer {
    /// `pending`, `approved` (the payload and a session, once), `denied`, `expired` or
    /// `spent` (already claimed).
    pub state: String,
    /// HPKE `enc`, when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub enc: Option<Blob>,
    /// HPKE ciphertext, when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub payload: Option<Blob>,
    /// The new device's session (its token, issued now and shown this once), when
    /// approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

crate::json_struct!(LinkAnswer {
    state,
    enc,
    payload,
    session
});

/// A device of the account. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceInfo {
    /// Its id (for `DELETE /v1/devices/{id}`).
    pub id: u64,
    /// Its label.
    pub label: String,
    /// Its X25519 public key, when it has one (a linked device).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub public_key: Option<Blob>,
    /// When it joined.
    pub created_at: i64,
    /// When one of its tokens was last used (to the minute).
    pub last_seen_at: Option<i64>,
    /// The device asking.
    pub current: bool,
}

crate::json_struct!(DeviceInfo {
    id,
    label,
    public_key,
    created_at,
    last_seen_at,
    current
});

/// `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceList {
    /// Devices not revoked, newest first.
    pub devices: Vec<DeviceInfo>,
}

crate::json_struct!(DeviceList { devices });
