//! [`ClientError`]: why an operation of the native client failed.

use core::fmt;

use crate::code::Code;
use crate::crypto::{KdfError, NewKdfError, UnlockError};
use crate::sync::{OpError, SyncError};

/// Why a client operation failed. Local data is consistent whenever one is returned:
/// nothing is half-applied, and the operation can be called again.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// No answer from the server (unreachable, timed out).
    Network(String),
    /// The operation stopped: the server refused (with its code), the engine refused an
    /// answer (`TAMPERED`, `ROLLBACK`, …), the envelope did not unlock, ….
    Op(OpError),
    /// The server URL is not `http://` or `https://`.
    BadServerUrl,
    /// The store file refused a read or a write (feature `store`).
    Store(String),
    /// No store file at this path (feature `store`): log in first.
    NoStore(String),
}

impl ClientError {
    /// A stable code, the same as the npm package's errors.
    pub fn code(&self) -> Code {
        match self {
            Self::Network(_) => Code::Network,
            Self::Op(e) => e.code(),
            Self::BadServerUrl => Code::BadInput,
            Self::Store(_) => Code::StoreFailed,
            Self::NoStore(_) => Code::NoStore,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(e) => write!(f, "no answer from the server: {e}"),
            Self::Op(e) => e.fmt(f),
            Self::BadServerUrl => f.write_str("the server URL must start with http:// or https://"),
            Self::Store(e) => write!(f, "the store file failed: {e}"),
            Self::NoStore(path) => write!(f, "no vaultsync store at {path}: log in first"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Op(e) => Some(e),
            Self::Network(_) | Self::BadServerUrl | Self::Store(_) | Self::NoStore(_) => None,
        }
    }
}

impl From<OpError> for ClientError {
    fn from(e: OpError) -> Self {
        Self::Op(e)
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        Self::Op(OpError::Sync(e))
    }
}

impl From<UnlockError> for ClientError {
    fn from(e: UnlockError) -> Self {
        Self::Op(OpError::Unlock(e))
    }
}

impl From<KdfError> for ClientError {
    fn from(e: KdfError) -> Self {
        Self::Op(OpError::Unlock(UnlockError::Kdf(e)))
    }
}

impl From<NewKdfError> for ClientError {
    fn from(e: NewKdfError) -> Self {
        Self::Op(OpError::Unlock(e.into()))
    }
}
