//! Errors of a vault's operations: unlocking and changing an envelope, sealing and
//! opening records, changing the keyring.

use core::fmt;

use super::{FormatError, KdfError, NewKdfError, RandomError};
use crate::code::Code;

/// An envelope could not be unlocked, created or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlockError {
    /// The password does not match the envelope (its check value differs).
    WrongPassword,
    /// The recovery code does not match the envelope.
    WrongRecoveryCode,
    /// The check value matched but the envelope failed authentication.
    Tampered,
    /// The envelope's KDF parameters were refused.
    Kdf(KdfError),
    /// The envelope could not be parsed.
    Format(FormatError),
    /// A recovery code was not well-formed (wrong length or characters).
    MalformedRecoveryCode,
    /// No randomness was available.
    Random(RandomError),
    /// A session secret that does not open the session slot (another secret, another
    /// vault's slot, a modified slot).
    SessionInvalid,
}

impl UnlockError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        match self {
            Self::WrongPassword => Code::WrongPassword,
            Self::WrongRecoveryCode => Code::WrongRecoveryCode,
            Self::Tampered => Code::Tampered,
            Self::Kdf(e) => e.code(),
            Self::Format(e) => e.code(),
            Self::MalformedRecoveryCode => Code::BadInput,
            Self::Random(_) => Code::RandomUnavailable,
            Self::SessionInvalid => Code::SessionInvalid,
        }
    }
}

impl fmt::Display for UnlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongPassword => f.write_str("wrong password"),
            Self::WrongRecoveryCode => f.write_str("wrong recovery code"),
            Self::Tampered => f.write_str("the envelope failed authentication"),
            Self::Kdf(e) => write!(f, "KDF parameters refused: {e}"),
            Self::Format(e) => write!(f, "malformed envelope: {e}"),
            Self::MalformedRecoveryCode => f.write_str(
                "a recovery code is 32 characters of 0-9 and A-Z (without I, L, O, U), in groups",
            ),
            Self::Random(e) => e.fmt(f),
            Self::SessionInvalid => f.write_str(
                "the session secret does not open this device's session: unlock with the password",
            ),
        }
    }
}

impl std::error::Error for UnlockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Kdf(e) => Some(e),
            Self::Format(e) => Some(e),
            Self::Random(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KdfError> for UnlockError {
    fn from(e: KdfError) -> Self {
        Self::Kdf(e)
    }
}

impl From<FormatError> for UnlockError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

impl From<RandomError> for UnlockError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

/// A record could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The record failed authentication (modified, moved, replayed or under another key).
    Tampered,
    /// The record names a key id this vault's keyring does not hold.
    UnknownKeyId {
        /// The key id found.
        key_id: u32,
    },
    /// The record could not be parsed.
    Format(FormatError),
    /// The plaintext is larger than allowed.
    TooLarge {
        /// Length given, in bytes.
        len: usize,
        /// The largest plaintext allowed, [`crate::record::MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// Record metadata was out of range (version 0 or above 2^53 - 1, bad record id).
    BadMeta {
        /// What was wrong.
        field: &'static str,
    },
    /// A tombstone was given a plaintext: a tombstone's plaintext is empty (FORMAT.md).
    TombstoneNotEmpty,
    /// No randomness was available.
    Random(RandomError),
}

impl RecordError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        match self {
            Self::Tampered => Code::Tampered,
            Self::UnknownKeyId { .. } => Code::UnknownKey,
            Self::Format(e) => e.code(),
            Self::TooLarge { .. } | Self::BadMeta { .. } | Self::TombstoneNotEmpty => {
                Code::BadInput
            }
            Self::Random(_) => Code::RandomUnavailable,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tampered => f.write_str("the record failed authentication"),
            Self::UnknownKeyId { key_id } => {
                write!(
                    f,
                    "the record is sealed under key id {key_id}, which this vault does not hold"
                )
            }
            Self::Format(e) => write!(f, "malformed record: {e}"),
            Self::TooLarge { len, max } => write!(
                f,
                "record plaintext of {len} bytes exceeds the maximum of {max}"
            ),
            Self::BadMeta { field } => write!(f, "invalid record metadata: `{field}`"),
            Self::TombstoneNotEmpty => f.write_str("a tombstone's plaintext must be empty"),
            Self::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Format(e) => Some(e),
            Self::Random(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FormatError> for RecordError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

impl From<RandomError> for RecordError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

/// A keyring change (rotation, retiring a key) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// The keyring already holds the maximum number of keys; retire an old one first.
    Full {
        /// The most keys a keyring holds.
        max: usize,
    },
    /// The current key cannot be retired.
    CurrentKey,
    /// No key with this id is in the keyring.
    NoSuchKey {
        /// The key id asked for.
        key_id: u32,
    },
    /// No randomness was available.
    Random(RandomError),
}

impl KeyringError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        match self {
            Self::Full { .. } => Code::KeyringFull,
            Self::CurrentKey => Code::BadInput,
            Self::NoSuchKey { .. } => Code::UnknownKey,
            Self::Random(_) => Code::RandomUnavailable,
        }
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { max } => write!(
                f,
                "the keyring holds the maximum of {max} keys; retire an old key first"
            ),
            Self::CurrentKey => f.write_str("the current key cannot be retired"),
            Self::NoSuchKey { key_id } => write!(f, "no key with id {key_id} in the keyring"),
            Self::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Random(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RandomError> for KeyringError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

impl From<NewKdfError> for UnlockError {
    fn from(e: NewKdfError) -> Self {
        match e {
            NewKdfError::Kdf(e) => Self::Kdf(e),
            NewKdfError::Random(e) => Self::Random(e),
        }
    }
}
