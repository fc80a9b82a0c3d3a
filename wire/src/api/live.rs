//! The live channel (`PROTOCOL.md`, "Live updates"): a ticket for the WebSocket, and the
//! messages that cross it. Hints only: a hint names a vault and a cursor, never a record,
//! and a client pulls to learn what changed.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::{BearerToken, VaultId};

/// Every ticket starts with this prefix (a ticket is not a token: it opens one socket).
pub const TICKET_PREFIX: &str = "vse_";

/// How often each side sends a heartbeat, in seconds.
pub const HEARTBEAT_SECONDS: u64 = 20;

/// A socket that received nothing for this long is closed, in seconds.
pub const SILENCE_SECONDS: u64 = 60;

/// The longest `wait` of a long-poll on the changes route, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 25;

/// Answer to `POST /v1/events/ticket`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LiveTicket {
    /// `vse_` and 43 base64url characters: open `GET /v1/events?ticket=…` with it, once.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ticket: BearerToken,
    /// When it stops being accepted (Unix milliseconds).
    pub expires_at: i64,
}

crate::json_struct!(LiveTicket { ticket, expires_at });

/// A message from a client on the socket (JSON text frames, tagged by `t`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveRequest {
    /// Hints for this vault from now on; the server answers at once with a `changed`
    /// that carries the vault's current cursor (catch-up).
    Sub {
        /// One of the token's account's vaults.
        vault: VaultId,
        /// The client's cursor (informational: every hint carries the server's cursor).
        cursor: u64,
    },
    /// No more hints for this vault.
    Unsub {
        /// A vault subscribed before.
        vault: VaultId,
    },
    /// The client's heartbeat.
    Ping,
}

/// A message from the server on the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiveEvent {
    /// The vault's latest cursor: sent on subscribing and after each committed push.
    /// A hint only: pull from your cursor if this one is past it.
    Changed {
        /// The vault.
        vault: VaultId,
        /// Its latest cursor.
        cursor: u64,
    },
    /// A device asked to join the vault's account: list the pending link requests
    /// (`GET /v1/link-requests`) and show their phrases. A hint only, like `changed`.
    Link {
        /// The vault subscribed to.
        vault: VaultId,
    },
    /// The server's heartbeat.
    Ping,
}
