//! `vaultsync-server`: the sync server binary. See `PROTOCOL.md` and `--help`.

mod auth;
mod clock;
mod config;
mod db;
mod error;
mod live;
mod routes;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use clock::now_ms;
use config::{Cli, Command, MigrateAction};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("VAULTSYNC_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command.take().unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli).await,
        Command::Migrate { action } => migrate(&cli.database, action).await,
    }
}

async fn serve(cli: &Cli) -> anyhow::Result<()> {
    let listen = cli.listen.as_str();
    let db = db::Db::connect(&cli.database).await?;
    db.migrate_up().await?;
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let prelogin_secret = db.server_secret("prelogin", fresh).await?;
    let limits = Arc::new(cli.limits.clone());
    let rate = auth::RateLimits::new(
        limits.login_attempts_per_account,
        limits.login_attempts_per_address,
    );
    tokio::spawn(housekeeping(db.clone(), rate.clone(), limits.clone()));
    tokio::spawn(prune_history(db.clone(), limits.history_versions));
    let hub = live::Hub::new(cli.live.clone());
    tokio::spawn(live::fanout::run(db.clone(), hub.clone()));
    let state = routes::AppState {
        db: db.clone(),
        limits,
        rate,
        prelogin_secret: Arc::new(zeroize::Zeroizing::new(prelogin_secret)),
        trust_forwarded_for: cli.trust_forwarded_for,
        statics: Arc::new(cli.statics.clone()),
        hub: hub.clone(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the URL from it.
    println!("vaultsync-server listening on http://{addr}");
    if cli.statics.iter().any(|s| s.prefix == "/") {
        println!("demo web vault: open http://{addr}/ in a browser");
    }
    tracing::info!(%addr, backend = db.backend(), "serving");
    axum::serve(
        listener,
        routes::app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Live sockets are not requests: close them, or shutdown would wait on them.
        hub.close_all();
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Purges expired tombstones and past versions every `--purge-interval` (first at start) and forgets idle
/// rate-limit keys every minute. Every replica may run it: purging is idempotent.
async fn housekeeping(db: db::Db, rate: auth::RateLimits, limits: Arc<config::Limits>) {
    let retention = i64::try_from(limits.tombstone_retention.as_millis()).unwrap_or(i64::MAX);
    let tick = limits
        .purge_interval
        .min(Duration::from_secs(60))
        .max(Duration::from_millis(100));
    let mut last_purge: Option<tokio::time::Instant> = None;
    let mut interval = tokio::time::interval(tick);
    loop {
        interval.tick().await;
        rate.forget_idle();
        if last_purge.is_some_and(|at| at.elapsed() < limits.purge_interval) {
            continue;
        }
        last_purge = Some(tokio::time::Instant::now());
        match db
            .purge_tombstones(now_ms().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired tombstones"),
            Err(error) => tracing::warn!(%error, "tombstone purge failed; will retry"),
        }
        let kept = i64::try_from(limits.history_retention.as_millis()).unwrap_or(i64::MAX);
        let kept = store::Kept {
            versions: limits.history_versions,
            since: now_ms().saturating_sub(kept),
        };
        match db.prune_versions(kept).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired past versions"),
            Err(error) => tracing::warn!(%error, "history purge failed; will retry"),
        }
    }
}

/// Every second, deletes the past versions beyond `--history-versions` of the records
/// written since the last pass (the housekeeping task's full pass also applies the
/// retention), then checkpoints SQLite's log. A push never deletes history: it runs here,
/// between pushes.
async fn prune_history(db: db::Db, keep: u32) {
    let mut after = 0;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        match db.prune_recent(keep, after).await {
            Ok((deleted, newest)) => {
                after = newest;
                if deleted > 0 {
                    tracing::debug!(deleted, "pruned past versions");
                }
            }
            Err(error) => tracing::warn!(%error, "history pruning failed; will retry"),
        }
        if let Err(error) = db.checkpoint().await {
            tracing::debug!(%error, "checkpoint failed; SQLite checkpoints at commits anyway");
        }
    }
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

async fn migrate(database: &str, action: MigrateAction) -> anyhow::Result<()> {
    let db = db::Db::connect(database).await?;
    match action {
        MigrateAction::Apply => {
            let applied = db.migrate_up().await?;
            println!("applied {applied} migration(s); schema is up to date");
        }
        MigrateAction::Status => {
            for m in db.migration_status().await? {
                println!(
                    "{} {:<10} {}",
                    m.version,
                    if m.applied { "applied" } else { "pending" },
                    m.description
                );
            }
        }
        MigrateAction::Down => match db.migrate_down_one().await? {
            Some(version) => println!("reverted migration {version}"),
            None => println!("nothing to revert"),
        },
    }
    Ok(())
}
