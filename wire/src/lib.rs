//! # vaultsync-wire
//!
//! The one definition of every message of the vaultsync HTTP/JSON API (`PROTOCOL.md`),
//! shared by the client (`vaultsync`) and the server (`vaultsync-server`). No cryptography
//! and no IO live here: the server links this crate, never the client's crypto.
//!
//! Binary values travel as unpadded base64url strings ([`Blob`], [`RecordId`],
//! [`VaultId`]); integers are JSON numbers no larger than [`MAX_VERSION`] so that
//! JavaScript reads them exactly. Requests refuse unknown fields.

mod api;
mod blob;
mod error;
mod ids;
pub mod json;
pub mod kdf;
mod secret;

pub use api::*;
pub use blob::Blob;
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{ID_LEN, IdError, RecordId, VaultId};
pub use secret::{BearerToken, SecretBlob};

/// The largest record version, cursor or envelope version: 2^53 - 1, the largest integer a
/// JavaScript number holds exactly.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// Every bearer token starts with this prefix, so that secret scanners and people
/// recognise one.
pub const TOKEN_PREFIX: &str = "vst_";
