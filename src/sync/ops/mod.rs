//! The protocol's multi-step operations, sans-IO: a sync (push every pending edit, pull
//! every page, adopting a newer envelope on the way), a password change, and a key
//! rotation (resumable). Each is a state machine over the [`Engine`] and the unlocked
//! vault: [`Operation::next`] says what to send, [`Operation::answer`] takes the server's
//! reply. The transports (`fetch` in the npm package, reqwest natively, an in-memory model
//! server in the simulation) only move bytes, so every client runs the same logic:
//!
//! ```text
//! while let Some(call) = op.next(&mut ctx)? {
//!     let (status, body) = send(call.method(), call.path(vault_id), call.body())?;
//!     if let Some(progress) = op.answer(&mut ctx, call.read_answer(status, &body)?)? {
//!         show(progress);
//!     }
//! }
//! ```
//!
//! A transport failure (no answer) simply ends the loop, and nothing is half-applied: an
//! unanswered push stays in flight and is resent byte for byte by the next sync (the
//! server recognises it), an envelope is adopted locally only once the server answered
//! that it stored it (if that answer was lost, the next sync finds the envelope on the
//! server, authenticates it and adopts it), and a rotation resumes from wherever the
//! vault and the server are when it is called again.

//!
//! - this module: the context, the [`Operation`] trait, errors;
//! - [`call`]: requests ([`Call`]) and the server's replies ([`Reply`]);
//! - [`sync`], [`password`], [`rotate`]: the operations.

use core::fmt;

use vaultsync_wire::{self as wire, PutEnvelopeRequest};

use super::account;
use super::engine::Engine;
use super::error::SyncError;
use super::event::{Event, Progress};
use super::merge::Resolve;
use crate::crypto::rand::Entropy;
use crate::crypto::{Envelope, KeyringError, UnlockError, UnlockedVault};

pub mod call;
pub mod password;
pub mod rotate;
pub mod sync;

pub use call::{Call, Refusal, Reply};
pub use password::PasswordRun;
pub use rotate::RotateRun;
pub use sync::SyncRun;

/// What an operation works on: the replica, the unlocked vault, who decides conflicts and
/// where randomness comes from.
pub struct Ctx<'a, E: Entropy> {
    /// The replica.
    pub engine: &'a mut Engine,
    /// The unlocked vault (its envelope changes when the server stored a new one).
    pub vault: &'a mut UnlockedVault,
    /// Decides a field both devices changed.
    pub resolver: &'a mut dyn Resolve,
    /// Randomness for nonces and keys.
    pub entropy: &'a mut E,
}

/// Why an operation stopped. Local data is consistent whenever one is returned: what was
/// applied before is kept, nothing is half-applied, and calling the operation again
/// carries on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpError {
    /// The engine refused an answer (`TAMPERED`, `ROLLBACK`, `BAD_ANSWER`, …).
    Sync(SyncError),
    /// The server refused a request with a code this operation does not handle.
    Refused(Refusal),
    /// A key rotation could not change the keyring (`KEYRING_FULL`, no randomness).
    Keyring(KeyringError),
    /// A new envelope could not be made (no randomness).
    Unlock(UnlockError),
    /// A key rotation met changes by other devices in every one of its passes; calling it
    /// again carries on (nothing is lost, every record stays readable).
    RotationIncomplete,
}

impl OpError {
    /// A stable code, the same strings as everywhere else in vaultsync.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sync(e) => e.code(),
            Self::Refused(r) => r.code_str(),
            Self::Keyring(e) => e.code(),
            Self::Unlock(e) => e.code(),
            Self::RotationIncomplete => "ROTATION_INCOMPLETE",
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync(e) => write!(f, "{e}"),
            Self::Refused(r) => write!(
                f,
                "the server refused ({} {}): {}",
                r.status,
                r.code_str(),
                r.message
            ),
            Self::Keyring(e) => write!(f, "{e}"),
            Self::Unlock(e) => write!(f, "{e}"),
            Self::RotationIncomplete => {
                f.write_str("other devices kept writing under the old key; rotate again to finish")
            }
        }
    }
}

impl std::error::Error for OpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sync(e) => Some(e),
            Self::Keyring(e) => Some(e),
            Self::Unlock(e) => Some(e),
            Self::Refused(_) | Self::RotationIncomplete => None,
        }
    }
}

impl From<SyncError> for OpError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

impl From<KeyringError> for OpError {
    fn from(e: KeyringError) -> Self {
        Self::Keyring(e)
    }
}

impl From<UnlockError> for OpError {
    fn from(e: UnlockError) -> Self {
        Self::Unlock(e)
    }
}

/// A multi-step operation (see the module documentation for the loop that drives it).
pub trait Operation {
    /// The next request to send, or `None` when the operation is complete.
    fn next<E: Entropy>(&mut self, ctx: &mut Ctx<'_, E>) -> Result<Option<Call>, OpError>;

    /// Takes the reply to the request [`Operation::next`] returned; may report progress.
    fn answer<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        reply: Reply,
    ) -> Result<Option<Progress>, OpError>;

    /// What the operation changed on this device, for a UI (call once it is complete).
    fn take_events(&mut self) -> Vec<Event>;
}

pub(super) fn bad_answer(reason: &'static str) -> OpError {
    OpError::Sync(SyncError::BadAnswer { reason })
}

/// The envelope of a `CONFLICT` or `ENVELOPE_CHANGED` answer, adopted if newer.
pub(super) fn adopt_current<E: Entropy>(
    ctx: &mut Ctx<'_, E>,
    refusal: &Refusal,
) -> Result<Option<Event>, OpError> {
    let current = refusal
        .current
        .as_ref()
        .ok_or_else(|| bad_answer("an envelope conflict without the current envelope"))?;
    if current.version == ctx.engine.envelope_version() {
        return Err(bad_answer(
            "an envelope conflict with the envelope already pinned",
        ));
    }
    Ok(ctx.engine.check_envelope(ctx.vault, current)?)
}

/// The put of an envelope this device made, from the pinned version.
pub(super) fn put_envelope(
    engine: &Engine,
    envelope: &Envelope,
    auth_key: Option<wire::Blob>,
) -> Call {
    Call::PutEnvelope(PutEnvelopeRequest {
        base_version: engine.envelope_version(),
        envelope: wire::Blob(envelope.to_bytes()),
        kdf: account::kdf_wire(envelope.kdf_params()),
        auth_key,
    })
}
