//! The device store (FORMAT.md, "Device store"): a session kept as small entries instead of
//! one blob, so that an edit writes a few KiB and a sync writes what it changed, and so that
//! opening reads an index, not every value. Sans-IO like the engine: [`StoreWriter::writes`]
//! turns what changed into entries to put and delete, a driver (IndexedDB, memory, SQLite)
//! applies them in one transaction; [`open`] reads the index back and [`open_value`] one
//! value when it is needed.
//!
//! Entries, by name:
//! - `envelope`: the vault's envelope as the server has it (public: it opens only with the
//!   password or the recovery code);
//! - `meta`: the username, the device token and every field of the engine but its records,
//!   sealed (format `0x5F`, name in the associated data);
//! - `i/<bb>`: one of 256 index buckets: a line for every record whose id falls in it,
//!   without its synced value (version, key id, leaf, highest version seen, pending edit,
//!   conflicts: `rows.rs`), sealed the same way;
//! - `v/<record id>`: a live record's synced value and version, sealed the same way;
//! - `session`: the session slot, written only when the application asks for a session
//!   secret, deleted by `lock`.
//!
//! Layout 1 (one `r/<record id>` entry per record, value included) is read, and rewritten
//! as layout 2 by the first write.

use serde_json::{Map, Value};
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::{self, put};
use zeroize::Zeroizing;

use super::engine::Engine;
use super::error::SyncError;
use crate::crypto::rand::Entropy;
use crate::crypto::store::seal_entry;
use crate::crypto::{RecordId, UnlockedVault};

mod open;
mod rows;

pub use open::{Opened, load_value, load_values, open, open_value};

/// The store layout this version writes (in `meta`; the entries' format byte is `0x5F`).
pub const STORE_VERSION: u64 = 2;
/// The envelope's entry.
pub const ENVELOPE: &str = "envelope";
/// The metadata entry.
pub const META: &str = "meta";
/// The session slot's entry.
pub const SESSION: &str = "session";
/// The prefix of the index buckets.
pub const INDEX_PREFIX: &str = "i/";
/// The prefix of the values' entries.
pub const VALUE_PREFIX: &str = "v/";
/// The prefix of layout 1's record entries (read to migrate, deleted by the first write).
pub const RECORD_PREFIX: &str = "r/";

/// A value's entry name.
pub fn value_entry(id: &RecordId) -> String {
    format!("{VALUE_PREFIX}{id}")
}

/// A layout-1 record entry's name.
pub fn record_entry(id: &RecordId) -> String {
    format!("{RECORD_PREFIX}{id}")
}

/// The index bucket of a record: FNV-1a (32 bits) of the id's 16 bytes, mixed by
/// MurmurHash3's finaliser (`fmix32`: FNV's low byte alone spreads patterned ids badly),
/// low byte. Not a secret: it only spreads the rows.
pub fn bucket_of(id: &RecordId) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for byte in id.as_bytes() {
        h ^= u32::from(*byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as u8
}

/// An index bucket's entry name.
pub fn bucket_entry(bucket: u8) -> String {
    format!("{INDEX_PREFIX}{bucket:02x}")
}

/// Entries to write in one transaction.
#[derive(Debug, Default)]
pub struct Writes {
    /// (name, bytes) to put.
    pub puts: Vec<(String, Vec<u8>)>,
    /// Names to delete.
    pub deletes: Vec<String>,
}

impl Writes {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// How many bytes the puts hold.
    pub fn bytes(&self) -> usize {
        self.puts.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// What a store's writer remembers between writes: the metadata and envelope last
/// written (so that an unchanged one is not written again).
#[derive(Default)]
pub struct StoreWriter {
    meta: Option<Zeroizing<String>>,
    envelope: Option<Vec<u8>>,
    everything: bool,
    /// Layout-1 entries to delete with the first write.
    legacy: Vec<String>,
}

impl core::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("everything", &self.everything)
            .field("legacy", &self.legacy.len())
            .finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// A writer for an empty store (or one to write again whole): the first writes hold
    /// every record.
    pub fn new_store() -> Self {
        Self {
            everything: true,
            ..Self::default()
        }
    }

    /// The entries that changed since the last call (every entry the first time for a new
    /// store). Records come from the engine's touched set: each one's bucket is written
    /// again, and its value entry if the value is in memory (one away is in the store).
    pub fn writes(
        &mut self,
        username: &str,
        token: &BearerToken,
        engine: &mut Engine,
        vault: &UnlockedVault,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Writes, SyncError> {
        if engine.vault_id() != vault.vault_id() {
            return Err(SyncError::WrongVault);
        }
        let mut writes = Writes::default();
        let envelope = vault.envelope().to_bytes();
        if self.envelope.as_ref() != Some(&envelope) {
            writes.puts.push((ENVELOPE.into(), envelope.clone()));
        }
        let meta = Zeroizing::new(meta_text(username, token, engine));
        if self.meta.as_ref().map(|m| m.as_str()) != Some(meta.as_str()) {
            let sealed = seal_entry(vault, META, meta.as_bytes(), entropy)?;
            writes.puts.push((META.into(), sealed));
        }
        let touched = engine.take_touched();
        let ids: Vec<RecordId> = if self.everything {
            engine.replicas().map(|(id, _)| *id).collect()
        } else {
            touched.into_iter().collect()
        };
        // By bucket number (arrays, not maps: each map type costs the .wasm its own code).
        let mut buckets = [false; 256];
        for id in &ids {
            buckets[usize::from(bucket_of(id))] = true;
            let name = value_entry(id);
            match engine.replicas_get(id).and_then(|r| r.synced.as_ref()) {
                Some(synced) if synced.away => {}
                Some(synced) if synced.value.is_some() => {
                    let mut o = Map::new();
                    put(&mut o, "version", &synced.version);
                    o.insert("value".into(), synced.value.clone().unwrap_or(Value::Null));
                    let text = Zeroizing::new(json::to_string(&Value::Object(o)));
                    let sealed = seal_entry(vault, &name, text.as_bytes(), entropy)?;
                    writes.puts.push((name, sealed));
                }
                _ => writes.deletes.push(name),
            }
        }
        let mut rows: Vec<Zeroizing<String>> = vec![Zeroizing::new(String::new()); 256];
        if !ids.is_empty() {
            for (id, replica) in engine.replicas() {
                let bucket = usize::from(bucket_of(id));
                if buckets[bucket] {
                    rows::push_row(&mut rows[bucket], id, replica);
                }
            }
        }
        for (bucket, rows) in rows.into_iter().enumerate() {
            if !buckets[bucket] {
                continue;
            }
            let name = bucket_entry(bucket as u8);
            match rows.is_empty() {
                false => {
                    let sealed = seal_entry(vault, &name, rows.as_bytes(), entropy)?;
                    writes.puts.push((name, sealed));
                }
                true => writes.deletes.push(name),
            }
        }
        writes.deletes.append(&mut self.legacy);
        // Remembered only now: a failure above leaves the next call to write it all again.
        self.envelope = Some(envelope);
        self.meta = Some(meta);
        self.everything = false;
        Ok(writes)
    }
}

fn meta_text(username: &str, token: &BearerToken, engine: &Engine) -> String {
    let mut o = Map::new();
    put(&mut o, "store_version", &STORE_VERSION);
    put(&mut o, "username", &username.to_string());
    put(&mut o, "token", token);
    o.insert("engine".into(), Value::Object(engine.meta_map()));
    json::to_string(&Value::Object(o))
}
