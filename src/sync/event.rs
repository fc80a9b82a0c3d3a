//! What the engine reports to a UI: events of a sync and progress of long ones.

use serde_json::{Map, Value};
use vaultsync_wire::json::{ToJson, put};

use super::merge::FieldConflict;
use crate::code::Code;
use crate::crypto::RecordId;

/// What a sync changed, for a UI. As JSON: `{"type": "changed", "id", "value"}`,
/// `{"type": "deleted", "id"}`, `{"type": "conflict", "id", "conflicts"}`,
/// `{"type": "envelopeChanged", "password", "keys"}`, `{"type": "integrity", "code",
/// "recovered"}`, `{"type": "reuploaded", "count"}`, `{"type": "deletionsHeld", "count"}`. `Debug` never shows a value.
#[derive(Clone, PartialEq)]
pub enum Event {
    /// A record was created or changed by another device.
    Changed {
        /// The record.
        id: RecordId,
        /// Its value now.
        value: Value,
    },
    /// A record was deleted by another device.
    Deleted {
        /// The record.
        id: RecordId,
    },
    /// Another device changed the envelope; this device adopted it. With `password`, the
    /// next unlock (and `resume`) needs the new password.
    EnvelopeChanged {
        /// The password changed.
        password: bool,
        /// The keyring changed (key rotation).
        keys: bool,
    },
    /// A local edit met a newer server copy; both values are in `conflicts`, and the
    /// record now holds the merged value (pushed on the next sync).
    Conflict {
        /// The record.
        id: RecordId,
        /// Every field both sides changed, with both values and the one kept.
        conflicts: Vec<FieldConflict>,
    },
    /// The vault head's check failed (`OMISSION`, `FORK` or `ROLLBACK`) and a full pull
    /// that checked out put things right (`recovered`): the server lost or hid something
    /// for a while. Worth a note in a log or a quiet warning.
    Integrity {
        /// The code of the failed check.
        code: Code,
        /// Always true: an unrecovered failure is the sync's error instead.
        recovered: bool,
    },
    /// The server lacked records this device holds (it was restored from a backup, or
    /// another device re-seeded it): they are pending again and go out with the next
    /// push.
    Reuploaded {
        /// How many records.
        count: usize,
    },
    /// The server deleted more records than the mass-deletion guard allows: they stay in
    /// view, held, until the application confirms the deletions or keeps the records
    /// (`Engine::confirm_deletions`, `Engine::keep_deletions`). Everything else the pull
    /// brought is applied.
    DeletionsHeld {
        /// How many records this pull held.
        count: usize,
    },
}

impl core::fmt::Debug for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Changed { id, .. } => write!(f, "Changed({id}, [redacted])"),
            Self::Deleted { id } => write!(f, "Deleted({id})"),
            Self::EnvelopeChanged { password, keys } => f
                .debug_struct("EnvelopeChanged")
                .field("password", password)
                .field("keys", keys)
                .finish(),
            Self::Conflict { id, conflicts } => write!(f, "Conflict({id}, {conflicts:?})"),
            Self::Integrity { code, recovered } => f
                .debug_struct("Integrity")
                .field("code", code)
                .field("recovered", recovered)
                .finish(),
            Self::Reuploaded { count } => write!(f, "Reuploaded({count})"),
            Self::DeletionsHeld { count } => write!(f, "DeletionsHeld({count})"),
        }
    }
}

/// Progress of a long operation (a first sync of a large vault, a big push, a key
/// rotation), reported after every batch. As JSON: `{"phase": "push", "done", "pending"}`,
/// `{"phase": "pull", "done", "more"}` or `{"phase": "rotate", "done", "total"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A push batch was answered.
    Push {
        /// Writes answered so far in this sync.
        done: usize,
        /// Edits still waiting.
        pending: usize,
    },
    /// A page of changes was applied.
    Pull {
        /// Changes applied so far in this sync.
        done: usize,
        /// More pages follow.
        more: bool,
    },
    /// A batch of records re-sealed under the new key was answered (key rotation).
    Rotate {
        /// Records re-sealed so far.
        done: usize,
        /// Records to re-seal in all (grows if other devices' older copies turn up).
        total: usize,
    },
}

/// An object with a tag member (`type` or `phase`) first.
fn tagged(tag: &str, name: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert(tag.into(), Value::String(name.into()));
    o
}

impl ToJson for Event {
    fn to_json(&self) -> Option<Value> {
        let o = match self {
            Self::Changed { id, value } => {
                let mut o = tagged("type", "changed");
                put(&mut o, "id", id);
                put(&mut o, "value", value);
                o
            }
            Self::Deleted { id } => {
                let mut o = tagged("type", "deleted");
                put(&mut o, "id", id);
                o
            }
            Self::EnvelopeChanged { password, keys } => {
                let mut o = tagged("type", "envelopeChanged");
                put(&mut o, "password", password);
                put(&mut o, "keys", keys);
                o
            }
            Self::Conflict { id, conflicts } => {
                let mut o = tagged("type", "conflict");
                put(&mut o, "id", id);
                put(&mut o, "conflicts", conflicts);
                o
            }
            Self::Integrity { code, recovered } => {
                let mut o = tagged("type", "integrity");
                put(&mut o, "code", &code.as_str().to_string());
                put(&mut o, "recovered", recovered);
                o
            }
            Self::Reuploaded { count } => {
                let mut o = tagged("type", "reuploaded");
                o.insert("count".into(), Value::from(*count));
                o
            }
            Self::DeletionsHeld { count } => {
                let mut o = tagged("type", "deletionsHeld");
                o.insert("count".into(), Value::from(*count));
                o
            }
        };
        Some(Value::Object(o))
    }
}

impl ToJson for Progress {
    fn to_json(&self) -> Option<Value> {
        let (phase, done, key, other) = match *self {
            Self::Push { done, pending } => ("push", done, "pending", Value::from(pending)),
            Self::Pull { done, more } => ("pull", done, "more", Value::Bool(more)),
            Self::Rotate { done, total } => ("rotate", done, "total", Value::from(total)),
        };
        let mut o = tagged("phase", phase);
        o.insert("done".into(), Value::from(done));
        o.insert(key.into(), other);
        Some(Value::Object(o))
    }
}
