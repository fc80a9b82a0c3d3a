//! The JSON form of the engine's saved state (`FORMAT.md`, "Exported engine state"), read
//! and written with the wire crate's small codec (no serde-generated code in the npm
//! package). The form is the one earlier versions wrote with serde, byte for byte
//! (`tests/data/engine-state-v1.json`), so saved sessions keep opening. Two details keep
//! values exact: an optional value is absent when `None` and present (even as `null`) when
//! `Some`, and a pending edit is `{"put": value}`, `"delete"`, or `null` for none.

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};

use super::merge::{ConflictPolicy, FieldConflict};

/// An optional value kept apart from `null`: absent is `None`, anything present is `Some`.
pub(crate) fn get_exact(object: &Map<String, Value>, name: &str) -> Option<Value> {
    object.get(name).cloned()
}

/// Writes an optional value: nothing for `None`, the value (even `null`) for `Some`.
pub(crate) fn put_exact(object: &mut Map<String, Value>, name: &str, value: &Option<Value>) {
    if let Some(value) = value {
        object.insert(name.to_string(), value.clone());
    }
}

/// Reads a pending edit: `Some(value)` puts, `None` deletes.
pub(crate) fn get_edit(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<Option<Value>>, JsonError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "delete" => Ok(Some(None)),
        Some(Value::Object(edit)) if edit.len() == 1 && edit.contains_key("put") => {
            Ok(Some(edit.get("put").cloned()))
        }
        Some(_) => Err(JsonError {
            at: name,
            expected: "{\"put\": value}, \"delete\" or null",
        }),
    }
}

/// Writes a pending edit.
pub(crate) fn put_edit(object: &mut Map<String, Value>, name: &str, edit: &Option<Option<Value>>) {
    let form = match edit {
        None => Value::Null,
        Some(None) => Value::String("delete".into()),
        Some(Some(value)) => {
            let mut put = Map::new();
            put.insert("put".into(), value.clone());
            Value::Object(put)
        }
    };
    object.insert(name.to_string(), form);
}

impl FromJson for ConflictPolicy {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        match value.as_str() {
            Some("keep-local") => Ok(Self::KeepLocal),
            Some("server-wins") => Ok(Self::ServerWins),
            Some("client-wins") => Ok(Self::ClientWins),
            _ => Err(JsonError {
                at,
                expected: "keep-local, server-wins or client-wins",
            }),
        }
    }
}

impl ToJson for ConflictPolicy {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.as_str().into()))
    }
}

impl FromJson for FieldConflict {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        Ok(Self {
            path: field(o, "path")?,
            local: get_exact(o, "local"),
            remote: get_exact(o, "remote"),
            kept: get_exact(o, "kept"),
        })
    }
}

impl ToJson for FieldConflict {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "path", &self.path);
        put_exact(&mut o, "local", &self.local);
        put_exact(&mut o, "remote", &self.remote);
        put_exact(&mut o, "kept", &self.kept);
        Some(Value::Object(o))
    }
}
