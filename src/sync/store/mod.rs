//! The device store (FORMAT.md, "Device store"): a session kept as small entries instead of
//! one blob, so that an edit writes a few KiB and a sync writes what it changed, and so that
//! opening reads an index, not every value. Sans-IO like the engine: [`StoreWriter::write_into`]
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
//! - `v/<bb>`: the synced values of that bucket's live records (`values.rs`): the server's
//!   sealed bytes as received, or a `0x5F` item under the state key;
//! - `i/push`: the push in flight (up to megabytes: written when it changes, not with
//!   every `meta`), sealed the same way;
//! - `session`: the session slot, written only when the application asks for a session
//!   secret, deleted by `lock`.
//!
//! Layout 1 (one `r/<record id>` entry per record; only ever written by development builds
//! during this round, never released) is refused as `UNSUPPORTED_FORMAT`: log in again.

use serde_json::{Map, Value};
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::{self, put};
use zeroize::Zeroizing;

use super::engine::Engine;
use super::error::SyncError;
use super::replica::Replica;
use crate::crypto::rand::Entropy;
use crate::crypto::store::seal_entry;
use crate::crypto::{RecordId, UnlockedVault};

mod open;
mod rows;
mod values;

pub use open::{Opened, load_value, load_values, open, open_item, value_items};

/// The store layout this version writes (in `meta`; the entries' format byte is `0x5F`).
pub const STORE_VERSION: u64 = 2;
/// The envelope's entry.
pub const ENVELOPE: &str = "envelope";
/// The metadata entry.
pub const META: &str = "meta";
/// The session slot's entry.
pub const SESSION: &str = "session";
/// The prefix of the index buckets (and of [`PUSH`]).
pub const INDEX_PREFIX: &str = "i/";
/// The push in flight's entry (under the index's prefix: read when the index is).
pub const PUSH: &str = "i/push";
/// The prefix of the values' entries.
pub const VALUE_PREFIX: &str = "v/";

/// A value bucket's entry name.
pub fn value_bucket(bucket: u8) -> String {
    format!("{VALUE_PREFIX}{bucket:02x}")
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
/// written (so that an unchanged one is not written again), and how many writes it made.
#[derive(Default)]
pub struct StoreWriter {
    meta: Option<Zeroizing<String>>,
    envelope: Option<Vec<u8>>,
    /// The head of the push in flight last written (`None`: none).
    push: Option<Vec<u8>>,
    everything: bool,
    /// Writes made so far: a [`Plan`] read before another write is stale.
    generation: u64,
}

impl core::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("everything", &self.everything)
            .finish_non_exhaustive()
    }
}

/// The value buckets a write rewrites: the driver reads them (as they are now) and hands
/// them to [`StoreWriter::write_into`].
#[derive(Debug)]
pub struct Plan {
    /// Entry names to read (`v/<bb>`).
    pub names: Vec<String>,
    generation: u64,
}

/// The entries a [`Plan`] named, as read: `None` for one that does not exist. A list,
/// not a map (at most 256 entries; each map type costs the .wasm its own code).
#[derive(Debug, Default)]
pub struct Read(Vec<(String, Option<Vec<u8>>)>);

impl Read {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what `name` held.
    pub fn insert(&mut self, name: String, bytes: Option<Vec<u8>>) {
        self.0.push((name, bytes));
    }

    /// What `name` held: `None` if it was not read, `Some(None)` if it did not exist.
    pub fn get(&self, name: &str) -> Option<Option<&[u8]>> {
        let found = self.0.iter().find(|(n, _)| n == name);
        found.map(|(_, bytes)| bytes.as_deref())
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

    /// A write the store refused: the next one writes every entry again (values from
    /// memory, or from the value buckets as they are).
    pub fn failed(&mut self, engine: &mut Engine) {
        self.everything = true;
        self.meta = None;
        self.envelope = None;
        self.push = None;
        self.generation += 1;
        engine.unstore();
    }

    /// The value buckets the next write rewrites (those with a value the store does not
    /// hold yet), to read first.
    pub fn plan(&self, engine: &Engine) -> Plan {
        let dirty = self.value_buckets(engine);
        let names = (0..=255u8)
            .filter(|b| dirty[usize::from(*b)])
            .map(value_bucket)
            .collect();
        Plan {
            names,
            generation: self.generation,
        }
    }

    fn value_buckets(&self, engine: &Engine) -> [bool; 256] {
        let mut dirty = [false; 256];
        let mut mark = |id: &RecordId, replica: &Replica| {
            let synced = replica.synced.as_ref();
            if synced.is_some_and(|s| s.is_live() && (self.everything || !s.stored)) {
                dirty[usize::from(bucket_of(id))] = true;
            }
        };
        if self.everything {
            engine.replicas().for_each(|(id, r)| mark(id, r));
        } else {
            for id in engine.touched() {
                if let Some(r) = engine.replica(id) {
                    mark(id, r);
                }
            }
        }
        dirty
    }

    /// The entries that changed since the last call (every entry the first time for a new
    /// store), with the value buckets `plan` named as `read`. Records come from the
    /// engine's touched set: each one's index bucket is written again, and its value
    /// bucket if it holds a value the store lacks. Each entry to put goes to `put` as soon
    /// as it is made, one value bucket at a time (a driver copies it out and the next one
    /// reuses its memory: a first sync's values are not all copied at once). Returns the
    /// names to delete. `None`: the plan is stale (another write came between, or the
    /// engine changed a bucket it did not name), nothing was handed over: plan and read
    /// again.
    #[allow(clippy::too_many_arguments)]
    pub fn write_into(
        &mut self,
        username: &str,
        token: &BearerToken,
        engine: &mut Engine,
        vault: &UnlockedVault,
        plan: &Plan,
        read: &Read,
        entropy: &mut (impl Entropy + ?Sized),
        put: &mut dyn FnMut(String, Vec<u8>),
    ) -> Result<Option<Vec<String>>, SyncError> {
        if engine.vault_id() != vault.vault_id() {
            return Err(SyncError::WrongVault);
        }
        let dirty = self.value_buckets(engine);
        let stale =
            (0..=255u8).any(|b| dirty[usize::from(b)] && read.get(&value_bucket(b)).is_none());
        if plan.generation != self.generation || stale {
            return Ok(None);
        }
        let mut deletes = Vec::new();
        let envelope = vault.envelope().to_bytes();
        if self.envelope.as_ref() != Some(&envelope) {
            put(ENVELOPE.into(), envelope.clone());
        }
        let meta = Zeroizing::new(meta_text(username, token, engine));
        if self.meta.as_ref().map(|m| m.as_str()) != Some(meta.as_str()) {
            put(
                META.into(),
                seal_entry(vault, META, meta.as_bytes(), entropy)?,
            );
        }
        // The push in flight is serialised only when it changed (it may be megabytes).
        let push = engine.push_head();
        if self.everything || push != self.push {
            match engine.push_json() {
                Some(saved) => {
                    let text = Zeroizing::new(json::to_string(&saved));
                    put(
                        PUSH.into(),
                        seal_entry(vault, PUSH, text.as_bytes(), entropy)?,
                    );
                }
                None => deletes.push(PUSH.into()),
            }
        }
        let touched = engine.take_touched();
        let mut rows_dirty = [self.everything; 256];
        for id in &touched {
            rows_dirty[usize::from(bucket_of(id))] = true;
        }
        // The rows of each rewritten index bucket, and the live records of each rewritten
        // value bucket.
        let mut rows: Vec<Zeroizing<String>> = vec![Zeroizing::new(String::new()); 256];
        let mut members: Vec<Vec<RecordId>> = vec![Vec::new(); 256];
        for (id, replica) in engine.replicas() {
            let b = usize::from(bucket_of(id));
            if rows_dirty[b] {
                rows::push_row(&mut rows[b], id, replica);
            }
            if dirty[b] && replica.synced.as_ref().is_some_and(|s| s.is_live()) {
                members[b].push(*id);
            }
        }
        for b in 0..=255u8 {
            let i = usize::from(b);
            if rows_dirty[i] {
                let name = bucket_entry(b);
                match rows[i].is_empty() {
                    false => {
                        let sealed = seal_entry(vault, &name, rows[i].as_bytes(), entropy)?;
                        put(name, sealed);
                    }
                    true => deletes.push(name),
                }
            }
            if dirty[i] {
                let name = value_bucket(b);
                let items =
                    Self::value_items(engine, vault, &members[i], read.get(&name), entropy)?;
                match items.is_empty() {
                    false => put(name, items),
                    true => deletes.push(name),
                }
            }
        }
        // Remembered only now: a failure above leaves the next call to write it all again.
        self.envelope = Some(envelope);
        self.meta = Some(meta);
        self.push = push;
        self.everything = false;
        self.generation += 1;
        Ok(Some(deletes))
    }

    /// One value bucket's items: for each of its live records, the server's bytes kept
    /// since the pull, or the item the store holds (`old`, as read), or the value sealed
    /// now under the state key.
    fn value_items(
        engine: &mut Engine,
        vault: &UnlockedVault,
        members: &[RecordId],
        old: Option<Option<&[u8]>>,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Vec<u8>, SyncError> {
        // A bucket that does not parse keeps nothing: its values are refused when read,
        // and come back with the next full pull.
        let old = old
            .flatten()
            .map(values::parse)
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut items = Vec::new();
        for id in members {
            let Some(s) = engine.replica_mut(id).and_then(|r| r.synced.as_mut()) else {
                continue;
            };
            let kept = old.iter().find(|(i, _)| i == id).map(|(_, bytes)| *bytes);
            if let Some(sealed) = s.sealed.as_deref() {
                values::push(&mut items, id, sealed);
                // Kept while away until the write succeeded (`Engine::evict`); a value in
                // memory is sealed again if it fails.
                if !s.away {
                    s.sealed = None;
                }
            } else if let (true, Some(bytes)) = (s.stored, kept) {
                values::push(&mut items, id, bytes);
            } else if let Some(value) = &s.value {
                let sealed = values::seal_value(vault, id, s.version, value, entropy)?;
                values::push(&mut items, id, &sealed);
            } else {
                continue; // away and not in its bucket: refused when read
            }
            s.stored = true;
        }
        Ok(items)
    }
}

/// One write with a synchronous reader (a file, a map): plans, reads the value buckets
/// with `get`, and returns the writes.
#[allow(clippy::too_many_arguments)]
pub fn write_now<E: From<SyncError>>(
    writer: &mut StoreWriter,
    username: &str,
    token: &BearerToken,
    engine: &mut Engine,
    vault: &UnlockedVault,
    entropy: &mut (impl Entropy + ?Sized),
    mut get: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<Writes, E> {
    loop {
        let plan = writer.plan(engine);
        let mut read = Read::new();
        for name in &plan.names {
            read.insert(name.clone(), get(name)?);
        }
        let mut puts = Vec::new();
        let mut put = |name, bytes| puts.push((name, bytes));
        let deletes = writer.write_into(
            username, token, engine, vault, &plan, &read, entropy, &mut put,
        )?;
        if let Some(deletes) = deletes {
            return Ok(Writes { puts, deletes });
        }
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
