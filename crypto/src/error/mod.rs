//! Typed errors, one per concern. Each has a stable `code()` used at the JS boundary.
//!
//! A failed decryption or unwrap never says why: [`UnlockError::Tampered`] and
//! [`RecordError::Tampered`] carry no detail.

use core::fmt;

use crate::code::Code;

mod vault;

pub use vault::{KeyringError, RecordError, UnlockError};

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
    pub fn code(&self) -> Code {
        match self {
            Self::UnsupportedFormat { .. } => Code::UnsupportedFormat,
            _ => Code::BadInput,
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
        /// The floor, [`crate::kdf::MIN_ITERATIONS`].
        minimum: u32,
    },
    /// More iterations than the client's ceiling (a denial of service).
    TooExpensive {
        /// Iterations asked for.
        iterations: u32,
        /// The ceiling, [`crate::kdf::MAX_ITERATIONS`].
        maximum: u32,
    },
    /// The salt is shorter or longer than allowed.
    SaltLength {
        /// Length found, in bytes.
        len: usize,
        /// The shortest salt allowed.
        min: usize,
        /// The longest salt allowed.
        max: usize,
    },
    /// An unknown KDF algorithm identifier.
    UnknownAlgorithm {
        /// The identifier found.
        id: u8,
    },
}

impl KdfError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        match self {
            Self::TooWeak { .. } => Code::KdfTooWeak,
            // A short salt weakens the KDF; a long one is merely malformed.
            Self::SaltLength { len, min, .. } if len < min => Code::KdfTooWeak,
            Self::SaltLength { .. } => Code::BadInput,
            Self::TooExpensive { .. } => Code::KdfTooExpensive,
            Self::UnknownAlgorithm { .. } => Code::UnsupportedFormat,
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
            Self::SaltLength { len, min, max } => {
                write!(f, "KDF salt of {len} bytes is outside {min}..={max}")
            }
            Self::UnknownAlgorithm { id } => write!(f, "unknown KDF algorithm {id}"),
        }
    }
}

impl std::error::Error for KdfError {}

/// Fresh KDF parameters could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewKdfError {
    /// The iteration count was refused.
    Kdf(KdfError),
    /// No randomness was available.
    Random(RandomError),
}

impl NewKdfError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        match self {
            Self::Kdf(e) => e.code(),
            Self::Random(_) => Code::RandomUnavailable,
        }
    }
}

impl fmt::Display for NewKdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kdf(e) => e.fmt(f),
            Self::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for NewKdfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Kdf(e) => Some(e),
            Self::Random(e) => Some(e),
        }
    }
}

/// The operating system's random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomError;

impl RandomError {
    /// Stable code for the JS boundary.
    pub fn code(&self) -> Code {
        Code::RandomUnavailable
    }
}

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator is unavailable")
    }
}

impl std::error::Error for RandomError {}
