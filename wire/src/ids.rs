//! Opaque random identifiers: vault ids and record ids (16 bytes, base64url as text).

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};

/// Length of vault and record ids in bytes.
pub const ID_LEN: usize = 16;

/// An id that is not 22 characters of canonical unpadded base64url for 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Not canonical unpadded base64url.
    Base64,
    /// Decodes, but not to 16 bytes.
    Length {
        /// Bytes found.
        len: usize,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base64 => f.write_str("an id must be unpadded base64url"),
            Self::Length { len } => write!(f, "an id must be {ID_LEN} bytes, found {len}"),
        }
    }
}

impl std::error::Error for IdError {}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// The id from its 16 bytes.
            pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The id's 16 bytes.
            pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// The id from a byte slice of exactly 16 bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                <[u8; ID_LEN]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| IdError::Length { len: bytes.len() })
            }

            /// Parses the text form (22 characters of unpadded base64url).
            pub fn parse(text: &str) -> Result<Self, IdError> {
                if text.len() == 22 {
                    // The common case, without an allocation (ids are parsed per record).
                    let mut id = [0u8; ID_LEN];
                    let decoded = Base64UrlUnpadded::decode(text, &mut id)
                        .map_err(|_| IdError::Base64)?
                        .len();
                    return if decoded == ID_LEN {
                        Ok(Self(id))
                    } else {
                        Err(IdError::Length { len: decoded })
                    };
                }
                let bytes = Base64UrlUnpadded::decode_vec(text).map_err(|_| IdError::Base64)?;
                Self::from_slice(&bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; 22];
                match Base64UrlUnpadded::encode(&self.0, &mut buf) {
                    Ok(text) => f.write_str(text),
                    Err(_) => Err(fmt::Error),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl core::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::blob::base64url_schema(concat!(
                    stringify!($name),
                    ": 16 random bytes as 22 characters of unpadded base64url"
                ), Some(22))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

opaque_id!(
    /// Identifies a vault; bound into every envelope and record.
    VaultId
);
opaque_id!(
    /// Identifies a record; random, chosen by the client. Application ids live in the
    /// plaintext.
    RecordId
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_round_trip_and_refusals() {
        let id = RecordId::from_bytes([0xfb; ID_LEN]);
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(RecordId::parse(&text), Ok(id));
        assert_eq!(RecordId::parse("AAAA"), Err(IdError::Length { len: 3 }));
        assert_eq!(
            RecordId::parse(&format!("{text}AAAA")),
            Err(IdError::Length { len: 19 })
        );
        assert_eq!(RecordId::parse("not base64!"), Err(IdError::Base64));
        assert_eq!(RecordId::parse(&format!("{text}=")), Err(IdError::Base64));
        assert_eq!(RecordId::parse(""), Err(IdError::Length { len: 0 }));
    }

    #[test]
    fn json_form_is_the_text_form() {
        let id = VaultId::from_bytes([7; ID_LEN]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<VaultId>(&json).unwrap(), id);
        let err = serde_json::from_str::<VaultId>("\"AAAA\"").unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
    }
}
