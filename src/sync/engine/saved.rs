//! The engine's saved forms: the whole state as JSON (`export`, a saved session), and the
//! parts the device store writes separately (the metadata, one record at a time, the
//! records touched since the last write).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};

use super::Engine;
use super::head::HeadState;
use crate::crypto::RecordId;
use crate::sync::replica::Replica;

/// The engine's saved form (`src/sync/forms.rs`): every field but the pending index.
impl ToJson for Engine {
    fn to_json(&self) -> Option<Value> {
        let mut o = self.meta_with(true);
        // Maps are filled by insert, never collected: `collect` into a B-tree sorts first,
        // and the sort's code cost the .wasm 30 KB.
        let mut records = Map::new();
        for (id, replica) in &self.records {
            records.insert(id.to_string(), replica.to_json().unwrap_or(Value::Null));
        }
        o.insert("records".into(), Value::Object(records));
        Some(Value::Object(o))
    }
}

impl Engine {
    /// Every saved field but the records and the push in flight: the device store's
    /// metadata entry (the push has an entry of its own: it may hold megabytes).
    pub(in crate::sync) fn meta_map(&self) -> Map<String, Value> {
        self.meta_with(false)
    }

    /// What tells the push in flight from another: its head.
    pub(in crate::sync) fn push_head(&self) -> Option<Vec<u8>> {
        Some(self.in_flight.as_ref()?.head().to_bytes())
    }

    /// The push in flight's saved form.
    pub(in crate::sync) fn push_json(&self) -> Option<Value> {
        self.in_flight.as_ref()?.to_json()
    }

    fn meta_with(&self, push: bool) -> Map<String, Value> {
        let mut o = Map::new();
        put(&mut o, "vault_id", &self.vault_id);
        put(&mut o, "policy", &self.policy);
        put(&mut o, "cursor", &self.cursor);
        if let Some(in_flight) = self.in_flight.as_ref().filter(|_| push) {
            put(&mut o, "in_flight_push", in_flight);
        }
        put(&mut o, "resync", &self.resync);
        put(&mut o, "envelope_version", &self.envelope_version);
        put(&mut o, "kdf_floor", &self.kdf_floor);
        put(&mut o, "head", &self.head);
        o
    }

    /// The records changed since the last call (for the device store to write).
    pub(in crate::sync) fn take_touched(&mut self) -> BTreeSet<RecordId> {
        core::mem::take(&mut self.touched)
    }

    /// Every record (the device store's index).
    pub(in crate::sync) fn replicas(&self) -> impl Iterator<Item = (&RecordId, &Replica)> {
        self.records.iter()
    }

    /// The records changed since the last write.
    pub(in crate::sync) fn touched(&self) -> &BTreeSet<RecordId> {
        &self.touched
    }

    /// One record.
    pub(in crate::sync) fn replica(&self, id: &RecordId) -> Option<&Replica> {
        self.records.get(id)
    }

    /// One record, to change (the device store's writer marks its value stored).
    pub(in crate::sync) fn replica_mut(&mut self, id: &RecordId) -> Option<&mut Replica> {
        self.records.get_mut(id)
    }

    /// An engine from the device store: the metadata entry and the records' entries.
    pub(in crate::sync) fn from_parts(
        meta: &Value,
        records: BTreeMap<RecordId, Replica>,
    ) -> Result<Self, JsonError> {
        let o = object(meta, "engine")?;
        Self::from_object(o, records)
    }

    fn from_object(
        o: &Map<String, Value>,
        records: BTreeMap<RecordId, Replica>,
    ) -> Result<Self, JsonError> {
        // A state saved before vault heads: a push in flight is forgotten (its edits are
        // still pending and go out again, merged if the first attempt landed), a resync
        // under way starts again, and leaves are learnt by a full pull.
        let legacy_resync = !matches!(o.get("resync_seen"), None | Some(Value::Null));
        let head: Option<HeadState> = field(o, "head")?;
        let mut engine = Self {
            vault_id: field(o, "vault_id")?,
            policy: field(o, "policy")?,
            cursor: field(o, "cursor")?,
            records,
            in_flight: field(o, "in_flight_push")?,
            resync: field::<Option<bool>>(o, "resync")?.unwrap_or(legacy_resync),
            envelope_version: field(o, "envelope_version")?,
            kdf_floor: field(o, "kdf_floor")?,
            head: head.unwrap_or_default(),
            dirty: BTreeSet::new(),
            pull: None,
            pull_first: false,
            touched: BTreeSet::new(),
            preopened: BTreeMap::new(),
            recent: Default::default(),
            lend: false,
            guard: Some(super::MassDelete::default()),
        };
        engine.after_load();
        Ok(engine)
    }
}

impl FromJson for Engine {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        let mut records = BTreeMap::new();
        for (id, replica) in object(o.get("records").unwrap_or(&Value::Null), "records")? {
            let id = RecordId::parse(id).map_err(|_| JsonError {
                at: "records",
                expected: "record ids as keys",
            })?;
            records.insert(id, Replica::from_json(replica, "records")?);
        }
        Self::from_object(o, records)
    }
}
