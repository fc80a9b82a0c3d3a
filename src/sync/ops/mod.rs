//! The protocol's multi-step operations, sans-IO: registering, logging in and recovering
//! an account ([`AccountRun`]), a sync (push every pending edit, pull every page, adopting
//! a newer envelope on the way), a password change, and a key rotation (resumable). Each is
//! a state machine: `next` says what it needs ([`Step`]: a request to send, or the one
//! slow step, PBKDF2, which a browser runs with WebCrypto), `answer` takes the result
//! ([`Input`]). The drivers (`fetch` in the npm package, reqwest natively, an in-memory
//! model server in the simulation) only move bytes and run PBKDF2, so every client runs the
//! same logic:
//!
//! ```text
//! while let Some(step) = op.next(&mut ctx)? {
//!     let input = match step {
//!         Step::Send(send) => {
//!             let (status, body) = http(send.call.method(), &send.call.path(), token, send.call.body())?;
//!             Input::Reply(send.call.read_answer(status, &body)?)
//!         }
//!         Step::Derive { password, kdf } => Input::Master(pbkdf2(&password, &kdf)),
//!     };
//!     if let Some(progress) = op.answer(&mut ctx, input)? {
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
//! - [`call`]: requests ([`Call`], the client's one table of routes), steps, inputs and
//!   the server's replies ([`Reply`]);
//! - [`account`]: register, login, recovery;
//! - [`sync`], [`password`], [`rotate`], [`reseed`]: the operations on a logged-in
//!   replica.

use core::fmt;

use vaultsync_wire::{self as wire, PutEnvelopeRequest};

use super::engine::Engine;
use super::error::SyncError;
use super::event::{Event, Progress};
use super::merge::Resolve;
use crate::code::Code;
use crate::crypto::rand::Entropy;
use crate::crypto::{Envelope, KeyringError, UnlockError, UnlockedVault};

pub mod account;
pub mod call;
pub mod history;
pub mod link;
pub mod password;
pub mod reseed;
pub mod rotate;
pub mod sync;

pub use account::{Account, AccountOptions, AccountRun};
pub use call::{Bearer, Call, Input, Refusal, Reply, Send, Step};
pub use password::PasswordRun;
pub use reseed::ReseedRun;
pub use rotate::RotateRun;
pub use sync::SyncRun;

/// What an operation works on: the replica, the unlocked vault, who decides conflicts and
/// where randomness comes from.
pub struct Ctx<'a> {
    /// The replica.
    pub engine: &'a mut Engine,
    /// The unlocked vault (its envelope changes when the server stored a new one).
    pub vault: &'a mut UnlockedVault,
    /// Decides a field both devices changed.
    pub resolver: &'a mut dyn Resolve,
    /// Randomness for nonces and keys.
    pub entropy: &'a mut dyn Entropy,
}

/// A request of an operation on the logged-in replica (sent with the session's token).
pub(crate) fn send(call: Call) -> Step {
    Step::Send(Send {
        call,
        bearer: Bearer::Session,
    })
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
    /// The envelope a login fetched is made with other KDF parameters than prelogin
    /// answered (stale or substituted parameters).
    KdfMismatch,
}

impl OpError {
    /// A stable code, the same as everywhere else in vaultsync.
    pub fn code(&self) -> Code {
        match self {
            Self::Sync(e) => e.code(),
            Self::Refused(r) => Code::from(r.code),
            Self::Keyring(e) => e.code(),
            Self::Unlock(e) => e.code(),
            Self::RotationIncomplete => Code::RotationIncomplete,
            Self::KdfMismatch => Code::KdfMismatch,
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
                Code::from(r.code),
                r.message
            ),
            Self::Keyring(e) => write!(f, "{e}"),
            Self::Unlock(e) => write!(f, "{e}"),
            Self::RotationIncomplete => {
                f.write_str("other devices kept writing under the old key; rotate again to finish")
            }
            Self::KdfMismatch => {
                f.write_str("the envelope's KDF parameters differ from the ones prelogin answered")
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
            Self::Refused(_) | Self::RotationIncomplete | Self::KdfMismatch => None,
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

/// A multi-step operation on a logged-in replica (see the module documentation for the
/// loop that drives it). Object-safe: a driver has one loop for every operation.
pub trait Operation {
    /// What the operation needs next, or `None` when it is complete.
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError>;

    /// Takes the result of the step [`Operation::next`] returned; may report progress.
    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError>;

    /// What the operation changed on this device, for a UI (call once it is complete).
    fn take_events(&mut self) -> Vec<Event>;

    /// Whether it needs every value in memory (a key rotation and a re-seed write every
    /// record): a driver with a device store loads every value away before each step
    /// ([`Engine::away_ids`](crate::sync::Engine::away_ids)), not only
    /// [`Engine::needs_loading`](crate::sync::Engine::needs_loading).
    fn needs_every_value(&self) -> bool {
        false
    }
}

pub(super) fn bad_answer(reason: &'static str) -> OpError {
    OpError::Sync(SyncError::BadAnswer { reason })
}

/// The server's reply to a [`Step::Send`]; anything else is the driver's mistake.
pub(super) fn reply(input: Input) -> Result<Reply, OpError> {
    match input {
        Input::Reply(reply) => Ok(reply),
        _ => Err(bad_answer("no reply where a reply was expected")),
    }
}

/// The envelope of a `CONFLICT` or `ENVELOPE_CHANGED` answer, adopted if newer.
pub(super) fn adopt_current(
    ctx: &mut Ctx<'_>,
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
    auth_key: Option<wire::SecretBlob>,
) -> Call {
    Call::PutEnvelope(
        engine.vault_id(),
        PutEnvelopeRequest {
            base_version: engine.envelope_version(),
            envelope: wire::Blob(envelope.to_bytes()),
            kdf: account::kdf_wire(envelope.kdf_params()),
            auth_key,
        },
    )
}
