//! The live channel's storage: tickets, and what the fan-out re-reads (vault cursors,
//! which tokens still live). On PostgreSQL, hints to the other replicas go through
//! `NOTIFY` on [`CHANNEL`].

use super::{StoreResult, count};
use crate::db::{Db, on_read, on_write};

/// The PostgreSQL channel of live hints: payloads `c:<vault>:<cursor>` (a committed push)
/// and `r:<token>` (a revoked token).
pub const CHANNEL: &str = "vaultsync_live";

/// Who a spent ticket was issued to.
#[derive(Debug, sqlx::FromRow)]
pub struct TicketOwner {
    /// The token that asked for it.
    pub token_id: i64,
    /// Its account.
    pub account_id: i64,
}

impl Db {
    /// Stores a ticket's hash for `token_id` until `expires_at`.
    pub async fn create_ticket(
        &self,
        hash: &[u8; 32],
        token_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO live_tickets (ticket_hash, token_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(&hash[..])
            .bind(token_id)
            .bind(expires_at)
            .execute(p)
            .await
            .map(drop)
        })
    }

    /// Spends the ticket with this hash: deleted whatever the outcome, answered only if
    /// it had not expired and its token still lives.
    pub async fn take_ticket(&self, hash: &[u8; 32], now: i64) -> StoreResult<Option<TicketOwner>> {
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let spent: Option<(i64, i64)> = sqlx::query_as(
                "DELETE FROM live_tickets WHERE ticket_hash = $1 RETURNING token_id, expires_at",
            )
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await?;
            let owner = match spent {
                Some((token_id, expires_at)) if expires_at > now => {
                    sqlx::query_as(
                        "SELECT id AS token_id, account_id FROM api_keys WHERE id = $1 \
                         AND (expires_at IS NULL OR expires_at > $2)",
                    )
                    .bind(token_id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                _ => None,
            };
            tx.commit().await?;
            Ok(owner)
        }.await)
    }

    /// Deletes tickets that expired before `now`.
    pub async fn purge_tickets(&self, now: i64) -> StoreResult<u64> {
        on_write!(self, p => {
            sqlx::query("DELETE FROM live_tickets WHERE expires_at <= $1")
                .bind(now)
                .execute(p)
                .await
                .map(|done| done.rows_affected())
        })
    }

    /// The latest cursor of each of these vaults (absent: no such vault).
    pub async fn vault_cursors(&self, vault_pks: &[i64]) -> StoreResult<Vec<(i64, u64)>> {
        let mut found = Vec::with_capacity(vault_pks.len());
        for chunk in vault_pks.chunks(super::ROWS_PER_STATEMENT) {
            let rows: Vec<(i64, i64)> = on_read!(self, p => {
                let mut select =
                    sqlx::QueryBuilder::new("SELECT id, next_cursor FROM vaults WHERE id IN (");
                let mut ids = select.separated(", ");
                for pk in chunk {
                    ids.push_bind(*pk);
                }
                select.push(")");
                select.build_query_as().fetch_all(p).await
            })?;
            found.extend(rows.into_iter().map(|(pk, next)| (pk, count(next - 1))));
        }
        Ok(found)
    }

    /// Which of these tokens are still live at `now` (not revoked, not expired).
    pub async fn live_tokens(&self, token_ids: &[i64], now: i64) -> StoreResult<Vec<i64>> {
        let mut live = Vec::with_capacity(token_ids.len());
        for chunk in token_ids.chunks(super::ROWS_PER_STATEMENT) {
            let rows: Vec<i64> = on_read!(self, p => {
                let mut select = sqlx::QueryBuilder::new("SELECT id FROM api_keys WHERE id IN (");
                let mut ids = select.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                select
                    .push(") AND (expires_at IS NULL OR expires_at > ")
                    .push_bind(now)
                    .push(")");
                select.build_query_scalar().fetch_all(p).await
            })?;
            live.extend(rows);
        }
        Ok(live)
    }

    /// Tells the other replicas (PostgreSQL `NOTIFY`; nothing to do on SQLite, where one
    /// process serves the file).
    pub async fn notify(&self, payload: &str) -> StoreResult<()> {
        match self {
            Db::Sqlite { .. } => Ok(()),
            Db::Postgres(p) => sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(p)
                .await
                .map(drop),
        }
    }
}
