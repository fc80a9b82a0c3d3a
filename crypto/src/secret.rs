//! Secret newtypes: zeroized on drop, redacted in `Debug`, never serializable.
//!
//! Each key has its own type so that a key cannot be used for a purpose it was not
//! derived for: the compiler refuses to pass a [`Kek`] where a [`VaultKey`] is expected.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in bytes of every symmetric key in vaultsync.
pub const KEY_LEN: usize = 32;

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// Wraps raw key bytes. The caller's copy is not zeroized by this call.
            pub(crate) fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes; only for the crypto primitives inside this crate.
            #[allow(dead_code)]
            pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }

        impl ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_key!(
    /// PBKDF2 output: the root of everything derived from the password.
    MasterKey
);
secret_key!(
    /// Key-encryption key: wraps the root key in the password slot of an envelope.
    Kek
);
secret_key!(
    /// Auth key: the only password-derived value that is ever sent to the server.
    AuthKey
);
secret_key!(
    /// HMAC key of a slot's check value (key commitment).
    CheckKey
);
secret_key!(
    /// HMAC key of the vault head's leaves (one per live record).
    LeafKey
);
secret_key!(
    /// HMAC key of the vault head's tag.
    HeadKey
);
secret_key!(
    /// The vault's root key: wrapped by the password and recovery slots, seals the keyring.
    RootKey
);
secret_key!(
    /// Seals the keyring inside an envelope; derived from the root key.
    KeyringKey
);
secret_key!(
    /// Seals the sync engine's exported state; derived from the root key.
    StateKey
);
secret_key!(
    /// A vault key (one per key id): the AES-256-GCM key of records, used for nothing else.
    VaultKey
);

impl MasterKey {
    /// Wraps 32 bytes of PBKDF2 output computed elsewhere (e.g. by WebCrypto's
    /// `deriveBits`). Named `danger_` because the bytes must really be the PBKDF2 output for
    /// the envelope's parameters; anything else simply fails to unlock.
    pub fn danger_from_pbkdf2_output(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl AuthKey {
    /// The auth key bytes, to be sent to the server (which stores only a hash).
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0)
    }
}

/// A password as UTF-8 bytes, zeroized on drop. vaultsync does not normalise passwords:
/// the bytes given are the bytes derived from (see FORMAT.md).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Password(Vec<u8>);

impl Password {
    /// Takes ownership of a password string.
    pub fn new(password: String) -> Self {
        Self(password.into_bytes())
    }

    /// Another copy (zeroized on drop too), for an operation that takes the password
    /// while the caller keeps its own.
    pub fn duplicate(&self) -> Self {
        Self(self.0.clone())
    }

    /// The password's bytes: only to hand them to a platform KDF (the npm package gives
    /// them to WebCrypto's PBKDF2, then wipes its copy).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Password {
    fn from(value: &str) -> Self {
        Self(value.as_bytes().to_vec())
    }
}

impl core::fmt::Debug for Password {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = VaultKey::from_bytes([0x41; KEY_LEN]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "VaultKey([redacted])");
        assert_eq!(
            format!("{:?}", Password::from("hunter2")),
            "Password([redacted])"
        );
    }

    #[test]
    fn constant_time_equality() {
        let a = RootKey::from_bytes([1; KEY_LEN]);
        let b = RootKey::from_bytes([1; KEY_LEN]);
        let c = RootKey::from_bytes([2; KEY_LEN]);
        assert!(bool::from(a.ct_eq(&b)));
        assert!(!bool::from(a.ct_eq(&c)));
    }
}
