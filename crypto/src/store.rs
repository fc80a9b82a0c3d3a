//! The device store's sealed entries and the session slot (FORMAT.md, "Device store").
//!
//! - An entry (format `0x5F`) is sealed under the vault's state key with its name in the
//!   associated data, so that an entry cannot be swapped for another (a record's entry for
//!   another record's, the metadata for a record) or moved to another vault's store.
//! - The session slot (format `0x5D`) holds the root key sealed under a random session
//!   secret that the application keeps in memory-only storage (`chrome.storage.session`):
//!   with both, a restarted worker unlocks without the password and without PBKDF2.

use crate::codec::{from_base64url, to_base64url};
use crate::envelope::Envelope;
use crate::error::{FormatError, RandomError, UnlockError};
use crate::ids::VaultId;
use crate::rand::{Entropy, random_array};
use crate::secret::{KEY_LEN, RootKey};
use crate::state::{StateError, labelled_ad, open_blob, seal_blob};
use crate::vault::UnlockedVault;

/// Format byte of a device-store entry.
pub const ENTRY_FORMAT_V1: u8 = 0x5F;
/// Associated-data label of a device-store entry.
pub const ENTRY_AD_LABEL: &[u8] = b"vaultsync/v1/store-entry";
/// Format byte of a session slot.
pub const SESSION_FORMAT_V1: u8 = 0x5D;
/// Associated-data label of a session slot.
pub const SESSION_AD_LABEL: &[u8] = b"vaultsync/v1/session-slot";

/// A session secret: 32 random bytes that open this device's session slot. Lives only in
/// memory-only storage; zeroized on drop, redacted in `Debug`.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SessionSecret([u8; KEY_LEN]);

impl core::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

impl SessionSecret {
    /// A new random secret.
    pub fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        Ok(Self(random_array(entropy)?))
    }

    /// As text (43 characters of base64url), for `chrome.storage.session`.
    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(to_base64url(&self.0))
    }

    /// Reads [`SessionSecret::to_text`]'s output.
    pub fn parse_text(text: &str) -> Result<Self, FormatError> {
        let bytes = zeroize::Zeroizing::new(from_base64url(text)?);
        let bytes: [u8; KEY_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| FormatError::InvalidField {
                    field: "session secret",
                })?;
        Ok(Self(bytes))
    }
}

/// `0x5F || nonce || AES-256-GCM(state key, nonce, plaintext, AD)` with
/// `AD = "vaultsync/v1/store-entry" || 0x5F || vault id || name`.
pub fn seal_entry(
    vault: &UnlockedVault,
    name: &str,
    plaintext: &[u8],
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Vec<u8>, RandomError> {
    let ad = labelled_ad(
        ENTRY_AD_LABEL,
        ENTRY_FORMAT_V1,
        &vault.vault_id(),
        name.as_bytes(),
    );
    seal_blob(
        vault.state_key().expose(),
        ENTRY_FORMAT_V1,
        &ad,
        plaintext,
        entropy,
    )
}

/// Opens an entry stored under `name`: an entry of another name or vault, a modified or
/// truncated one is `Tampered`; another format byte (a newer store) is `Format`.
pub fn open_entry(vault: &UnlockedVault, name: &str, blob: &[u8]) -> Result<Vec<u8>, StateError> {
    let ad = labelled_ad(
        ENTRY_AD_LABEL,
        ENTRY_FORMAT_V1,
        &vault.vault_id(),
        name.as_bytes(),
    );
    open_blob(vault.state_key().expose(), ENTRY_FORMAT_V1, &ad, blob)
}

fn session_ad(vault_id: &VaultId) -> Vec<u8> {
    labelled_ad(SESSION_AD_LABEL, SESSION_FORMAT_V1, vault_id, &[])
}

impl UnlockedVault {
    /// The session slot: `0x5D || nonce || AES-256-GCM(secret, nonce, root key (32) ||
    /// deadline (u64, Unix ms; 0: none), AD)` with `AD = "vaultsync/v1/session-slot" ||
    /// 0x5D || vault id`. Past its deadline the slot no longer opens (auto-lock).
    pub fn session_slot(
        &self,
        secret: &SessionSecret,
        deadline_ms: u64,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Vec<u8>, RandomError> {
        let ad = session_ad(&self.vault_id());
        let mut plain = zeroize::Zeroizing::new([0u8; KEY_LEN + 8]);
        plain[..KEY_LEN].copy_from_slice(self.root_key().expose());
        plain[KEY_LEN..].copy_from_slice(&deadline_ms.to_be_bytes());
        seal_blob(&secret.0, SESSION_FORMAT_V1, &ad, plain.as_slice(), entropy)
    }
}

impl Envelope {
    /// Unlocks with a session slot and its secret at time `now_ms` (no PBKDF2). A slot of
    /// another vault, another secret, a modified slot or one past its deadline does not
    /// open (`SessionInvalid`).
    pub fn unlock_with_session(
        &self,
        secret: &SessionSecret,
        slot: &[u8],
        now_ms: u64,
    ) -> Result<UnlockedVault, UnlockError> {
        let ad = session_ad(&self.vault_id());
        let plain = open_blob(&secret.0, SESSION_FORMAT_V1, &ad, slot)
            .map_err(|_| UnlockError::SessionInvalid)?;
        let plain = zeroize::Zeroizing::new(plain);
        if plain.len() != KEY_LEN + 8 {
            return Err(UnlockError::SessionInvalid);
        }
        let mut deadline = [0u8; 8];
        deadline.copy_from_slice(&plain[KEY_LEN..]);
        let deadline = u64::from_be_bytes(deadline);
        if deadline != 0 && now_ms > deadline {
            return Err(UnlockError::SessionInvalid);
        }
        let mut root = [0u8; KEY_LEN];
        root.copy_from_slice(&plain[..KEY_LEN]);
        UnlockedVault::from_root(self.clone(), RootKey::from_bytes(root))
    }
}
