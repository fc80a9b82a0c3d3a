//! A small JSON codec for the messages, over [`serde_json::Value`], for the client. The
//! server reads and writes the messages with serde's derived code; the client, compiled to
//! WASM, uses this instead: serde's generated code for two dozen types cost the npm
//! package a third of its size (BENCHMARKS.md), while this is one function per type.
//!
//! Each message struct gets its codec from [`json_struct!`] right after its definition,
//! naming its fields once more: the compiler refuses a list that misses a field (the
//! struct literal would be incomplete) or names one that does not exist, so the two
//! codecs cannot drift apart, and `tests` checks them against each other.
//!
//! The rules are serde's for these types: a missing or `null` `Option` field is `None`
//! (written out: omitted), unknown fields are ignored (the client reads answers of newer
//! servers), integers must be whole numbers in range.

use core::fmt;

pub use serde_json::{Map, Value};

/// A JSON value that is not the expected message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// The field (or type) that was wrong.
    pub at: &'static str,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: expected {}", self.at, self.expected)
    }
}

impl std::error::Error for JsonError {}

/// Reads a message from a JSON value.
pub trait FromJson: Sized {
    /// The value of a field that is absent (`None` for `Option`, an error otherwise).
    fn missing() -> Option<Self> {
        None
    }

    /// Reads `value`; `at` names it in errors.
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError>;
}

/// Writes a message as a JSON value.
pub trait ToJson {
    /// The value; `None` for a field to omit (an `Option` that is `None`).
    fn to_json(&self) -> Option<Value>;
}

/// Parses JSON (UTF-8 bytes). Every JSON text the client reads goes through here, so the
/// parser is compiled once into the npm package.
pub fn parse(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// Writes JSON (compact UTF-8). Every JSON text the client writes goes through here.
pub fn write(value: &Value) -> Vec<u8> {
    // Writing a `Value` into a `Vec` cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Parses JSON text as a `T`.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, JsonError> {
    let value = parse(text.as_bytes()).ok_or(JsonError {
        at: "body",
        expected: "JSON",
    })?;
    T::from_json(&value, "body")
}

/// Writes a `T` as JSON text.
pub fn to_string<T: ToJson>(value: &T) -> String {
    let bytes = write(&value.to_json().unwrap_or(Value::Null));
    // serde_json writes UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

fn error<T>(at: &'static str, expected: &'static str) -> Result<T, JsonError> {
    Err(JsonError { at, expected })
}

/// The members of a JSON object.
pub fn object<'a>(value: &'a Value, at: &'static str) -> Result<&'a Map<String, Value>, JsonError> {
    value.as_object().map_or_else(|| error(at, "an object"), Ok)
}

/// A member of an object, read as a `T` (absent: [`FromJson::missing`]).
pub fn field<T: FromJson>(object: &Map<String, Value>, name: &'static str) -> Result<T, JsonError> {
    match object.get(name) {
        Some(value) => T::from_json(value, name),
        None => T::missing().map_or_else(|| error(name, "a value (missing)"), Ok),
    }
}

/// Adds a member to an object (nothing for a `None`).
pub fn put(object: &mut Map<String, Value>, name: &str, value: &impl ToJson) {
    if let Some(value) = value.to_json() {
        object.insert(name.to_string(), value);
    }
}

/// The codec of a struct with named fields: `json_struct!(Type { field, … });`.
#[macro_export]
macro_rules! json_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::json::FromJson for $name {
            fn from_json(
                value: &$crate::json::Value,
                at: &'static str,
            ) -> Result<Self, $crate::json::JsonError> {
                let _object = $crate::json::object(value, at)?;
                Ok(Self {
                    $($field: $crate::json::field(_object, stringify!($field))?,)*
                })
            }
        }

        impl $crate::json::ToJson for $name {
            fn to_json(&self) -> Option<$crate::json::Value> {
                let mut _object = $crate::json::Map::new();
                $($crate::json::put(&mut _object, stringify!($field), &self.$field);)*
                Some($crate::json::Value::Object(_object))
            }
        }
    };
}

impl<T: FromJson> FromJson for Option<T> {
    fn missing() -> Option<Self> {
        Some(None)
    }

    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        match value {
            Value::Null => Ok(None),
            value => T::from_json(value, at).map(Some),
        }
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Option<Value> {
        self.as_ref().and_then(ToJson::to_json)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        match value {
            Value::Array(items) => items.iter().map(|item| T::from_json(item, at)).collect(),
            _ => error(at, "an array"),
        }
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Array(
            self.iter()
                .map(|item| item.to_json().unwrap_or(Value::Null))
                .collect(),
        ))
    }
}

impl FromJson for u64 {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        value
            .as_u64()
            .map_or_else(|| error(at, "a whole number from 0"), Ok)
    }
}

impl ToJson for u64 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
}

impl FromJson for u32 {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map_or_else(|| error(at, "a whole number from 0 to 2^32 - 1"), Ok)
    }
}

impl ToJson for u32 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
}

impl FromJson for i64 {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        value
            .as_i64()
            .map_or_else(|| error(at, "a whole number"), Ok)
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
}

impl FromJson for bool {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        value
            .as_bool()
            .map_or_else(|| error(at, "true or false"), Ok)
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Bool(*self))
    }
}

impl FromJson for String {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        value
            .as_str()
            .map_or_else(|| error(at, "a string"), |s| Ok(s.to_string()))
    }
}

impl ToJson for String {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }
}

impl FromJson for Value {
    fn missing() -> Option<Self> {
        None
    }

    fn from_json(value: &Value, _: &'static str) -> Result<Self, JsonError> {
        Ok(value.clone())
    }
}

impl ToJson for Value {
    fn to_json(&self) -> Option<Value> {
        Some(self.clone())
    }
}

/// A string field read as its text.
pub(crate) fn text<'a>(value: &'a Value, at: &'static str) -> Result<&'a str, JsonError> {
    value.as_str().map_or_else(|| error(at, "a string"), Ok)
}

/// The codec of a type whose JSON form is a string: `parse` reads it, `Display` writes it.
macro_rules! json_text {
    ($($ty:ty => $parse:expr, $expected:literal;)*) => {$(
        impl FromJson for $ty {
            fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(text(value, at)?).map_or_else(|| error(at, $expected), Ok)
            }
        }
    )*};
}

json_text! {
    crate::Blob => crate::Blob::from_base64url, "unpadded base64url";
    crate::SecretBlob => |t| crate::blob::decode_secret(t).map(crate::SecretBlob::new), "unpadded base64url";
    crate::RecordId => |t| crate::RecordId::parse(t).ok(), "a record id (22 characters of base64url)";
    crate::VaultId => |t| crate::VaultId::parse(t).ok(), "a vault id (22 characters of base64url)";
    crate::BearerToken => |t| Some(crate::BearerToken::new(t.to_string())), "a token";
}

impl ToJson for crate::Blob {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_base64url()))
    }
}

impl ToJson for crate::SecretBlob {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(crate::blob::encode_secret(self.expose())))
    }
}

impl ToJson for crate::RecordId {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_string()))
    }
}

impl ToJson for crate::VaultId {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_string()))
    }
}

impl ToJson for crate::BearerToken {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.expose().to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::*;

    /// serde's form reads back through this codec, and this codec's form through serde.
    fn agree<T: Serialize + DeserializeOwned + FromJson + ToJson + PartialEq + fmt::Debug>(
        value: &T,
    ) {
        let by_serde = serde_json::to_value(value).unwrap();
        assert_eq!(
            &T::from_json(&by_serde, "test").unwrap(),
            value,
            "{by_serde}"
        );
        let ours = value.to_json().unwrap();
        assert_eq!(
            &serde_json::from_value::<T>(ours.clone()).unwrap(),
            value,
            "{ours}"
        );
        assert_eq!(&from_str::<T>(&to_string(value)).unwrap(), value);
    }

    fn kdf() -> Kdf {
        Kdf {
            algorithm: KdfAlgorithm::Pbkdf2Sha256,
            iterations: 600_000,
            salt: Blob(vec![7; 16]),
        }
    }

    fn record(deleted: bool) -> Record {
        Record {
            record_id: RecordId::from_bytes([3; 16]),
            version: 9,
            deleted,
            ciphertext: Blob(vec![0xd1, 1, 2]),
            cursor: (1 << 53) - 1,
        }
    }

    fn token(expires: Option<i64>) -> TokenInfo {
        TokenInfo {
            id: 4,
            indicator: "vst_…abcd".into(),
            label: "laptop".into(),
            created_at: 1_700_000_000_000,
            last_used_at: expires.map(|t| t - 5),
            expires_at: expires,
            current: expires.is_none(),
        }
    }

    #[test]
    fn every_message_reads_and_writes_alike_in_both_codecs() {
        let vault_id = VaultId::from_bytes([1; 16]);
        let key = || SecretBlob::new(vec![9; 32]);
        for label in [None, Some("phone".to_string())] {
            agree(&RegisterRequest {
                username: "alice".into(),
                auth_key: key(),
                kdf: kdf(),
                vault_id,
                envelope: Blob(vec![0xe1; 40]),
                recovery_key: key(),
                token_label: label.clone(),
            });
            for ttl in [None, Some(3600)] {
                agree(&LoginRequest {
                    username: "alice".into(),
                    auth_key: key(),
                    token_label: label.clone(),
                    token_ttl_secs: ttl,
                });
                agree(&RecoverRequest {
                    username: "alice".into(),
                    recovery_key: key(),
                    token_label: label.clone(),
                    token_ttl_secs: ttl,
                });
            }
        }
        agree(&PreloginRequest {
            username: "ä b".into(),
        });
        agree(&PreloginResponse { kdf: kdf() });
        agree(&Session {
            vault_id,
            envelope_version: 3,
            token: IssuedToken {
                secret: BearerToken::new("vst_x".into()),
                info: token(None),
            },
        });
        agree(&TokenList {
            tokens: vec![token(None), token(Some(1_800_000_000_000))],
        });
        let envelope = EnvelopeDoc {
            version: 2,
            envelope: Blob(vec![0xe1, 0]),
            kdf: kdf(),
        };
        agree(&envelope);
        for auth_key in [None, Some(key())] {
            agree(&PutEnvelopeRequest {
                base_version: 1,
                envelope: Blob(vec![1]),
                kdf: kdf(),
                auth_key,
            });
        }
        agree(&PutEnvelopeResponse { version: 2 });
        for code in ErrorCode::ALL.iter().filter(|c| **c != ErrorCode::Unknown) {
            agree(&EnvelopeConflict {
                error: ErrorDetail {
                    code: *code,
                    message: "m".into(),
                },
                current: envelope.clone(),
            });
        }
        agree(&PushRequest {
            envelope_version: 4,
            base_seq: 3,
            head: Blob(vec![0xA1, 9]),
            items: vec![
                PushItem {
                    record_id: RecordId::from_bytes([2; 16]),
                    base_version: 0,
                    deleted: false,
                    ciphertext: Blob(vec![1, 2, 3]),
                    version: None,
                },
                PushItem {
                    record_id: RecordId::from_bytes([3; 16]),
                    base_version: 2,
                    deleted: true,
                    ciphertext: Blob(vec![4]),
                    version: Some(9),
                },
            ],
        });
        for code in [ErrorCode::HeadStale, ErrorCode::ServerBehind] {
            for head in [
                None,
                Some(HeadDoc {
                    seq: 5,
                    head: Blob(vec![0xA1]),
                }),
            ] {
                agree(&HeadRefusal {
                    error: ErrorDetail {
                        code,
                        message: "m".into(),
                    },
                    head,
                });
            }
        }
        agree(&PushResponse {
            results: vec![
                PushResult::Applied {
                    record_id: RecordId::from_bytes([2; 16]),
                    version: 1,
                    cursor: 7,
                },
                PushResult::Conflict {
                    record_id: RecordId::from_bytes([2; 16]),
                    current: None,
                },
                PushResult::Conflict {
                    record_id: RecordId::from_bytes([2; 16]),
                    current: Some(record(true)),
                },
                PushResult::Skipped {
                    record_id: RecordId::from_bytes([3; 16]),
                },
            ],
        });
        agree(&ChangesResponse {
            changes: vec![record(false), record(true)],
            cursor: 10,
            more: true,
            envelope_version: 1,
            head: None,
        });
        agree(&ChangesResponse {
            changes: vec![],
            cursor: 10,
            more: false,
            envelope_version: 1,
            head: Some(HeadDoc {
                seq: 4,
                head: Blob(vec![0xA1, 1, 2]),
            }),
        });
    }

    #[test]
    fn malformed_answers_are_refused_and_unknown_fields_ignored() {
        for bad in [
            r#"{"version":-1,"envelope":"AA","kdf":null}"#,
            r#"{"version":1.5,"envelope":"AA","kdf":{"algorithm":"pbkdf2-sha256","iterations":1,"salt":"AA"}}"#,
            r#"{"version":1,"envelope":"A=","kdf":{"algorithm":"pbkdf2-sha256","iterations":1,"salt":"AA"}}"#,
            r#"{"version":1,"envelope":"AA","kdf":{"algorithm":"scrypt","iterations":1,"salt":"AA"}}"#,
            r#"{"version":1,"kdf":{"algorithm":"pbkdf2-sha256","iterations":1,"salt":"AA"}}"#,
            r#"[1,"AA"]"#,
            "nul",
        ] {
            assert!(from_str::<EnvelopeDoc>(bad).is_err(), "{bad}");
        }
        let newer = r#"{"version":1,"new":true,"envelope":"AA","kdf":{"algorithm":"pbkdf2-sha256","iterations":1,"salt":"AA"}}"#;
        assert_eq!(from_str::<EnvelopeDoc>(newer).unwrap().version, 1);
        let code: ErrorDetail = from_str(r#"{"code":"FROM_THE_FUTURE","message":""}"#).unwrap();
        assert_eq!(code.code, ErrorCode::Unknown);
    }

    proptest! {
        #[test]
        fn pages_agree(
            changes in proptest::collection::vec(
                (any::<[u8; 16]>(), 1u64..=MAX_VERSION, any::<bool>(),
                 proptest::collection::vec(any::<u8>(), 0..64), 0u64..=MAX_VERSION),
                0..8),
            more: bool,
            envelope_version in 0u64..=MAX_VERSION,
        ) {
            let page = ChangesResponse {
                cursor: changes.last().map_or(0, |c| c.4),
                changes: changes
                    .into_iter()
                    .map(|(id, version, deleted, bytes, cursor)| Record {
                        record_id: RecordId::from_bytes(id),
                        version,
                        deleted,
                        ciphertext: Blob(bytes),
                        cursor,
                    })
                    .collect(),
                more,
                envelope_version,
                head: None,
            };
            agree(&page);
        }
    }
}
