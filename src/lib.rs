//! # vaultsync
//!
//! A zero-knowledge sync engine for small encrypted records. This crate is the client: all
//! cryptography happens here, and the same code runs natively and, through the `wasm`
//! facade, as an npm package.
//!
//! ```
//! use vaultsync::crypto::{Envelope, GenerateId, OsEntropy, Password, RecordId, RecordMeta, UnlockedVault};
//! let new = UnlockedVault::create(&Password::from("correct horse"), 100_000, &mut OsEntropy)?;
//! let stored = new.envelope.to_text(); // upload this; show new.recovery_code.to_text() once
//! let vault = Envelope::parse_text(&stored)?.unlock(&Password::from("correct horse"))?;
//! let meta = RecordMeta::new(RecordId::generate(&mut OsEntropy)?, 1, false)?;
//! let sealed = vault.seal(&meta, br#"{"url":"https://example.com"}"#, &mut OsEntropy)?;
//! assert_eq!(vault.open(&meta, &sealed)?, br#"{"url":"https://example.com"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(all(feature = "http", not(target_arch = "wasm32")))]
pub mod client;
/// The client's cryptography: the `vaultsync-crypto` crate (FORMAT.md).
pub use vaultsync_crypto as crypto;
pub mod sync;

pub use vaultsync_crypto::{Code, code};
