//! How engine state keeps JSON values exact through serde: `Some(null)` apart from an
//! absent value, and a pending delete apart from no pending edit.

/// `Option<Value>` fields keep `Some(null)` apart from `None` through serde: `None` is an
/// absent field, anything present (JSON `null` included) is `Some`.
pub(crate) mod exact {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub(crate) fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => v.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }
}

/// A pending local edit: `Some(value)` puts, `None` deletes. Stored as `{"put": value}` or
/// `"delete"` (a bare `Option<Option<_>>` would lose the delete through JSON).
pub(crate) mod edit {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum EditRef<'a> {
        Put(&'a Value),
        Delete,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Edit {
        Put(Value),
        Delete,
    }

    pub(crate) fn serialize<S: Serializer>(
        pending: &Option<Option<Value>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        pending
            .as_ref()
            .map(|edit| match edit {
                Some(value) => EditRef::Put(value),
                None => EditRef::Delete,
            })
            .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Value>>, D::Error> {
        Ok(Option::<Edit>::deserialize(d)?.map(|edit| match edit {
            Edit::Put(value) => Some(value),
            Edit::Delete => None,
        }))
    }
}
