//! Binary values (ciphertext, envelopes, salts, auth keys) as unpadded base64url strings.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bytes that travel as an unpadded base64url string. `Debug` prints only the length: a
/// blob may hold an auth key, and ciphertext does not belong in logs either.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl Blob {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text form.
    pub fn to_base64url(&self) -> String {
        encode(&self.0)
    }

    /// Parses the text form: canonical unpadded base64url only (no padding, no other
    /// alphabet, no stray trailing bits). Not constant-time: blobs are public (ciphertext,
    /// envelopes, salts), and decoding every pulled record is the hot path of a sync
    /// (the constant-time decoder is 4x slower). Secrets are [`crate::SecretBlob`]s.
    pub fn from_base64url(text: &str) -> Option<Self> {
        URL_SAFE_NO_PAD.decode(text).ok().map(Self)
    }
}

/// Unpadded base64url of public bytes.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Unpadded base64url of secret bytes, in constant time.
pub(crate) fn encode_secret(bytes: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::encode_string(bytes)
}

/// Parses secret bytes from unpadded base64url, in constant time (canonical only).
pub(crate) fn decode_secret(text: &str) -> Option<Vec<u8>> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::decode_vec(text).ok()
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64url())
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Blob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unpadded base64url string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Blob, E> {
                // The message never echoes the input: it may be a secret.
                Blob::from_base64url(text)
                    .ok_or_else(|| E::custom("not canonical unpadded base64url"))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(feature = "openapi")]
pub(crate) fn base64url_schema(
    description: &str,
    length: Option<usize>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::schema::SchemaFormat::Custom(
            "base64url".into(),
        )))
        .pattern(Some("^[A-Za-z0-9_-]*$"))
        .min_length(length)
        .max_length(length)
        .description(Some(description))
        .into()
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Blob {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        base64url_schema("bytes as unpadded base64url", None)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Blob {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let blob = Blob(vec![0xfb, 0xff, 0x00]);
        let json = serde_json::to_string(&blob).unwrap();
        assert_eq!(json, "\"-_8A\"");
        assert_eq!(serde_json::from_str::<Blob>(&json).unwrap(), blob);
        for bad in ["\"-_8A=\"", "\"+/8A\"", "\"a\"", "\"AB\"", "12", "null"] {
            assert!(serde_json::from_str::<Blob>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Blob>("\"s3cr3t!\"").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert_eq!(format!("{blob:?}"), "Blob(3 bytes)");
    }
}
