//! Sync errors: each refuses the server's answer (or the caller's input) without changing
//! any local data.

use core::fmt;

use crate::code::Code;
use crate::crypto::RecordId;
use crate::crypto::error::{RandomError, RecordError};
use crate::crypto::state::StateError;

/// Why the engine refused something. Local data is unchanged whenever one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// A record from the server failed authentication: modified, moved to another record
    /// or vault, its tombstone flag flipped, or forged.
    Tampered {
        /// The record.
        record_id: RecordId,
    },
    /// The server sent a version lower than one this device already accepted (a replay
    /// or rollback).
    Rollback {
        /// The record.
        record_id: RecordId,
        /// The highest version accepted before.
        seen: u64,
        /// The version the server sent.
        got: u64,
    },
    /// The server sent an older envelope than one this device accepted.
    EnvelopeRollback {
        /// The version accepted before.
        seen: u64,
        /// The version the server sent.
        got: u64,
    },
    /// The server's envelope is not this vault's (another id, or not authenticated by this
    /// vault's root key: substituted or modified).
    EnvelopeTampered,
    /// The server's newer envelope makes an older key current than this device's (an older
    /// envelope replayed under a new version: a key rotation undone).
    KeyRollback {
        /// This device's current key id.
        current: u32,
        /// The envelope's current key id.
        got: u32,
    },
    /// The server's vault head is older than the one this device verified or wrote (a
    /// rollback of the whole vault, or a server restored from a backup), or the server has
    /// no head any more.
    HeadRollback {
        /// The seq of the pinned head.
        seen: u64,
        /// The seq of the server's head (0: none).
        got: u64,
    },
    /// The records pulled do not match the vault head: the server hides, injects or
    /// resurrects a record or a version (or lost some).
    Omission,
    /// The server shows this device a history that leaves out writes it has seen (two
    /// heads with one seq, a head that does not follow the pinned one, a device's last
    /// write missing), or two envelopes of one generation.
    Fork {
        /// What gave it away.
        reason: &'static str,
    },
    /// The server sent a vault head that does not parse or is not this vault's.
    HeadTampered,
    /// The server's envelope has fewer PBKDF2 iterations than the pinned parameters.
    KdfDowngrade {
        /// The pinned iterations.
        pinned: u32,
        /// The envelope's iterations.
        got: u32,
    },
    /// The server's answer breaks the protocol (PROTOCOL.md).
    BadAnswer {
        /// What was wrong.
        reason: &'static str,
    },
    /// Sealing a record failed (too large, no randomness).
    Record(RecordError),
    /// The operating system's random generator failed.
    Random(RandomError),
    /// The exported state did not open: modified, truncated or of another vault.
    State(StateError),
    /// The exported state opened but is not a state of this version.
    StateCorrupt,
    /// Values this step needs are away in the device store: the driver loads them first
    /// (`Engine::needs_loading`, `Engine::away_ids`).
    ValuesAway,
    /// A value in the device store is sealed (as the server sent it) under a key the
    /// vault has since retired (a key rotation finished): it is dropped, and the next full
    /// pull brings the record again under the current key.
    KeyRetired,
    /// The unlocked vault is not the vault of this engine.
    WrongVault,
    /// A device store written by another version of its layout (a newer one: refused, not
    /// misread).
    StoreVersion {
        /// The layout version found.
        found: u64,
    },
    /// A link request was denied, expired, already used, or answered with a payload that
    /// is not for this device (`LINK_REFUSED`).
    LinkRefused {
        /// Which.
        reason: &'static str,
    },
    /// The server keeps no such past version of the record (never kept, or purged):
    /// `NOT_FOUND`.
    NoSuchVersion {
        /// The record.
        record_id: RecordId,
        /// The version asked for.
        version: u64,
    },
    /// A bulk delete over the mass-deletion guard (`MASS_DELETE`): nothing was deleted;
    /// ask the user, then delete anyway.
    MassDelete {
        /// How many records it would delete.
        count: usize,
        /// How many records this device holds.
        live: usize,
    },
}

impl SyncError {
    /// A stable code for the JS boundary and logs.
    pub fn code(&self) -> Code {
        match self {
            Self::Tampered { .. } | Self::EnvelopeTampered | Self::HeadTampered => Code::Tampered,
            Self::Rollback { .. }
            | Self::EnvelopeRollback { .. }
            | Self::KeyRollback { .. }
            | Self::HeadRollback { .. } => Code::Rollback,
            Self::Omission => Code::Omission,
            Self::Fork { .. } => Code::Fork,
            Self::KdfDowngrade { .. } => Code::KdfDowngrade,
            Self::BadAnswer { .. } => Code::BadAnswer,
            Self::Record(e) => e.code(),
            Self::Random(_) => Code::RandomUnavailable,
            Self::State(StateError::Format(e)) => match e.code() {
                Code::UnsupportedFormat => Code::UnsupportedFormat,
                _ => Code::StateTampered,
            },
            Self::State(_) | Self::StateCorrupt => Code::StateTampered,
            Self::ValuesAway => Code::StoreFailed,
            Self::KeyRetired => Code::UnknownKey,
            Self::StoreVersion { .. } => Code::UnsupportedFormat,
            Self::WrongVault => Code::WrongVault,
            Self::LinkRefused { .. } => Code::LinkRefused,
            Self::NoSuchVersion { .. } => Code::Server(vaultsync_wire::ErrorCode::NotFound),
            Self::MassDelete { .. } => Code::MassDelete,
        }
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tampered { record_id } => {
                write!(
                    f,
                    "record {record_id} from the server failed authentication"
                )
            }
            Self::Rollback {
                record_id,
                seen,
                got,
            } => write!(
                f,
                "the server sent version {got} of record {record_id}, older than version {seen} seen before"
            ),
            Self::EnvelopeRollback { seen, got } => write!(
                f,
                "the server sent an older envelope ({got}) than one seen before ({seen})"
            ),
            Self::HeadRollback { seen, got } => write!(
                f,
                "the server's vault head (seq {got}) is older than the one seen before (seq {seen}): \
                 rolled back, or restored from a backup"
            ),
            Self::Omission => f.write_str(
                "the records from the server do not match its vault head: a record or a change \
                 is hidden, injected or resurrected",
            ),
            Self::Fork { reason } => write!(
                f,
                "the server shows this device another history than it saw before: {reason}"
            ),
            Self::HeadTampered => f.write_str("the server's vault head is not this vault's"),
            Self::KeyRollback { current, got } => write!(
                f,
                "the server's envelope makes key {got} current, older than key {current} in use"
            ),
            Self::EnvelopeTampered => {
                f.write_str("the server's envelope is not this vault's (substituted or modified)")
            }
            Self::KdfDowngrade { pinned, got } => write!(
                f,
                "the server's envelope has {got} PBKDF2 iterations, fewer than the pinned {pinned}"
            ),
            Self::BadAnswer { reason } => write!(f, "the server's answer is invalid: {reason}"),
            Self::LinkRefused { reason } => write!(f, "the link request was refused: {reason}"),
            Self::NoSuchVersion { record_id, version } => write!(
                f,
                "the server keeps no version {version} of record {record_id} (never kept, or purged)"
            ),
            Self::MassDelete { count, live } => write!(
                f,
                "deleting {count} of the {live} records goes over the mass-deletion guard: nothing was deleted (confirm, then delete with the guard lifted)"
            ),
            Self::Record(e) => write!(f, "{e}"),
            Self::Random(e) => write!(f, "{e}"),
            Self::State(e) => write!(f, "{e}"),
            Self::StateCorrupt => f.write_str("the state blob is not a state of this version"),
            Self::ValuesAway => f.write_str("values this step needs are still in the device store"),
            Self::KeyRetired => f.write_str("a stored value is under a retired key: fetched again"),
            Self::WrongVault => f.write_str("this vault is not the engine's vault"),
            Self::StoreVersion { found } => write!(
                f,
                "the device store has layout version {found}; this version reads {}",
                super::store::STORE_VERSION
            ),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Record(e) => Some(e),
            Self::Random(e) => Some(e),
            Self::State(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RecordError> for SyncError {
    fn from(e: RecordError) -> Self {
        Self::Record(e)
    }
}

impl From<RandomError> for SyncError {
    fn from(e: RandomError) -> Self {
        Self::Random(e)
    }
}

impl From<StateError> for SyncError {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}
