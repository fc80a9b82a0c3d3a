//! Value buckets (`v/<bb>`, `FORMAT.md`, "Device store"): the synced values of a bucket's
//! live records, each as the server's sealed record (`0xD1`, stored as received: it
//! authenticates itself, bound to its vault, id and version) or, for a value this device
//! has no server bytes of, a `0x5F` entry under the state key. One entry per bucket, not
//! per record: IndexedDB spends about 0.2 ms per entry written (BENCHMARKS.md).

use serde_json::{Map, Value};
use vaultsync_wire::json::{self, field, object, put};
use zeroize::Zeroizing;

use crate::crypto::RecordError;
use crate::crypto::rand::Entropy;
use crate::crypto::record::RECORD_FORMAT_V1;
use crate::crypto::store::{open_entry, seal_entry};
use crate::crypto::{RecordId, RecordMeta, UnlockedVault};
use crate::sync::error::SyncError;
use vaultsync_wire::ID_LEN;

/// The items of a value bucket's bytes: `(record id, sealed bytes)`, in order. Anything
/// that does not parse refuses the bucket.
pub fn parse(bytes: &[u8]) -> Result<Vec<(RecordId, &[u8])>, SyncError> {
    let mut items = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (id, tail) = rest
            .split_at_checked(ID_LEN)
            .ok_or(SyncError::StateCorrupt)?;
        let (len, tail) = tail.split_at_checked(4).ok_or(SyncError::StateCorrupt)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| SyncError::StateCorrupt)?);
        let (item, tail) = tail
            .split_at_checked(len as usize)
            .ok_or(SyncError::StateCorrupt)?;
        let id = RecordId::from_bytes(id.try_into().map_err(|_| SyncError::StateCorrupt)?);
        items.push((id, item));
        rest = tail;
    }
    Ok(items)
}

/// Appends one item: `id (16) || length (u32, big-endian) || bytes`.
pub(super) fn push(out: &mut Vec<u8>, id: &RecordId, bytes: &[u8]) {
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A value this device has no server bytes of, sealed under the state key.
pub(super) fn seal_value(
    vault: &UnlockedVault,
    id: &RecordId,
    version: u64,
    value: &Value,
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<Vec<u8>, SyncError> {
    let mut o = Map::new();
    put(&mut o, "version", &version);
    o.insert("value".into(), value.clone());
    let text = Zeroizing::new(json::to_string(&Value::Object(o)));
    Ok(seal_entry(vault, &item_name(id), text.as_bytes(), entropy)?)
}

fn item_name(id: &RecordId) -> String {
    format!("v/{id}")
}

/// Opens one item of a value bucket: the value of `id` at `version` (the version its row
/// names), or `STATE_TAMPERED` (modified, moved from another record, another version,
/// another vault; `KeyRetired` under a key the vault no longer holds).
pub fn open_item(
    vault: &UnlockedVault,
    id: &RecordId,
    version: u64,
    bytes: &[u8],
) -> Result<Value, SyncError> {
    let text = if bytes.first() == Some(&RECORD_FORMAT_V1) {
        let meta = RecordMeta::new(*id, version, false).map_err(|_| SyncError::StateCorrupt)?;
        Zeroizing::new(vault.open(&meta, bytes).map_err(|e| match e {
            RecordError::UnknownKeyId { .. } => SyncError::KeyRetired,
            _ => SyncError::StateCorrupt,
        })?)
    } else {
        let text = Zeroizing::new(open_entry(vault, &item_name(id), bytes)?);
        let value = json::parse(&text).ok_or(SyncError::StateCorrupt)?;
        let o = object(&value, "value").map_err(|_| SyncError::StateCorrupt)?;
        let at: u64 = field(o, "version").map_err(|_| SyncError::StateCorrupt)?;
        return match o.get("value") {
            Some(value) if at == version => Ok(value.clone()),
            _ => Err(SyncError::StateCorrupt),
        };
    };
    json::parse(&text).ok_or(SyncError::StateCorrupt)
}
