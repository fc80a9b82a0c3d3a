//! One record of the replica: the server's copy this device last accepted, the highest
//! version it has seen, its pending edit and conflicts, and how a newer server copy is
//! taken in (merged with the pending edit).

use serde_json::{Map, Value};
use vaultsync_wire::Blob;
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};

use super::event::Event;
use super::forms::{get_edit, get_exact, put_edit, put_exact};
use super::merge::{FieldConflict, Resolve, merge3};
use crate::crypto::RecordId;
use crate::crypto::head::Leaf;

/// The server's state of a record as this replica last accepted it.
#[derive(Clone, PartialEq)]
pub(super) struct Synced {
    pub(super) version: u64,
    /// `None`: a tombstone, or a live record whose value is `away`.
    pub(super) value: Option<Value>,
    /// A live record whose value is not in memory but in the device store (a store opened
    /// lazily, or a value evicted after it was written): loaded before it is needed.
    pub(super) away: bool,
    /// The server's sealed bytes of this copy, kept until the device store takes them (it
    /// stores them as they are: they authenticate themselves). Not saved.
    pub(super) sealed: Option<Vec<u8>>,
    /// The device store holds this copy's value. Not saved.
    pub(super) stored: bool,
    /// Away, and not readable any more: stored as the server sealed it, under a key the
    /// vault has retired since. A pull brings its re-sealed copy; until then a merge has
    /// no base for it (both sides kept as conflicts). Not saved.
    pub(super) unreadable: bool,
    /// The key id its ciphertext is sealed under (0: not known, from a state saved before
    /// key ids were kept; such a record is re-sealed by a key rotation to be safe).
    pub(super) key_id: u32,
    /// Its leaf in the vault head's set digest (`None` for a tombstone, and for a record
    /// from a state saved before heads).
    pub(super) leaf: Option<Leaf>,
}

/// One record of the replica.
#[derive(Clone, Default, PartialEq)]
pub(super) struct Replica {
    /// The last server version accepted: the base of a 3-way merge. `None` while the
    /// record exists only locally (or the server no longer has it).
    pub(super) synced: Option<Synced>,
    /// The highest version ever accepted for this record: anything lower is a rollback.
    pub(super) max_seen: u64,
    /// A local edit not yet accepted by the server: `Some(None)` deletes.
    pub(super) pending: Option<Option<Value>>,
    /// Local time of the pending edit (as passed in by the caller).
    pub(super) edited_at: u64,
    /// Conflicts met on this record and not yet dismissed.
    pub(super) conflicts: Vec<FieldConflict>,
    /// The value a held deletion keeps in view: the server deleted the record (its
    /// tombstone is `synced`) in a mass deletion the application has not confirmed yet
    /// (`engine/guard.rs`). Never with a pending edit.
    pub(super) held: Option<Value>,
}

impl FromJson for Synced {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        Ok(Self {
            version: field(o, "version")?,
            value: get_exact(o, "value"),
            away: false,
            sealed: None,
            stored: false,
            unreadable: false,
            key_id: match o.get("key_id") {
                Some(id) => u32::from_json(id, "key_id")?,
                None => 0,
            },
            leaf: match field::<Option<Blob>>(o, "leaf")? {
                Some(leaf) => Some(Leaf::from_bytes(leaf.as_bytes().try_into().map_err(
                    |_| JsonError {
                        at: "leaf",
                        expected: "32 bytes",
                    },
                )?)),
                None => None,
            },
        })
    }
}

impl ToJson for Synced {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "version", &self.version);
        put_exact(&mut o, "value", &self.value);
        put(&mut o, "key_id", &self.key_id);
        if let Some(leaf) = &self.leaf {
            put(&mut o, "leaf", &Blob(leaf.as_bytes().to_vec()));
        }
        Some(Value::Object(o))
    }
}

impl FromJson for Replica {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        Ok(Self {
            synced: field(o, "synced")?,
            max_seen: field(o, "max_seen")?,
            pending: get_edit(o, "pending")?,
            edited_at: field(o, "edited_at")?,
            conflicts: field(o, "conflicts")?,
            held: get_exact(o, "held"),
        })
    }
}

impl ToJson for Replica {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        o.insert(
            "synced".into(),
            self.synced
                .as_ref()
                .and_then(ToJson::to_json)
                .unwrap_or(Value::Null),
        );
        put(&mut o, "max_seen", &self.max_seen);
        put_edit(&mut o, "pending", &self.pending);
        put(&mut o, "edited_at", &self.edited_at);
        put(&mut o, "conflicts", &self.conflicts);
        put_exact(&mut o, "held", &self.held);
        Some(Value::Object(o))
    }
}

impl Synced {
    /// A live record (its value in memory or away), not a tombstone.
    pub(super) fn is_live(&self) -> bool {
        self.value.is_some() || self.away
    }

    /// The server's copy of a record as this device accepted it.
    pub(super) fn new(version: u64, value: Option<Value>, key_id: u32, leaf: Option<Leaf>) -> Self {
        Self {
            version,
            value,
            away: false,
            sealed: None,
            stored: false,
            unreadable: false,
            key_id,
            leaf,
        }
    }
}

impl Replica {
    pub(super) fn base_version(&self) -> u64 {
        self.synced.as_ref().map_or(0, |s| s.version)
    }

    pub(super) fn synced_value(&self) -> Option<&Value> {
        self.synced.as_ref().and_then(|s| s.value.as_ref())
    }

    /// Whether the server's copy this replica accepted is a live record (its value in
    /// memory or away).
    pub(super) fn synced_live(&self) -> bool {
        self.synced.as_ref().is_some_and(Synced::is_live)
    }

    /// Whether this device sees the record as live (pending edits and held deletions
    /// included).
    pub(super) fn live(&self) -> bool {
        match &self.pending {
            Some(pending) => pending.is_some(),
            None => self.synced_live() || self.held.is_some(),
        }
    }

    /// Whether the synced value is away (in the device store only).
    pub(super) fn away(&self) -> bool {
        self.synced.as_ref().is_some_and(|s| s.away)
    }

    /// The device store's index row of this replica: everything but the synced value,
    /// which has an entry of its own (`"live"` tells a tombstone from a live record).
    pub(crate) fn row_json(&self) -> Value {
        let mut value = self.to_json().unwrap_or(Value::Null);
        if let (Some(synced), Some(Value::Object(o))) = (&self.synced, value.get_mut("synced")) {
            o.remove("value");
            o.insert("live".into(), Value::Bool(synced.is_live()));
        }
        value
    }

    /// A replica from its index row; a live synced value is away until loaded.
    pub(crate) fn from_row(row: &Value) -> Result<Self, JsonError> {
        let mut replica = Self::from_json(row, "row")?;
        if let Some(synced) = &mut replica.synced {
            if synced.value.is_some() {
                return Err(JsonError {
                    at: "row",
                    expected: "no value in an index row",
                });
            }
            let live = row
                .get("synced")
                .and_then(|s| s.get("live"))
                .and_then(Value::as_bool);
            synced.away = live.ok_or(JsonError {
                at: "row",
                expected: "synced.live",
            })?;
            synced.stored = synced.away;
        }
        Ok(replica)
    }

    pub(super) fn view(&self) -> Option<&Value> {
        match &self.pending {
            Some(pending) => pending.as_ref(),
            None => self.synced_value().or(self.held.as_ref()),
        }
    }
}

/// Takes a newer (or equal) server copy into a replica: as is without a pending edit,
/// merged with the pending edit otherwise. Edits win over concurrent deletes, on either
/// side: the record survives and the delete is reported as a conflict.
pub(super) fn reconcile(
    id: RecordId,
    replica: &mut Replica,
    mut remote: Synced,
    resolver: &mut dyn Resolve,
    lend: bool,
) -> Vec<Event> {
    replica.max_seen = replica.max_seen.max(remote.version);
    if remote.version != 0 && remote.version <= replica.base_version() {
        return Vec::new(); // already have it (e.g. our own write coming back)
    }
    // A base away is loaded before a merge needs it (the driver's `needs_loading`); without
    // a pending edit, an event is told whatever it was.
    debug_assert!(
        replica.pending.is_none()
            || !replica.away()
            || replica.synced.as_ref().is_some_and(|s| s.unreadable)
    );
    let base_known = !replica.away();
    let base = replica.synced_value().cloned();
    let mut events = Vec::new();
    match replica.pending.take() {
        // Nothing to tell a UI when only the version or the key changed (a re-seal by a
        // key rotation, a retry of a write this device had already seen).
        None if base_known && remote.value == base => {}
        None => {
            events.push(match remote.value.take() {
                // The event takes the value; the store takes the server's bytes, which
                // it is read back from (`Engine::lend_values`).
                Some(value) if lend && remote.sealed.is_some() => {
                    remote.away = true;
                    Event::Changed { id, value }
                }
                Some(value) => {
                    remote.value = Some(value.clone());
                    Event::Changed { id, value }
                }
                None => Event::Deleted { id },
            });
        }
        Some(local) => {
            let (kept, conflicts) = match (&local, &remote.value) {
                // Deleted here, edited there: the edit survives.
                (None, Some(theirs)) if Some(theirs) != base.as_ref() => (
                    Some(theirs.clone()),
                    vec![FieldConflict {
                        path: String::new(),
                        local: None,
                        remote: Some(theirs.clone()),
                        kept: Some(theirs.clone()),
                    }],
                ),
                // Edited here, deleted there: the edit survives (re-created).
                (Some(mine), None) if Some(mine) != base.as_ref() => (
                    Some(mine.clone()),
                    vec![FieldConflict {
                        path: String::new(),
                        local: Some(mine.clone()),
                        remote: None,
                        kept: Some(mine.clone()),
                    }],
                ),
                _ => merge3(
                    base.as_ref(),
                    local.as_ref(),
                    remote.value.as_ref(),
                    resolver,
                ),
            };
            if kept != remote.value {
                replica.pending = Some(kept.clone());
            }
            if !conflicts.is_empty() {
                replica.conflicts.extend(conflicts.iter().cloned());
                events.push(Event::Conflict { id, conflicts });
            }
            if kept.as_ref() != local.as_ref() {
                events.push(match &kept {
                    Some(value) => Event::Changed {
                        id,
                        value: value.clone(),
                    },
                    None => Event::Deleted { id },
                });
            }
        }
    }
    replica.synced = Some(remote);
    events
}
