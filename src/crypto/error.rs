//! Typed errors, one per concern. Each has a stable `code()` used at the JS boundary.
//!
//! A failed decryption or unwrap never says why: [`UnlockError::Tampered`] and
//! [`RecordError::Tampered`] carry no detail.

use core::fmt;

/// A binary value (envelope, record) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The input was empty.
    Empty,
    /// The leading format byte is not one this version understands.
    UnsupportedFormat {
        /// The format byte found.
        found: u8,
    },
    /// The input ended before a field was complete.
    Truncated,
    /// Bytes were left over after the last field.
    TrailingBytes,
    /// A field holds a value the format does not allow.
    InvalidField {
        /// The field's name, as in FORMAT.md.
        field: &'static str,
    },
    /// A text value was not valid unpadded base64url.
    Base64,
}

impl FormatError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedFormat { .. } => "UNSUPPORTED_FORMAT",
            _ => "BAD_INPUT",
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("input is empty"),
            Self::UnsupportedFormat { found } => {
                write!(f, "unsupported format byte 0x{found:02x}")
            }
            Self::Truncated => f.write_str("input is truncated"),
            Self::TrailingBytes => f.write_str("unexpected bytes after the last field"),
            Self::InvalidField { field } => write!(f, "invalid value in field `{field}`"),
            Self::Base64 => f.write_str("not valid unpadded base64url"),
        }
    }
}

impl std::error::Error for FormatError {}

/// KDF parameters were refused before any work was done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdfError {
    /// Fewer iterations than the client's floor.
    TooWeak {
        /// Iterations asked for.
        iterations: u32,
        /// The floor, [`crate::crypto::kdf::MIN_ITERATIONS`].
        minimum: u32,
    },
    /// More iterations than the client's ceiling (a denial of service).
    TooExpensive {
        /// Iterations asked for.
        iterations: u32,
        /// The ceiling, [`crate::crypto::kdf::MAX_ITERATIONS`].
        maximum: u32,
    },
    /// The salt is shorter or longer than allowed.
    SaltLength {
        /// Length found, in bytes.
        len: usize,
    },
    /// An unknown KDF algorithm identifier.
    UnknownAlgorithm {
        /// The identifier found.
        id: u8,
    },
}

impl KdfError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooWeak { .. } | Self::SaltLength { .. } => "KDF_TOO_WEAK",
            Self::TooExpensive { .. } => "KDF_TOO_EXPENSIVE",
            Self::UnknownAlgorithm { .. } => "UNSUPPORTED_FORMAT",
        }
    }
}

impl fmt::Display for KdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooWeak {
                iterations,
                minimum,
            } => write!(
                f,
                "KDF iterations {iterations} are below the minimum of {minimum}"
            ),
            Self::TooExpensive {
                iterations,
                maximum,
            } => write!(
                f,
                "KDF iterations {iterations} are above the maximum of {maximum}"
            ),
            Self::SaltLength { len } => write!(
                f,
                "KDF salt of {len} bytes is outside {}..={}",
                crate::crypto::kdf::MIN_SALT_LEN,
                crate::crypto::kdf::MAX_SALT_LEN
            ),
            Self::UnknownAlgorithm { id } => write!(f, "unknown KDF algorithm {id}"),
        }
    }
}

impl std::error::Error for KdfError {}

/// The operating system's random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator is unavailable")
    }
}

impl std::error::Error for RandomError {}

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
}

impl UnlockError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongPassword => "WRONG_PASSWORD",
            Self::WrongRecoveryCode => "WRONG_RECOVERY_CODE",
            Self::Tampered => "TAMPERED",
            Self::Kdf(e) => e.code(),
            Self::Format(e) => e.code(),
            Self::MalformedRecoveryCode => "BAD_INPUT",
            Self::Random(_) => "RANDOM_UNAVAILABLE",
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
    /// The plaintext is larger than [`crate::crypto::record::MAX_PLAINTEXT_LEN`].
    TooLarge {
        /// Length given, in bytes.
        len: usize,
    },
    /// Record metadata was out of range (version 0 or above 2^53 - 1, bad record id).
    BadMeta {
        /// What was wrong.
        field: &'static str,
    },
    /// No randomness was available.
    Random(RandomError),
}

impl RecordError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Tampered => "TAMPERED",
            Self::UnknownKeyId { .. } => "UNKNOWN_KEY",
            Self::Format(e) => e.code(),
            Self::TooLarge { .. } | Self::BadMeta { .. } => "BAD_INPUT",
            Self::Random(_) => "RANDOM_UNAVAILABLE",
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
            Self::TooLarge { len } => write!(
                f,
                "record plaintext of {len} bytes exceeds the maximum of {}",
                crate::crypto::record::MAX_PLAINTEXT_LEN
            ),
            Self::BadMeta { field } => write!(f, "invalid record metadata: `{field}`"),
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
    Full,
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
    pub fn code(&self) -> &'static str {
        match self {
            Self::Full => "KEYRING_FULL",
            Self::CurrentKey => "BAD_INPUT",
            Self::NoSuchKey { .. } => "UNKNOWN_KEY",
            Self::Random(_) => "RANDOM_UNAVAILABLE",
        }
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(
                f,
                "the keyring holds the maximum of {} keys; retire an old key first",
                crate::crypto::envelope::MAX_KEYS
            ),
            Self::CurrentKey => f.write_str("the current key cannot be retired"),
            Self::NoSuchKey { key_id } => write!(f, "no key with id {key_id} in the keyring"),
            Self::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeyringError {}

impl From<RandomError> for KeyringError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}
