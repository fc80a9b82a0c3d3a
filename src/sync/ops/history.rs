//! Record history, sans-IO (PROTOCOL.md, "History"): a page of past versions opened and
//! checked exactly like current records. Each version is sealed bound to its record id,
//! version and tombstone flag (FORMAT.md), so a version the server forged, moved from
//! another record or relabelled fails to open (`TAMPERED`), and a page out of order is
//! refused: the server can withhold history, never rewrite it. Restoring is an ordinary
//! edit of the old value (a new version): history is never rewritten either.

use serde_json::Value;
use vaultsync_wire::json::{Map, ToJson, put};
use vaultsync_wire::{self as wire, RecordId};

use crate::crypto::UnlockedVault;
use crate::crypto::record::RecordMeta;
use crate::sync::SyncError;

/// One past version, opened.
#[derive(Clone, Debug, PartialEq)]
pub struct PastValue {
    /// Its version.
    pub version: u64,
    /// Its value; `None` for a tombstone (the record was deleted at that version).
    pub value: Option<Value>,
    /// When a newer version replaced it (Unix milliseconds, as the server says).
    pub replaced_at: i64,
}

impl ToJson for PastValue {
    /// `{version, value, replacedAt}` (no `value` for a tombstone).
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "version", &self.version);
        put(&mut o, "value", &self.value);
        put(&mut o, "replacedAt", &self.replaced_at);
        Some(Value::Object(o))
    }
}

/// Opens a page of `record`'s history, each version below `below` (the current version,
/// or the last version of the previous page) and in strictly decreasing order.
///
/// A version sealed under a key this vault no longer holds (retired by a key rotation) is
/// left out: no device can open it any more, as if the server had not kept it (it drops
/// it with its retention). Leaving it out gives the server nothing: it could withhold
/// any version anyway, and it still cannot forge one.
pub fn open_page(
    vault: &UnlockedVault,
    record: &RecordId,
    below: u64,
    page: &wire::HistoryPage,
) -> Result<Vec<PastValue>, SyncError> {
    let tampered = || SyncError::Tampered { record_id: *record };
    if page.record_id != *record {
        return Err(tampered());
    }
    let held = vault.key_ids();
    let mut last = below;
    let mut out = Vec::with_capacity(page.versions.len());
    for past in &page.versions {
        if past.version >= last {
            return Err(SyncError::BadAnswer {
                reason: "a history page out of order",
            });
        }
        last = past.version;
        let sealed = past.ciphertext.as_bytes();
        if !held.contains(&crate::sync::engine::key_id_of(sealed)) {
            continue;
        }
        let meta = RecordMeta::new(*record, past.version, past.deleted).map_err(|_| tampered())?;
        let plaintext = vault.open(&meta, sealed).map_err(|_| tampered())?;
        let value = match past.deleted {
            true => None,
            false => Some(wire::json::parse(&plaintext).ok_or_else(tampered)?),
        };
        out.push(PastValue {
            version: past.version,
            value,
            replaced_at: past.replaced_at,
        });
    }
    Ok(out)
}
