//! The key schedule: every HKDF label and every key derived from another, in one place
//! (FORMAT.md, "Key hierarchy"). Each label yields a key used for exactly one purpose.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::{
    AuthKey, CheckKey, HeadKey, KEY_LEN, Kek, KeyringKey, LeafKey, MasterKey, RootKey, StateKey,
};

/// From the master key: the key-encryption key of the password slot.
pub const LABEL_KEK: &[u8] = b"vaultsync/v1/kek";
/// From the master key: the auth key sent to the server.
pub const LABEL_AUTH: &[u8] = b"vaultsync/v1/auth";
/// From the master key: the password slot's check key.
pub const LABEL_PASSWORD_CHECK: &[u8] = b"vaultsync/v1/password-check";
/// From the recovery code (salt: the vault id): the recovery slot's key-encryption key.
pub const LABEL_RECOVERY_KEK: &[u8] = b"vaultsync/v1/recovery-kek";
/// From the recovery code (salt: the vault id): the recovery slot's check key.
pub const LABEL_RECOVERY_CHECK: &[u8] = b"vaultsync/v1/recovery-check";
/// From the recovery code (no salt: the vault id is not known at a recovery login): the
/// recovery auth key sent to the server.
pub const LABEL_RECOVERY_AUTH: &[u8] = b"vaultsync/v1/recovery-auth";
/// From the root key: the key that seals the keyring.
pub const LABEL_KEYRING: &[u8] = b"vaultsync/v1/keyring";
/// From the root key: the whole-envelope MAC key.
pub const LABEL_ENVELOPE_MAC: &[u8] = b"vaultsync/v1/envelope-mac";
/// From the root key: the key that seals the sync engine's saved state.
pub const LABEL_STATE: &[u8] = b"vaultsync/v1/state";
/// From the root key: the HMAC key of the vault head's leaves.
pub const LABEL_HEAD_LEAF: &[u8] = b"vaultsync/v1/head-leaf";
/// From the root key: the HMAC key of the vault head's tag.
pub const LABEL_HEAD_MAC: &[u8] = b"vaultsync/v1/head-mac";

/// HKDF-SHA256 (no salt means the empty salt), one 32-byte output for one label.
pub(crate) fn hkdf32(ikm: &[u8], salt: Option<&[u8]>, label: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expand cannot fail.
    #[allow(clippy::expect_used)]
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(label, &mut out)
        .expect("32-byte HKDF output is always valid");
    out
}

/// HMAC-SHA256 of `data` under a 32-byte key.
pub(crate) fn hmac_sha256(key: &[u8; KEY_LEN], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl MasterKey {
    /// The key-encryption key of the password slot.
    pub(crate) fn kek(&self) -> Kek {
        Kek::from_bytes(hkdf32(self.expose(), None, LABEL_KEK))
    }

    /// The HMAC key of the password slot's check value.
    pub(crate) fn check_key(&self) -> CheckKey {
        CheckKey::from_bytes(hkdf32(self.expose(), None, LABEL_PASSWORD_CHECK))
    }

    /// The auth key: sent to the server, which stores only its hash.
    pub fn auth_key(&self) -> AuthKey {
        AuthKey::from_bytes(hkdf32(self.expose(), None, LABEL_AUTH))
    }
}

impl RootKey {
    /// The key that seals the keyring.
    pub(crate) fn keyring_key(&self) -> KeyringKey {
        KeyringKey::from_bytes(hkdf32(self.expose(), None, LABEL_KEYRING))
    }

    /// The whole-envelope MAC key.
    pub(crate) fn envelope_mac_key(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(hkdf32(self.expose(), None, LABEL_ENVELOPE_MAC))
    }

    /// The key that seals the sync engine's saved state.
    pub(crate) fn state_key(&self) -> StateKey {
        StateKey::from_bytes(hkdf32(self.expose(), None, LABEL_STATE))
    }

    /// The HMAC key of the vault head's leaves.
    pub(crate) fn leaf_key(&self) -> LeafKey {
        LeafKey::from_bytes(hkdf32(self.expose(), None, LABEL_HEAD_LEAF))
    }

    /// The HMAC key of the vault head's tag.
    pub(crate) fn head_key(&self) -> HeadKey {
        HeadKey::from_bytes(hkdf32(self.expose(), None, LABEL_HEAD_MAC))
    }
}

/// The recovery slot's check key and key-encryption key, from the code's bytes and the
/// vault id.
pub(crate) fn recovery_slot_keys(code: &[u8], vault_id: &[u8]) -> (CheckKey, Kek) {
    (
        CheckKey::from_bytes(hkdf32(code, Some(vault_id), LABEL_RECOVERY_CHECK)),
        Kek::from_bytes(hkdf32(code, Some(vault_id), LABEL_RECOVERY_KEK)),
    )
}

/// The recovery auth key, from the code's bytes.
pub(crate) fn recovery_auth_key(code: &[u8]) -> AuthKey {
    AuthKey::from_bytes(hkdf32(code, None, LABEL_RECOVERY_AUTH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let labels = [
            LABEL_KEK,
            LABEL_AUTH,
            LABEL_PASSWORD_CHECK,
            LABEL_RECOVERY_KEK,
            LABEL_RECOVERY_CHECK,
            LABEL_RECOVERY_AUTH,
            LABEL_KEYRING,
            LABEL_ENVELOPE_MAC,
            LABEL_STATE,
            LABEL_HEAD_LEAF,
            LABEL_HEAD_MAC,
        ];
        let set: std::collections::BTreeSet<_> = labels.iter().collect();
        assert_eq!(set.len(), labels.len());
    }

    #[test]
    fn subkeys_are_distinct() {
        let master = MasterKey::from_bytes([7; KEY_LEN]);
        let kek = *master.kek().expose();
        let auth = *master.auth_key().expose();
        let check = *master.check_key().expose();
        assert_ne!(kek, auth);
        assert_ne!(kek, check);
        assert_ne!(auth, check);
        assert_ne!(&kek, master.expose());
    }
}
