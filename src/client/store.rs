//! The native device store (feature `store`): the same entries as the npm package's
//! IndexedDB store (`FORMAT.md`, "Device store") in one SQLite file through rusqlite, one
//! transaction per write. SQLite rather than a hand-written log: atomic multi-entry
//! writes, crash safety and compaction come with it, and the server's tests already build
//! the same library. WAL with `synchronous = NORMAL`: a killed process loses nothing
//! committed; a power cut may lose the last writes, never the file's consistency.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::error::ClientError;
use super::http::Http;
use super::{Client, Options};
use crate::crypto::{Envelope, OsEntropy, Password, UnlockedVault};
use crate::sync::store::{self, ENVELOPE, INDEX_PREFIX, META, StoreWriter};
use crate::sync::{Session, SyncError};

/// The entry holding the server's URL (the file is one server's and one account's).
const SERVER: &str = "server";

/// An open store file and what it last wrote.
pub(super) struct FileStore {
    conn: Connection,
    writer: StoreWriter,
}

impl core::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileStore").finish_non_exhaustive()
    }
}

fn failed(e: rusqlite::Error) -> ClientError {
    ClientError::Store(e.to_string())
}

fn connect(path: &Path) -> Result<Connection, ClientError> {
    let conn = Connection::open(path).map_err(failed)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS entries (name TEXT PRIMARY KEY, value BLOB NOT NULL);",
    )
    .map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(conn)
}

fn get(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, ClientError> {
    conn.query_row("SELECT value FROM entries WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
    .map_err(failed)
}

/// Every entry whose name starts with `prefix` (one ASCII character and `/`).
fn with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, ClientError> {
    let end = format!("{}0", &prefix[..prefix.len() - 1]);
    let mut select = conn
        .prepare("SELECT name, value FROM entries WHERE name >= ?1 AND name < ?2")
        .map_err(failed)?;
    let rows = select
        .query_map(params![prefix, end], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(failed)?;
    rows.collect::<Result<Vec<(String, Vec<u8>)>, _>>()
        .map_err(failed)
}

/// Applies the writes (and, with `replace`, deletes every other entry first) in one
/// transaction.
fn apply(conn: &mut Connection, writes: &store::Writes, replace: bool) -> Result<(), ClientError> {
    let puts = &writes.puts;
    let tx = conn.transaction().map_err(failed)?;
    if replace {
        tx.execute("DELETE FROM entries", []).map_err(failed)?;
    }
    {
        let mut delete = tx
            .prepare_cached("DELETE FROM entries WHERE name = ?1")
            .map_err(failed)?;
        for name in &writes.deletes {
            delete.execute([name]).map_err(failed)?;
        }
        let mut put = tx
            .prepare_cached("INSERT OR REPLACE INTO entries (name, value) VALUES (?1, ?2)")
            .map_err(failed)?;
        for (name, value) in puts {
            put.execute(params![name, value]).map_err(failed)?;
        }
    }
    tx.commit().map_err(failed)
}

/// What changed in `session` since `writer` last wrote, as entries (the value buckets
/// to rewrite read from `conn`; none for a new file).
fn changes(
    writer: &mut StoreWriter,
    session: &mut Session,
    vault: &UnlockedVault,
    conn: Option<&Connection>,
) -> Result<store::Writes, ClientError> {
    store::write_now(
        writer,
        &session.username,
        &session.token,
        &mut session.engine,
        vault,
        &mut OsEntropy,
        |name| conn.map_or(Ok(None), |conn| get(conn, name)),
    )
}

impl Client {
    /// Keeps this client in the store file at `path` from now on: every entry is written
    /// (replacing what the file held), then each change as it happens.
    pub fn keep_in(&mut self, path: &Path) -> Result<(), ClientError> {
        let mut conn = connect(path)?;
        let mut writer = StoreWriter::new_store();
        let mut writes = changes(&mut writer, &mut self.session, &self.vault, None)?;
        writes
            .puts
            .push((SERVER.into(), self.http.base().as_bytes().to_vec()));
        apply(&mut conn, &writes, true)?;
        self.store = Some(FileStore { conn, writer });
        Ok(())
    }

    /// Opens the client kept in the store file at `path`: one PBKDF2 of the password, then
    /// the entries, every value included (the native client keeps them in memory); no
    /// server round trip. An entry that does not open is left out (the next sync brings
    /// its records back) and reported by [`Client::refused_entries`].
    pub fn open(path: &Path, password: &Password, options: &Options) -> Result<Self, ClientError> {
        if !path.exists() {
            return Err(ClientError::NoStore(path.display().to_string()));
        }
        let conn = connect(path)?;
        let server = get(&conn, SERVER)?
            .and_then(|s| String::from_utf8(s).ok())
            .ok_or_else(|| ClientError::NoStore(path.display().to_string()))?;
        let envelope = get(&conn, ENVELOPE)?.ok_or(SyncError::StateCorrupt)?;
        let vault = Envelope::parse(&envelope)?.unlock(password)?;
        let meta = get(&conn, META)?.ok_or(SyncError::StateCorrupt)?;
        let index = with_prefix(&conn, INDEX_PREFIX)?;
        let mut opened = store::open(&vault, &meta, index)?;
        let engine = &mut opened.session.engine;
        let away = engine.away_ids();
        let refused = store::load_values(engine, &vault, &away, |name| get(&conn, name))?;
        opened.refused.extend(refused);
        let mut client = Self {
            http: Http::new(&server, options.timeout)?,
            vault,
            session: opened.session,
            store: Some(FileStore {
                conn,
                writer: opened.writer,
            }),
            refused: opened.refused.len(),
        };
        client.session.engine.set_policy(options.policy);
        client.set_mass_delete(options.mass_delete);
        Ok(client)
    }

    /// How many record entries did not open when the store was opened.
    pub fn refused_entries(&self) -> usize {
        self.refused
    }

    /// Writes what changed to the store file (nothing without one), in one transaction.
    pub(super) fn persist(&mut self) -> Result<(), ClientError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let writes = changes(
            &mut store.writer,
            &mut self.session,
            &self.vault,
            Some(&store.conn),
        )?;
        if writes.is_empty() {
            return Ok(());
        }
        let written = apply(&mut store.conn, &writes, false);
        if written.is_err() {
            store.writer.failed(&mut self.session.engine);
        }
        written
    }
}
