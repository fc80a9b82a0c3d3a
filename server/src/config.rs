//! Command line and environment configuration (clap). Defaults need nothing: loopback,
//! a SQLite file under `./data/`.

use clap::{Parser, Subcommand};

/// vaultsync sync server: stores only ciphertext, versions, tombstones and key envelopes.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Database URL: `sqlite://PATH` (created if missing, WAL mode) or `postgres://…`.
    #[arg(
        long,
        env = "VAULTSYNC_DATABASE",
        default_value = "sqlite://data/vaultsync.db",
        global = true
    )]
    pub database: String,

    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "VAULTSYNC_LISTEN",
        default_value = "127.0.0.1:8787",
        global = true
    )]
    pub listen: String,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the schema, then serve the API (the default).
    Serve,
    /// Manage the schema without serving.
    Migrate {
        /// apply, status or down.
        #[command(subcommand)]
        action: MigrateAction,
    },
}

/// `migrate` actions.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (idempotent).
    Apply,
    /// List migrations and whether each is applied.
    Status,
    /// Revert the most recent applied migration.
    Down,
}
