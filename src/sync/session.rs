//! A device's saved session: the engine (records, pending edits, cursor), the username and
//! the device token, sealed under the vault's state key and stored beside the envelope as
//! one string `ENVELOPE.BLOB` (both base64url). The npm package's `save()`/`resume()` and
//! the native client use the same format, so a session moves between them.

use vaultsync_wire::BearerToken;
use vaultsync_wire::json;
use zeroize::Zeroizing;

use super::engine::Engine;
use super::error::SyncError;
use crate::crypto::rand::Entropy;
use crate::crypto::state::{open_state, seal_state};
use crate::crypto::{Envelope, UnlockedVault, from_base64url, to_base64url};

/// What a saved session holds besides the envelope. As JSON: `{"username", "token",
/// "engine"}`.
#[derive(Debug)]
pub struct Session {
    /// The account's username.
    pub username: String,
    /// The device token (a secret: only ever stored sealed).
    pub token: BearerToken,
    /// The replica.
    pub engine: Engine,
}

vaultsync_wire::json_struct!(Session {
    username,
    token,
    engine
});

impl Session {
    /// `ENVELOPE.BLOB`: the vault's current envelope and this session sealed under its
    /// state key.
    #[inline(never)]
    pub fn save(
        &self,
        vault: &UnlockedVault,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<String, SyncError> {
        if self.engine.vault_id() != vault.vault_id() {
            return Err(SyncError::WrongVault);
        }
        let json = Zeroizing::new(json::to_string(self).into_bytes());
        let blob = seal_state(&vault.state_key(), &vault.vault_id(), &json, entropy)?;
        Ok(format!(
            "{}.{}",
            vault.envelope().to_text(),
            to_base64url(&blob)
        ))
    }

    /// Splits a saved string into its envelope and sealed blob (the caller unlocks the
    /// envelope, then calls [`Session::open`]).
    pub fn parse(saved: &str) -> Result<(Envelope, Vec<u8>), SyncError> {
        let (envelope, blob) = saved.split_once('.').ok_or(SyncError::StateCorrupt)?;
        let envelope = Envelope::parse_text(envelope).map_err(|_| SyncError::StateCorrupt)?;
        let blob = from_base64url(blob).map_err(|_| SyncError::StateCorrupt)?;
        Ok((envelope, blob))
    }

    /// Opens the sealed blob with the unlocked vault; a modified blob or one of another
    /// vault is refused (`STATE_TAMPERED`).
    #[inline(never)]
    pub fn open(vault: &UnlockedVault, blob: &[u8]) -> Result<Self, SyncError> {
        let json = Zeroizing::new(open_state(&vault.state_key(), &vault.vault_id(), blob)?);
        let session: Self = std::str::from_utf8(&json)
            .ok()
            .and_then(|text| json::from_str(text).ok())
            .ok_or(SyncError::StateCorrupt)?;
        if session.engine.vault_id() != vault.vault_id() {
            return Err(SyncError::WrongVault);
        }
        Ok(session)
    }
}
