//! Hints between replicas and the periodic re-check.
//!
//! On PostgreSQL, a push's transaction carries `NOTIFY vaultsync_live, 'c:<vault>:<cursor>'`
//! (delivered only if it commits), a revocation `r:<token>` and a link request `l:<vault>` (a hint
//! only: a lost one leaves the request to the devices' next `GET /v1/link-requests`); every replica
//! listens on its own connection (`application_name` `vaultsync-live`). A notification
//! sent while a listener reconnects is lost, so every replica also re-reads, every
//! `--live-recheck`, the cursors of the vaults it has subscribers for and the tokens of
//! its sockets (also at once after its listener reconnected). On SQLite the one process
//! publishes after each commit; the re-check there only closes sockets of expired
//! tokens.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;

use super::Hub;
use crate::clock::now_ms;
use crate::db::Db;
use crate::store::StoreResult;
use crate::store::live::CHANNEL;

/// How often expired tickets (and link requests ended a day ago) are deleted.
const TICKET_PURGE: Duration = Duration::from_secs(60);

/// Runs the fan-out of one process for its whole life.
pub async fn run(db: Db, hub: Hub) {
    let wake = Arc::new(Notify::new());
    if let Db::Postgres(pool) = &db {
        tokio::spawn(listen(pool.clone(), hub.clone(), wake.clone()));
    }
    let mut tick = tokio::time::interval(hub.limits().recheck.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purged = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        if let Err(error) = recheck(&db, &hub).await {
            tracing::warn!(%error, "live re-check failed; will retry");
        }
        if purged.elapsed() >= TICKET_PURGE {
            purged = tokio::time::Instant::now();
            if let Err(error) = db.purge_tickets(now_ms()).await {
                tracing::warn!(%error, "ticket purge failed; will retry");
            }
            if let Err(error) = db.purge_links(now_ms()).await {
                tracing::warn!(%error, "link request purge failed; will retry");
            }
        }
    }
}

/// Publishes the stored cursor of every watched vault, and revokes the sockets of tokens
/// that no longer live.
async fn recheck(db: &Db, hub: &Hub) -> StoreResult<()> {
    let vaults = hub.watched();
    if !vaults.is_empty() {
        for (vault_pk, cursor) in db.vault_cursors(&vaults).await? {
            hub.publish(vault_pk, cursor);
        }
    }
    let (tokens, _) = hub.tokens();
    if !tokens.is_empty() {
        let live = db.live_tokens(&tokens, now_ms()).await?;
        for token in tokens.into_iter().filter(|t| !live.contains(t)) {
            hub.revoke(token);
        }
    }
    Ok(())
}

/// Listens for other replicas' hints, reconnecting for ever.
async fn listen(pool: PgPool, hub: Hub, wake: Arc<Notify>) {
    let options = (*pool.connect_options())
        .clone()
        .application_name("vaultsync-live");
    loop {
        let connected = async {
            let own = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let mut listener = PgListener::connect_with(&own).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(mut listener) => {
                tracing::info!("live listener connected");
                // Whatever was notified while it was away.
                wake.notify_one();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => apply(&hub, notification.payload()),
                        Ok(None) => {
                            tracing::warn!("live listener lost its connection; re-checking");
                            wake.notify_one();
                        }
                        Err(error) => {
                            tracing::warn!(%error, "live listener failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "live listener cannot connect; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Applies one notification's payload; anything else is ignored.
fn apply(hub: &Hub, payload: &str) {
    let mut parts = payload.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("c"), Some(vault), Some(cursor)) => {
            if let (Ok(vault), Ok(cursor)) = (vault.parse(), cursor.parse()) {
                hub.publish(vault, cursor);
            }
        }
        (Some("l"), Some(vault), None) => {
            if let Ok(vault) = vault.parse() {
                hub.publish_link(vault);
            }
        }
        (Some("r"), Some(token), None) => {
            if let Ok(token) = token.parse() {
                hub.revoke(token);
            }
        }
        _ => tracing::warn!("ignored a live notification of an unknown form"),
    }
}
