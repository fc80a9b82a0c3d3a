//! Reading a device store back: the metadata and the index when it opens (values stay
//! away), one value when it is needed, and layout 1 (every record whole) to migrate it.

use std::collections::BTreeMap;

use serde_json::Value;
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::{self, FromJson, field, object};
use zeroize::Zeroizing;

use super::{
    INDEX_PREFIX, META, RECORD_PREFIX, STORE_VERSION, StoreWriter, VALUE_PREFIX, bucket_entry,
    bucket_of, meta_text,
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

/// Opens a store from its `meta` entry, its index buckets (`i/…`) and, for a store of
/// layout 1, its record entries (`r/…`, empty otherwise), with the vault unlocked from the
/// `envelope` entry. Values stay away until loaded ([`open_value`]). A `meta` that does
/// not open refuses the whole store (`STATE_TAMPERED`; a newer layout:
/// `UNSUPPORTED_FORMAT`).
pub fn open(
    vault: &UnlockedVault,
    meta: &[u8],
    index: impl IntoIterator<Item = (String, Vec<u8>)>,
    legacy: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<Opened, SyncError> {
    let text = Zeroizing::new(open_entry(vault, META, meta)?);
    let value = json::parse(&text).ok_or(SyncError::StateCorrupt)?;
    let o = object(&value, "meta").map_err(|_| SyncError::StateCorrupt)?;
    let version: u64 = field(o, "store_version").map_err(|_| SyncError::StateCorrupt)?;
    let mut refused = Vec::new();
    let mut replicas = BTreeMap::new();
    let mut writer = StoreWriter::default();
    match version {
        1 => {
            for (name, bytes) in legacy {
                match open_record(vault, &name, &bytes) {
                    Ok((id, replica)) => {
                        replicas.insert(id, replica);
                    }
                    Err(e) => refused.push((name.clone(), e.code())),
                }
                writer.legacy.push(name);
            }
            writer.everything = true;
        }
        STORE_VERSION => {
            for (name, bytes) in index {
                match open_bucket(vault, &name, &bytes) {
                    Ok(rows) => replicas.extend(rows),
                    Err(e) => refused.push((name, e.code())),
                }
            }
        }
        found => return Err(SyncError::StoreVersion { found }),
    }
    let mut engine = Engine::from_parts(o.get("engine").unwrap_or(&Value::Null), replicas)
        .map_err(|_| SyncError::StateCorrupt)?;
    if engine.vault_id() != vault.vault_id() {
        return Err(SyncError::WrongVault);
    }
    if !refused.is_empty() {
        engine.start_resync();
    }
    let username: String = field(o, "username").map_err(|_| SyncError::StateCorrupt)?;
    let token: BearerToken = field(o, "token").map_err(|_| SyncError::StateCorrupt)?;
    if !writer.everything {
        writer.meta = Some(Zeroizing::new(meta_text(&username, &token, &engine)));
        writer.envelope = Some(vault.envelope().to_bytes());
    }
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

/// Opens one value entry (`v/<id>`): the version it was written at and the value, for
/// [`Engine::load`] (which refuses a version other than the index's).
pub fn open_value(
    vault: &UnlockedVault,
    id: &RecordId,
    bytes: &[u8],
) -> Result<(u64, Value), SyncError> {
    let name = format!("{VALUE_PREFIX}{id}");
    let text = Zeroizing::new(open_entry(vault, &name, bytes)?);
    let value = json::parse(&text).ok_or(SyncError::StateCorrupt)?;
    let o = object(&value, "value").map_err(|_| SyncError::StateCorrupt)?;
    let version: u64 = field(o, "version").map_err(|_| SyncError::StateCorrupt)?;
    let value = o.get("value").cloned().ok_or(SyncError::StateCorrupt)?;
    Ok((version, value))
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

fn open_record(
    vault: &UnlockedVault,
    name: &str,
    bytes: &[u8],
) -> Result<(RecordId, Replica), SyncError> {
    let id = name
        .strip_prefix(RECORD_PREFIX)
        .and_then(|id| RecordId::parse(id).ok())
        .ok_or(SyncError::StateCorrupt)?;
    let text = Zeroizing::new(open_entry(vault, name, bytes)?);
    let replica = json::parse(&text)
        .and_then(|v| Replica::from_json(&v, "record").ok())
        .ok_or(SyncError::StateCorrupt)?;
    Ok((id, replica))
}

/// Takes one value into the engine from its entry's bytes (`None`: no such entry). A value
/// that does not open, or not at the index's version, is refused: the record is left out
/// until the next full pull brings the server's copy ([`Engine::refuse_value`]).
pub fn load_value(
    engine: &mut Engine,
    vault: &UnlockedVault,
    id: &RecordId,
    bytes: Option<&[u8]>,
) -> Result<(), SyncError> {
    let loaded = bytes
        .ok_or(SyncError::StateCorrupt)
        .and_then(|bytes| open_value(vault, id, bytes))
        .and_then(|(version, value)| engine.load(id, version, value));
    if loaded.is_err() {
        engine.refuse_value(id);
    }
    loaded
}

/// Loads the values of those of `ids` that are away, reading each entry with `get`;
/// returns the entries refused
/// (see [`load_value`]), or the first error of `get`.
pub fn load_values<E>(
    engine: &mut Engine,
    vault: &UnlockedVault,
    ids: &[RecordId],
    mut get: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<Vec<(String, Code)>, E> {
    let mut refused = Vec::new();
    for id in ids {
        if !engine.is_away(id) {
            continue;
        }
        let name = format!("{VALUE_PREFIX}{id}");
        let bytes = get(&name)?;
        if let Err(e) = load_value(engine, vault, id, bytes.as_deref()) {
            refused.push((name, e.code()));
        }
    }
    Ok(refused)
}
