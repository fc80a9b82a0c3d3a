//! `vaultsync-server`: the sync server binary. See `PROTOCOL.md` and `--help`.

mod config;
mod db;
mod error;
mod routes;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use config::{Cli, Command, MigrateAction};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("VAULTSYNC_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.database, &cli.listen).await,
        Command::Migrate { action } => migrate(&cli.database, action).await,
    }
}

async fn serve(database: &str, listen: &str) -> anyhow::Result<()> {
    let db = db::Db::connect(database).await?;
    db.migrate_up().await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the URL from it.
    println!("vaultsync-server listening on http://{addr}");
    tracing::info!(%addr, backend = db.backend(), "serving");
    axum::serve(listener, routes::app(routes::AppState { db }))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
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
