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

    /// Limits, retention and rate limits of `serve`.
    #[command(flatten)]
    pub limits: Limits,

    /// Limits and timing of the live channel.
    #[command(flatten)]
    pub live: LiveLimits,

    /// Trust the last address of `X-Forwarded-For` as the client address (for per-address
    /// rate limits). Only behind a reverse proxy that sets it.
    #[arg(long, env = "VAULTSYNC_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: bool,

    /// Also serve static files: `URL_PREFIX=DIR`, repeatable (the run script serves the
    /// demo web vault with `--static /=www/demo --static /pkg=pkg`). API routes win.
    #[arg(long = "static", value_name = "PREFIX=DIR", value_parser = parse_static, global = true)]
    pub statics: Vec<StaticDir>,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Limits with their defaults. Every one answers a 4xx with a code when exceeded.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest sealed record, in bytes (decoded).
    #[arg(long, env = "VAULTSYNC_MAX_RECORD_BYTES", default_value_t = 1 << 20, global = true)]
    pub max_record_bytes: usize,

    /// Largest key envelope, in bytes (decoded).
    #[arg(long, env = "VAULTSYNC_MAX_ENVELOPE_BYTES", default_value_t = 64 << 10, global = true)]
    pub max_envelope_bytes: usize,

    /// Most items in one push.
    #[arg(
        long,
        env = "VAULTSYNC_MAX_PUSH_ITEMS",
        default_value_t = 1000,
        global = true
    )]
    pub max_push_items: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "VAULTSYNC_MAX_BODY_BYTES", default_value_t = 16 << 20, global = true)]
    pub max_body_bytes: usize,

    /// Most changes in one page (also the default page size).
    #[arg(
        long,
        env = "VAULTSYNC_MAX_PAGE_SIZE",
        default_value_t = 1000,
        global = true
    )]
    pub max_page_size: u32,

    /// Most sealed bytes in one page of changes (a page holds at least one change): large
    /// records come in several pages instead of one answer of any size.
    #[arg(long, env = "VAULTSYNC_MAX_PAGE_BYTES", default_value_t = 8 << 20, global = true)]
    pub max_page_bytes: usize,

    /// Login attempts per account per minute (a burst of this many, then one every
    /// 60/N seconds).
    #[arg(
        long,
        env = "VAULTSYNC_LOGIN_PER_ACCOUNT",
        default_value_t = 10,
        global = true
    )]
    pub login_attempts_per_account: u32,

    /// Register, prelogin and login requests per client address per minute.
    #[arg(
        long,
        env = "VAULTSYNC_LOGIN_PER_ADDRESS",
        default_value_t = 60,
        global = true
    )]
    pub login_attempts_per_address: u32,

    /// How long tombstones are kept before they are purged (e.g. `90d`, `12h`, `30s`).
    /// A client whose cursor predates a purge is told to resync (410 RESYNC_REQUIRED).
    #[arg(long, env = "VAULTSYNC_TOMBSTONE_RETENTION", default_value = "90d", value_parser = humantime::parse_duration, global = true)]
    pub tombstone_retention: std::time::Duration,

    /// Past versions kept per record (the newest; tombstones included). 0 keeps none.
    #[arg(
        long,
        env = "VAULTSYNC_HISTORY_VERSIONS",
        default_value_t = 10,
        global = true
    )]
    pub history_versions: u32,

    /// How long a past version is kept after a newer one replaced it (e.g. `30d`).
    #[arg(long, env = "VAULTSYNC_HISTORY_RETENTION", default_value = "30d", value_parser = humantime::parse_duration, global = true)]
    pub history_retention: std::time::Duration,

    /// How often to purge expired tombstones and past versions.
    #[arg(long, env = "VAULTSYNC_PURGE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub purge_interval: std::time::Duration,
}

/// The live channel's limits (PROTOCOL.md, "Live updates"). Each replica enforces its own.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveLimits {
    /// Open live sockets per device token (429 TOO_MANY_SOCKETS beyond).
    #[arg(
        long = "live-sockets-per-token",
        env = "VAULTSYNC_LIVE_SOCKETS_PER_TOKEN",
        default_value_t = 5,
        global = true
    )]
    pub sockets_per_token: usize,

    /// Open live sockets per server process (429 TOO_MANY_SOCKETS beyond).
    #[arg(
        long = "live-max-sockets",
        env = "VAULTSYNC_LIVE_MAX_SOCKETS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_sockets: usize,

    /// Vault subscriptions per socket (the socket is closed with 4429 beyond).
    #[arg(
        long = "live-subscriptions",
        env = "VAULTSYNC_LIVE_SUBSCRIPTIONS",
        default_value_t = 16,
        global = true
    )]
    pub subscriptions_per_socket: usize,

    /// Live tickets per device token per minute (429 RATE_LIMITED beyond).
    #[arg(
        long = "live-tickets-per-minute",
        env = "VAULTSYNC_LIVE_TICKETS_PER_MINUTE",
        default_value_t = 30,
        global = true
    )]
    pub tickets_per_minute: u32,

    /// How often every replica re-reads the cursors of the vaults it has subscribers for
    /// and the tokens of its sockets: the longest a hint waits when a PostgreSQL
    /// notification is lost, and the longest a socket outlives its token's expiry.
    #[arg(long = "live-recheck", env = "VAULTSYNC_LIVE_RECHECK", default_value = "15s", value_parser = humantime::parse_duration, global = true)]
    pub recheck: std::time::Duration,

    /// How often the server sends a heartbeat on each socket.
    #[arg(long = "live-heartbeat", env = "VAULTSYNC_LIVE_HEARTBEAT", default_value = "20s", value_parser = humantime::parse_duration, global = true)]
    pub heartbeat: std::time::Duration,

    /// A socket that sent nothing (not even a heartbeat) for this long is closed (4408).
    #[arg(long = "live-silence", env = "VAULTSYNC_LIVE_SILENCE", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub silence: std::time::Duration,
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

/// A folder served under a URL prefix.
#[derive(Debug, Clone)]
pub struct StaticDir {
    /// `/` or `/something` (no trailing slash).
    pub prefix: String,
    /// The folder.
    pub dir: std::path::PathBuf,
}

fn parse_static(text: &str) -> Result<StaticDir, String> {
    let (prefix, dir) = text
        .split_once('=')
        .ok_or_else(|| format!("expected PREFIX=DIR, got {text:?}"))?;
    if !prefix.starts_with('/') || (prefix.len() > 1 && prefix.ends_with('/')) {
        return Err(format!(
            "the prefix must start with / and not end with one: {prefix:?}"
        ));
    }
    if prefix.starts_with("/v1") {
        return Err("the prefix must not shadow the API under /v1".into());
    }
    let dir = std::path::PathBuf::from(dir);
    if !dir.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    Ok(StaticDir {
        prefix: prefix.to_string(),
        dir,
    })
}
