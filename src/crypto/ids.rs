//! Opaque random identifiers: vault ids and record ids (16 bytes, base64url as text).

use core::fmt;

use super::codec::{from_base64url, to_base64url};
use super::error::{FormatError, RandomError};
use super::rand::{Entropy, random_array};

/// Length of vault and record ids in bytes.
pub const ID_LEN: usize = 16;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// A fresh random id.
            pub fn generate(entropy: &mut impl Entropy) -> Result<Self, RandomError> {
                random_array(entropy).map(Self)
            }

            /// The id from its 16 bytes.
            pub fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The id's 16 bytes.
            pub fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// Parses the text form (22 characters of unpadded base64url).
            pub fn parse(text: &str) -> Result<Self, FormatError> {
                let bytes = from_base64url(text)?;
                <[u8; ID_LEN]>::try_from(bytes.as_slice())
                    .map(Self)
                    .map_err(|_| FormatError::InvalidField { field: $field })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&to_base64url(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

opaque_id!(
    /// Identifies a vault; bound into every envelope and record.
    VaultId,
    "vault_id"
);
opaque_id!(
    /// Identifies a record; random, chosen by the client. Application ids live in the plaintext.
    RecordId,
    "record_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_refusals() {
        let id = RecordId::from_bytes([0xfb; ID_LEN]);
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(RecordId::parse(&text), Ok(id));
        assert_eq!(
            RecordId::parse("AAAA"),
            Err(FormatError::InvalidField { field: "record_id" })
        );
        assert_eq!(RecordId::parse("not base64!"), Err(FormatError::Base64));
        assert_eq!(
            RecordId::parse(&format!("{text}=")),
            Err(FormatError::Base64)
        );
    }
}
