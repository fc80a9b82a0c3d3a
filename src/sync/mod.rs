//! The sync engine, sans-IO: no network, no storage, no clock. Callers feed it local edits
//! (with the time), server answers and the unlocked vault; it hands back the requests to
//! send (`vaultsync-wire` messages) and events to show. The same code runs natively, in
//! WASM and in the deterministic simulation (`tests/sync_sim.rs`).
//!
//! - [`engine`]: the replica, push and pull, conflicts, resync, state export/import.
//! - [`event`]: events and progress for UIs.
//! - [`merge`]: three-way JSON merge and conflict policies.
//! - [`ops`]: the multi-step operations every client drives over its transport: register,
//!   login, recovery, sync, password change, key rotation.
//! - [`live`]: what a driver does with live hints (coalesced, untrusted), reconnection.
//! - [`session`]: a device's saved session (engine, token), sealed as one blob.
//! - [`store`]: the same session as small sealed entries (the device store).
//! - [`error`]: typed refusals; local data is unchanged whenever one is returned.

pub mod engine;
pub mod error;
pub mod event;
mod forms;
pub mod live;
pub mod merge;
pub mod ops;
mod replica;
pub mod session;
pub mod store;

pub use engine::{DEFAULT_PUSH_ITEMS, Engine, KEEP_LOADED, Lookup, MassDelete};
pub use error::SyncError;
pub use event::{Event, Progress};
pub use merge::{ConflictPolicy, FieldConflict, Resolve, merge3};
pub use ops::{
    Account, AccountOptions, AccountRun, Bearer, Call, Ctx, Input, OpError, Operation, PasswordRun,
    Refusal, Reply, ReseedRun, RotateRun, Send, Step, SyncRun,
};
pub use session::Session;
