//! Storage: one function per operation; routes never write SQL. SQLite (WAL) by default,
//! PostgreSQL by URL. Schemas are embedded from `migrations/sqlite` and `migrations/postgres`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Connection pools on one of the supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    /// A SQLite file (WAL mode, foreign keys on). Readers use a pool; writes go through one
    /// connection, so they queue in the process instead of spinning on SQLite's busy lock.
    /// One server process per SQLite file.
    Sqlite {
        /// Reads (WAL lets them run beside the writer).
        read: SqlitePool,
        /// The one writer connection.
        write: SqlitePool,
    },
    /// A PostgreSQL server (any number of server replicas may share it).
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's read pool. The body is compiled once
/// per backend, so one SQL text (with `$1` placeholders, which both accept) serves both.
macro_rules! on_read {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { read: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`on_read`], with the backend's write pool.
macro_rules! on_write {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { write: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

pub(crate) use {on_read, on_write};

/// One migration and whether the database has it.
#[derive(Debug)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

impl Db {
    /// Connects to `sqlite://PATH` (creating the file and its folder) or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!("cannot create the database folder {}: {e}", dir.display())
                    })?;
                }
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with synchronous=NORMAL is durable against process crashes (kill -9);
                // a power cut may lose the last commits, never corrupt the file.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let open_error = |e| anyhow::anyhow!("cannot open SQLite database {path}: {e}");
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await
                .map_err(open_error)?;
            let read = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(open_error)?;
            Ok(Self::Sqlite { read, write })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
            Ok(Self::Postgres(pool))
        } else {
            anyhow::bail!("unsupported database URL (use sqlite://PATH or postgres://…)")
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// SQLite: copies what the write-ahead log holds into the database file without
    /// waiting for anyone (a passive checkpoint, from a reading connection), so that a
    /// push's commit seldom has to (SQLite checkpoints at the commit that fills the log
    /// past 1,000 pages). PostgreSQL: nothing.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite { read, .. } => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(read)
                .await
                .map(drop),
            Self::Postgres(_) => Ok(()),
        }
    }

    /// A trivial query: the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_read!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop))
    }

    /// Applies pending migrations (idempotent). Returns how many were applied. Any number
    /// of replicas may run it at the same time on one PostgreSQL database: they take turns
    /// (see [`MigrationLock`]).
    pub async fn migrate_up(&self) -> Result<usize, MigrateError> {
        match self {
            Self::Sqlite { write: p, .. } => {
                let mut conn = p.acquire().await?;
                let pending = pending(&mut *conn, &SQLITE_MIGRATIONS).await?;
                SQLITE_MIGRATIONS.run(&mut *conn).await?;
                Ok(pending)
            }
            Self::Postgres(p) => {
                let mut lock = MigrationLock::take(p).await?;
                let pending = pending(lock.conn(), &POSTGRES_MIGRATIONS).await?;
                POSTGRES_MIGRATIONS.run(lock.conn()).await?;
                lock.release().await?;
                Ok(pending)
            }
        }
    }

    /// Every known migration and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        match self {
            Self::Sqlite { write: p, .. } => {
                status(&mut *p.acquire().await?, &SQLITE_MIGRATIONS).await
            }
            Self::Postgres(p) => {
                let mut lock = MigrationLock::take(p).await?;
                let status = status(lock.conn(), &POSTGRES_MIGRATIONS).await?;
                lock.release().await?;
                Ok(status)
            }
        }
    }

    /// Reverts the most recent applied migration; returns its version.
    pub async fn migrate_down_one(&self) -> Result<Option<i64>, MigrateError> {
        let applied: Vec<i64> = self
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| m.applied)
            .map(|m| m.version)
            .collect();
        let Some((&last, rest)) = applied.split_last() else {
            return Ok(None);
        };
        let target = rest.last().copied().unwrap_or(0);
        match self {
            Self::Sqlite { write: p, .. } => SQLITE_MIGRATIONS.undo(p, target).await?,
            Self::Postgres(p) => {
                let mut lock = MigrationLock::take(p).await?;
                POSTGRES_MIGRATIONS.undo(lock.conn(), target).await?;
                lock.release().await?;
            }
        }
        Ok(Some(last))
    }
}

/// A PostgreSQL session-level advisory lock held while migrating. sqlx's migrator locks
/// too, but only after it has created its bookkeeping table, and so does the status query
/// that runs first: replicas started together on an empty database raced on that
/// `CREATE TABLE` (`duplicate key value violates unique constraint
/// "pg_type_typname_nsp_index"`). Taking this lock first makes them take turns.
struct MigrationLock {
    /// `None` once released.
    conn: Option<PoolConnection<Postgres>>,
}

/// The lock's key: "vaultsyn" in ASCII.
const MIGRATION_LOCK_KEY: i64 = 0x7661_756c_7473_796e;

impl MigrationLock {
    async fn take(pool: &PgPool) -> Result<Self, MigrateError> {
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
        Ok(Self { conn: Some(conn) })
    }

    fn conn(&mut self) -> &mut sqlx::PgConnection {
        // Only `release` takes the connection, and it consumes the lock.
        #[allow(clippy::expect_used)]
        self.conn.as_mut().expect("the lock holds its connection")
    }

    async fn release(mut self) -> Result<(), MigrateError> {
        if let Some(mut conn) = self.conn.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK_KEY)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Drop for MigrationLock {
    /// A lock not released (an error on the way) must not go back to the pool held: the
    /// connection is closed instead, which releases it.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// How many migrations are not applied yet.
async fn pending<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<usize, MigrateError> {
    Ok(status(conn, migrator)
        .await?
        .iter()
        .filter(|m| !m.applied)
        .count())
}

async fn status<C: Migrate>(
    conn: &mut C,
    migrator: &Migrator,
) -> Result<Vec<MigrationState>, MigrateError> {
    conn.ensure_migrations_table().await?;
    let applied = conn.list_applied_migrations().await?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.iter().any(|a| a.version == m.version),
        })
        .collect())
}
