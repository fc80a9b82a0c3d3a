//! The client's cryptography: no IO, no clock, no JS.
//!
//! - [`kdf`]: password to master key (PBKDF2-HMAC-SHA256) and HKDF subkeys.
//! - [`envelope`]: the wrapped-key envelope: layout, parsing, unlocking.
//! - [`vault`]: the unlocked vault: create, password change, recovery, key rotation.
//! - [`record`]: sealing and opening records.
//! - [`state`]: sealing the sync engine's exported state.
//! - [`secret`]: secret newtypes; [`error`]: typed errors.

pub(crate) mod codec;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod kdf;
pub mod rand;
pub mod record;
pub mod recovery;
pub mod secret;
pub mod state;
pub mod vault;

pub use codec::{from_base64url, to_base64url};
pub use envelope::Envelope;
pub use error::{FormatError, KdfError, KeyringError, RandomError, RecordError, UnlockError};
pub use ids::{GenerateId, RecordId, VaultId};
pub use kdf::KdfParams;
pub use rand::{Entropy, EntropyPool, OsEntropy};
pub use record::{RecordMeta, SealedRecord};
pub use recovery::RecoveryCode;
pub use secret::{AuthKey, MasterKey, Password};
pub use vault::{EnvelopeChange, NewVault, UnlockedVault, recover};
