//! [`ClientError`]: why an operation of the native client failed.

use core::fmt;

use vaultsync_wire as wire;

use crate::crypto::{KdfError, KeyringError, UnlockError};
use crate::sync::account::LoginCheck;
use crate::sync::{OpError, SyncError};

/// Why a client operation failed. Local data is consistent whenever one is returned:
/// nothing is half-applied, and the operation can be called again.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the request with a code (PROTOCOL.md).
    Server {
        /// HTTP status.
        status: u16,
        /// The stable code.
        code: wire::ErrorCode,
        /// The server's message.
        message: String,
    },
    /// No answer from the server (unreachable, timed out).
    Network(String),
    /// The server answered something that is not the protocol.
    BadAnswer(String),
    /// The envelope did not unlock (wrong password, tampered, …).
    Unlock(UnlockError),
    /// The server offered KDF parameters outside the client's bounds.
    Kdf(KdfError),
    /// The envelope's KDF parameters differ from the ones prelogin answered.
    KdfMismatch,
    /// The engine refused an answer or the saved session.
    Sync(SyncError),
    /// A key rotation could not change the keyring.
    Keyring(KeyringError),
    /// A key rotation met other devices' writes in every pass; rotate again to finish.
    RotationIncomplete,
    /// The server URL is not `http://` or `https://`.
    BadServerUrl,
}

impl ClientError {
    /// A stable code, the same strings as the npm package's errors.
    pub fn code(&self) -> &str {
        match self {
            Self::Server { code, .. } => code.as_str(),
            Self::Network(_) => "NETWORK",
            Self::BadAnswer(_) => "BAD_ANSWER",
            Self::Unlock(e) => e.code(),
            Self::Kdf(e) => e.code(),
            Self::KdfMismatch => "KDF_MISMATCH",
            Self::Sync(e) => e.code(),
            Self::Keyring(e) => e.code(),
            Self::RotationIncomplete => "ROTATION_INCOMPLETE",
            Self::BadServerUrl => "BAD_INPUT",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server {
                status,
                code,
                message,
            } => write!(f, "the server refused ({status} {code}): {message}"),
            Self::Network(e) => write!(f, "no answer from the server: {e}"),
            Self::BadAnswer(e) => write!(f, "unexpected answer from the server: {e}"),
            Self::Unlock(e) => write!(f, "{e}"),
            Self::Kdf(e) => write!(f, "{e}"),
            Self::KdfMismatch => {
                f.write_str("the envelope's KDF parameters differ from the ones prelogin answered")
            }
            Self::Sync(e) => write!(f, "{e}"),
            Self::Keyring(e) => write!(f, "{e}"),
            Self::RotationIncomplete => f.write_str(&OpError::RotationIncomplete.to_string()),
            Self::BadServerUrl => f.write_str("the server URL must start with http:// or https://"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

impl From<UnlockError> for ClientError {
    fn from(e: UnlockError) -> Self {
        Self::Unlock(e)
    }
}

impl From<LoginCheck> for ClientError {
    fn from(e: LoginCheck) -> Self {
        match e {
            LoginCheck::Unlock(e) => Self::Unlock(e),
            LoginCheck::KdfMismatch => Self::KdfMismatch,
            LoginCheck::OtherVault => Self::Unlock(UnlockError::Tampered),
        }
    }
}

impl From<OpError> for ClientError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Sync(e) => Self::Sync(e),
            OpError::Refused(r) if r.code == wire::ErrorCode::Unknown => Self::BadAnswer(r.message),
            OpError::Refused(r) => Self::Server {
                status: r.status,
                code: r.code,
                message: r.message,
            },
            OpError::Keyring(e) => Self::Keyring(e),
            OpError::Unlock(e) => Self::Unlock(e),
            _ => Self::RotationIncomplete,
        }
    }
}
