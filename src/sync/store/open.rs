//! Reading a device store back: the metadata and the index when it opens (values stay
//! away), and one value when it is needed.

use std::collections::BTreeMap;

use serde_json::Value;
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::{self, field, object};
use zeroize::Zeroizing;

pub use super::values::{open_item, parse as value_items};
use super::{
    INDEX_PREFIX, META, PUSH, STORE_VERSION, StoreWriter, bucket_entry, bucket_of, meta_text,
    value_bucket,
};
use crate::code::Code;
use crate::crypto::store::open_entry;
use crate::crypto::{RecordId, UnlockedVault};
use crate::sync::engine::Engine;
use crate::sync::error::SyncError;
use crate::sync::replica::Replica;
use crate::sync::session::Session;

/// A store read back: the session (values away), and the entries that were refused
/// (corrupted, truncated, moved from another name or vault), each with its code. The
/// records of a refused entry are left out (nothing is uploaded from them) and the next
/// sync is a full pull that brings back the server's copy.
#[derive(Debug)]
pub struct Opened {
    /// The session (username, token, engine).
    pub session: Session,
    /// (entry name, why) of every entry left out.
    pub refused: Vec<(String, Code)>,
    /// The writer that continues this store.
    pub writer: StoreWriter,
}

/// Opens a store from its `meta` entry and the entries under `i/` (the index buckets and
/// the push in flight), with the vault unlocked from the `envelope` entry. Values stay
/// away until loaded ([`load_value`]). A `meta` that does not open refuses the whole store
/// (`STATE_TAMPERED`; another layout: `UNSUPPORTED_FORMAT`).
pub fn open(
    vault: &UnlockedVault,
    meta: &[u8],
    index: Vec<(String, Vec<u8>)>,
) -> Result<Opened, SyncError> {
    let text = Zeroizing::new(open_entry(vault, META, meta)?);
    let value = json::parse(&text).ok_or(SyncError::StateCorrupt)?;
    let o = object(&value, "meta").map_err(|_| SyncError::StateCorrupt)?;
    let version: u64 = field(o, "store_version").map_err(|_| SyncError::StateCorrupt)?;
    let mut refused = Vec::new();
    let mut replicas = BTreeMap::new();
    let mut writer = StoreWriter::default();
    let mut push = None;
    match version {
        STORE_VERSION => {
            for (name, bytes) in index {
                if name == PUSH {
                    // Refused: the push is forgotten; its edits are still pending and go
                    // out again (merged if it had landed).
                    let opened = open_entry(vault, PUSH, &bytes)
                        .map_err(SyncError::from)
                        .and_then(|text| json::parse(&text).ok_or(SyncError::StateCorrupt));
                    match opened {
                        Ok(saved) => push = Some(saved),
                        Err(e) => refused.push((name, e.code())),
                    }
                    continue;
                }
                match open_bucket(vault, &name, &bytes) {
                    Ok(rows) => replicas.extend(rows),
                    Err(e) => refused.push((name, e.code())),
                }
            }
        }
        found => return Err(SyncError::StoreVersion { found }),
    }
    let mut saved = o.get("engine").cloned().unwrap_or(Value::Null);
    if let (Some(push), Some(saved)) = (push, saved.as_object_mut()) {
        saved.insert("in_flight_push".into(), push);
    }
    let mut engine = Engine::from_parts(&saved, replicas).map_err(|_| SyncError::StateCorrupt)?;
    if engine.vault_id() != vault.vault_id() {
        return Err(SyncError::WrongVault);
    }
    if !refused.is_empty() {
        engine.start_resync();
    }
    let username: String = field(o, "username").map_err(|_| SyncError::StateCorrupt)?;
    let token: BearerToken = field(o, "token").map_err(|_| SyncError::StateCorrupt)?;
    writer.meta = Some(Zeroizing::new(meta_text(&username, &token, &engine)));
    writer.envelope = Some(vault.envelope().to_bytes());
    writer.push = engine.push_head();
    Ok(Opened {
        session: Session {
            username,
            token,
            engine,
        },
        refused,
        writer,
    })
}

fn open_bucket(
    vault: &UnlockedVault,
    name: &str,
    bytes: &[u8],
) -> Result<Vec<(RecordId, Replica)>, SyncError> {
    let bucket = name
        .strip_prefix(INDEX_PREFIX)
        .and_then(|b| u8::from_str_radix(b, 16).ok())
        .filter(|b| bucket_entry(*b) == name)
        .ok_or(SyncError::StateCorrupt)?;
    let text = Zeroizing::new(open_entry(vault, name, bytes)?);
    let text = std::str::from_utf8(&text).map_err(|_| SyncError::StateCorrupt)?;
    let rows = super::rows::parse_rows(text)?;
    if rows.iter().any(|(id, _)| bucket_of(id) != bucket) {
        return Err(SyncError::StateCorrupt);
    }
    Ok(rows)
}

/// Takes one value into the engine from its value bucket's bytes (`None`: no such
/// entry). A value that is missing, does not open, or is at another version than its row
/// is refused: the record is left out until the next full pull brings the server's copy
/// ([`Engine::refuse_value`]). One under a key the vault retired stays away, unread
/// (`KeyRetired`): the rotation re-sealed every record, and the pull brings them again.
pub fn load_value(
    engine: &mut Engine,
    vault: &UnlockedVault,
    id: &RecordId,
    bucket: Option<&[u8]>,
) -> Result<(), SyncError> {
    let version = engine.away_version(id).ok_or(SyncError::StateCorrupt);
    let loaded = version.and_then(|version| {
        let value = match engine.held(id) {
            Some(bytes) => open_item(vault, id, version, bytes)?,
            None => {
                let items = value_items(bucket.ok_or(SyncError::StateCorrupt)?)?;
                let (_, bytes) = items
                    .iter()
                    .find(|(i, _)| i == id)
                    .ok_or(SyncError::StateCorrupt)?;
                open_item(vault, id, version, bytes)?
            }
        };
        engine.load(id, version, value)
    });
    match loaded {
        // Not the store's fault: its records come again with the pull that follows the
        // rotation (it re-sealed every one of them).
        Err(SyncError::KeyRetired) => engine.value_unreadable(id),
        Err(_) => engine.refuse_value(id),
        Ok(()) => {}
    }
    loaded
}

/// Loads the values of those of `ids` that are away, reading each value bucket once with
/// `get`; returns what was refused (`v/<bb>:<record id>`, see [`load_value`]; a value
/// under a retired key is dropped without a word: the next full pull brings it back), or
/// the first error of `get`.
pub fn load_values<E>(
    engine: &mut Engine,
    vault: &UnlockedVault,
    ids: &[RecordId],
    mut get: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<Vec<(String, Code)>, E> {
    let mut refused = Vec::new();
    let mut buckets: Vec<Option<Option<Vec<u8>>>> = vec![None; 256];
    for id in ids {
        if !engine.is_away(id) {
            continue;
        }
        let b = bucket_of(id);
        let slot = &mut buckets[usize::from(b)];
        if slot.is_none() {
            *slot = Some(get(&value_bucket(b))?);
        }
        let bytes = slot.as_ref().and_then(Option::as_deref);
        match load_value(engine, vault, id, bytes) {
            Ok(()) | Err(SyncError::KeyRetired) => {}
            Err(e) => refused.push((format!("{}:{id}", value_bucket(b)), e.code())),
        }
    }
    Ok(refused)
}
