//! Secrets that travel on the wire: bearer tokens and auth keys. Zeroized on drop, never
//! shown by `Debug`, compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A device token (`vst_` and 43 base64url characters): sent as `Authorization: Bearer …`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token's text (the caller's copy is not zeroized by this call).
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The token's text, to put in a header or hash.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl PartialEq for BearerToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for BearerToken {}

impl serde::Serialize for BearerToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for BearerToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for BearerToken {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^vst_[A-Za-z0-9_-]{43}$"))
            .description(Some("a device token: vst_ and 43 base64url characters"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for BearerToken {}

/// Bytes that are a secret (an auth key, a recovery auth key): base64url on the wire like a
/// [`Blob`], zeroized on drop, and `Debug` shows only the length.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBlob(Vec<u8>);

impl SecretBlob {
    /// Wraps secret bytes (the caller's copy is not zeroized by this call).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
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
}

impl fmt::Debug for SecretBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBlob({} bytes, redacted)", self.0.len())
    }
}

impl PartialEq for SecretBlob {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBlob {}

impl serde::Serialize for SecretBlob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = zeroize::Zeroizing::new(crate::blob::encode_secret(&self.0));
        s.serialize_str(&text)
    }
}

impl<'de> serde::Deserialize<'de> for SecretBlob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        crate::blob::decode_secret(&text)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("not canonical unpadded base64url"))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SecretBlob {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::blob::base64url_schema("secret bytes (an auth key): unpadded base64url", Some(43))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SecretBlob {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn debug_is_redacted_and_json_is_the_text() {
        let token = BearerToken::new("vst_secret".into());
        assert_eq!(format!("{token:?}"), "BearerToken([redacted])");
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"vst_secret\"");
        let key = SecretBlob::new(vec![0xfb; 3]);
        assert_eq!(format!("{key:?}"), "SecretBlob(3 bytes, redacted)");
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"-_v7\"");
        let back: SecretBlob = serde_json::from_str("\"-_v7\"").unwrap();
        assert_eq!(back, key);
        assert!(serde_json::from_str::<SecretBlob>("\"-_v7=\"").is_err());
    }
}
