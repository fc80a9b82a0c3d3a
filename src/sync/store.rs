//! The device store (FORMAT.md, "Device store"): a session kept as small entries instead of
//! one blob, so that an edit writes one record's entry and a sync writes what it changed.
//! Sans-IO like the engine: [`StoreWriter::writes`] turns what changed into entries to put,
//! and a driver (IndexedDB, memory, SQLite) applies them in one transaction; [`open`] reads
//! them back.
//!
//! Entries, by name:
//! - `envelope`: the vault's envelope as the server has it (public: it opens only with the
//!   password or the recovery code);
//! - `meta`: the username, the device token and every field of the engine but its records,
//!   sealed (format `0x5F`, name in the associated data);
//! - `r/<record id>`: one record of the replica (synced value, version, leaf, pending edit,
//!   conflicts), sealed the same way;
//! - `session`: the session slot, written only when the application asks for a session
//!   secret, deleted by `lock`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::{self, FromJson, field, object, put};
use zeroize::Zeroizing;

use super::engine::Engine;
use super::error::SyncError;
use super::replica::Replica;
use super::session::Session;
use crate::code::Code;
use crate::crypto::rand::Entropy;
use crate::crypto::store::{open_entry, seal_entry};
use crate::crypto::{RecordId, UnlockedVault};

/// The store layout this version writes (in `meta`; the entries' format byte is `0x5F`).
pub const STORE_VERSION: u64 = 1;
/// The envelope's entry.
pub const ENVELOPE: &str = "envelope";
/// The metadata entry.
pub const META: &str = "meta";
/// The session slot's entry.
pub const SESSION: &str = "session";
/// The prefix of the records' entries.
pub const RECORD_PREFIX: &str = "r/";

/// A record's entry name.
pub fn record_entry(id: &RecordId) -> String {
    format!("{RECORD_PREFIX}{id}")
}

/// Entries to write in one transaction.
#[derive(Debug, Default)]
pub struct Writes {
    /// (name, bytes) to put.
    pub puts: Vec<(String, Vec<u8>)>,
}

impl Writes {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
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
}

impl core::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("everything", &self.everything)
            .finish_non_exhaustive()
    }
}

impl StoreWriter {
    /// A writer for an empty store: the first writes hold every record.
    pub fn new_store() -> Self {
        Self {
            everything: true,
            ..Self::default()
        }
    }

    /// The entries that changed since the last call (every entry the first time for a new
    /// store). Record entries come from the engine's touched set.
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
            engine.record_ids().copied().collect()
        } else {
            touched.into_iter().collect()
        };
        for id in ids {
            if let Some(record) = engine.record_json(&id) {
                let name = record_entry(&id);
                let text = Zeroizing::new(json::to_string(&record));
                writes.puts.push((
                    name.clone(),
                    seal_entry(vault, &name, text.as_bytes(), entropy)?,
                ));
            }
        }
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

/// A store read back: the session, and the record entries that were refused (corrupted,
/// truncated, moved from another name or vault), each with its code. The refused records
/// are left out (nothing is uploaded from them) and the next sync is a full pull that
/// brings back the server's copy.
#[derive(Debug)]
pub struct Opened {
    /// The session (username, token, engine).
    pub session: Session,
    /// (entry name, why) of every record entry left out.
    pub refused: Vec<(String, Code)>,
    /// The writer that continues this store.
    pub writer: StoreWriter,
}

/// Opens a store from its `meta` entry and its record entries (`r/…`), with the vault
/// unlocked from the `envelope` entry. A `meta` that does not open refuses the whole
/// store (`STATE_TAMPERED`; a newer store's format byte: `UNSUPPORTED_FORMAT`).
pub fn open(
    vault: &UnlockedVault,
    meta: &[u8],
    records: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<Opened, SyncError> {
    let text = Zeroizing::new(open_entry(vault, META, meta)?);
    let value = json::parse(&text).ok_or(SyncError::StateCorrupt)?;
    let o = object(&value, "meta").map_err(|_| SyncError::StateCorrupt)?;
    let version: u64 = field(o, "store_version").map_err(|_| SyncError::StateCorrupt)?;
    if version != STORE_VERSION {
        return Err(SyncError::StoreVersion { found: version });
    }
    let mut refused = Vec::new();
    let mut replicas = BTreeMap::new();
    for (name, bytes) in records {
        match open_record(vault, &name, &bytes) {
            Ok((id, replica)) => {
                replicas.insert(id, replica);
            }
            Err(e) => refused.push((name, e.code())),
        }
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
    let writer = StoreWriter {
        meta: Some(Zeroizing::new(meta_text(&username, &token, &engine))),
        envelope: Some(vault.envelope().to_bytes()),
        everything: false,
    };
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
