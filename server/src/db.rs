//! Storage: one function per operation; routes never write SQL. SQLite (WAL) by default,
//! PostgreSQL by URL. Schemas are embedded from `migrations/sqlite` and `migrations/postgres`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Database, Pool};

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

    /// A trivial query: the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_read!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop))
    }

    /// Applies pending migrations (idempotent). Returns how many were applied.
    pub async fn migrate_up(&self) -> Result<usize, MigrateError> {
        let pending = self
            .migration_status()
            .await?
            .iter()
            .filter(|m| !m.applied)
            .count();
        match self {
            Self::Sqlite { write: p, .. } => SQLITE_MIGRATIONS.run(p).await?,
            Self::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(pending)
    }

    /// Every known migration and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        match self {
            Self::Sqlite { write: p, .. } => status(p, &SQLITE_MIGRATIONS).await,
            Self::Postgres(p) => status(p, &POSTGRES_MIGRATIONS).await,
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
            Self::Postgres(p) => POSTGRES_MIGRATIONS.undo(p, target).await?,
        }
        Ok(Some(last))
    }
}

async fn status<DB: Database>(
    pool: &Pool<DB>,
    migrator: &Migrator,
) -> Result<Vec<MigrationState>, MigrateError>
where
    DB::Connection: Migrate,
{
    let mut conn = pool.acquire().await?;
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
