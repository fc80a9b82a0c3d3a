//! Register, login, recovery and linking (a new device approved by another), sans-IO like the other operations: the one flow every
//! client runs (the npm package's `SyncClient`, the native client, the CLI). The driver
//! sends the requests and runs the one slow step, PBKDF2 ([`Step::Derive`]); the flow
//! builds the request bodies and checks every answer (the KDF parameters against the
//! client's bounds, the fetched envelope against what the login used).

mod link;
mod open;
mod run;

pub use run::AccountRun;

use vaultsync_wire::{self as wire, BearerToken};

use crate::crypto::kdf::DEFAULT_ITERATIONS;
use crate::crypto::{KdfParams, RecoveryCode, UnlockedVault};
use crate::sync::engine::Engine;
use crate::sync::merge::ConflictPolicy;

/// The KDF parameters as the server stores them.
pub fn kdf_wire(params: &KdfParams) -> wire::Kdf {
    wire::Kdf {
        algorithm: wire::KdfAlgorithm::Pbkdf2Sha256,
        iterations: params.iterations(),
        salt: wire::Blob(params.salt().to_vec()),
    }
}

/// Options of an account flow.
#[derive(Clone, Debug)]
pub struct AccountOptions {
    /// PBKDF2 iterations of a new vault (register), or of the new password after a
    /// recovery (never fewer than the vault's: other devices would refuse a weaker KDF).
    pub iterations: u32,
    /// Label of the device token.
    pub token_label: String,
    /// Lifetime of the device token in seconds (`None`: until revoked).
    pub token_ttl_secs: Option<u64>,
    /// Who wins a field both devices changed.
    pub policy: ConflictPolicy,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
            token_label: "device".into(),
            token_ttl_secs: None,
            policy: ConflictPolicy::KeepLocal,
        }
    }
}

/// A logged-in device: what an account flow ends with.
#[derive(Debug)]
pub struct Account {
    /// The username as given.
    pub username: String,
    /// The device token.
    pub token: BearerToken,
    /// The unlocked vault.
    pub vault: UnlockedVault,
    /// An empty replica with the envelope pinned (call sync next).
    pub engine: Engine,
    /// After register: the recovery code to show once.
    pub recovery_code: Option<RecoveryCode>,
}
