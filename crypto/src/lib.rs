//! # vaultsync-crypto
//!
//! The client's cryptography (FORMAT.md): no IO, no clock, no JS. The `vaultsync` crate
//! re-exports it as `vaultsync::crypto`; the server never links it. A crate of its own so
//! that it keeps `opt-level = 3` (AES-GCM in WASM is the hot path of a sync) while the
//! engine and the npm bindings are optimised for size (BENCHMARKS.md, ".wasm size").
//!
//! It also holds [`Code`], the one list of error codes every client reports.
//!
//! Layers, each importing only from the ones above it (no import circles):
//! - [`secret`]: secret newtypes; [`error`]: typed errors that carry their own bounds;
//!   `codec`, [`rand`], [`ids`]: reading untrusted bytes, randomness, ids.
//! - [`schedule`]: the key schedule: every HKDF label and derived key.
//! - [`kdf`]: validated PBKDF2 parameters and PBKDF2.
//! - [`keyring`]: the vault keys by key id and the keyring's plaintext.
//! - [`record`]: record layout, associated data, sealing and opening under a keyring.
//! - [`recovery`]: recovery codes.
//! - [`envelope`]: the envelope's layout: slots, the sealed keyring, the MAC.
//! - [`vault`]: the unlocked vault: unlocking, create, password change, recovery, key
//!   rotation.
//! - [`state`]: sealing the sync engine's saved state.
//! - [`head`]: the vault head: leaves, the set digest, heads and their tags;
//!   [`words`]: the word list of the vault state code.

pub mod code;
pub(crate) mod codec;
pub mod envelope;
pub mod error;
pub mod head;
pub mod ids;
pub mod kdf;
pub mod keyring;
pub mod link;
pub mod rand;
pub mod record;
pub mod recovery;
pub mod schedule;
pub mod secret;
pub mod state;
pub mod store;
pub mod vault;
pub mod words;

pub use code::Code;
pub use codec::{from_base64url, to_base64url};
pub use envelope::Envelope;
pub use error::{
    FormatError, KdfError, KeyringError, NewKdfError, RandomError, RecordError, UnlockError,
};
pub use ids::{GenerateId, RecordId, VaultId};
pub use kdf::KdfParams;
pub use rand::{Entropy, EntropyPool, OsEntropy};
pub use record::{RecordMeta, SealedRecord};
pub use recovery::RecoveryCode;
pub use secret::{AuthKey, MasterKey, Password};
pub use vault::{EnvelopeChange, NewVault, UnlockedVault, recover};
