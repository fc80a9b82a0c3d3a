//! What the engine reports to a UI: events of a sync and progress of long ones.

use serde::Serialize;
use serde_json::Value;

use super::merge::FieldConflict;
use crate::crypto::RecordId;

/// What a sync changed, for a UI. As JSON: `{"type": "changed", "id", "value"}`,
/// `{"type": "deleted", "id"}`, `{"type": "conflict", "id", "conflicts"}`,
/// `{"type": "envelopeChanged", "password", "keys"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
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
}

/// Progress of a long operation (a first sync of a large vault, a big push, a key
/// rotation), reported after every batch. As JSON: `{"phase": "push", "done", "pending"}`,
/// `{"phase": "pull", "done", "more"}` or `{"phase": "rotate", "done", "total"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
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
