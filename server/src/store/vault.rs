//! The vault: envelope, push (optimistic concurrency under the vault row lock), changes
//! and the tombstone purge.

use std::collections::HashMap;

use vaultsync_wire::{Blob, EnvelopeDoc, HeadDoc, PushResult, RecordId, VaultId};

use super::current::{decide, skipped};
use super::{
    Changes, EnvelopeWrite, PageBounds, Push, PushWrite, PutEnvelope, RecordColumns, StoreResult,
    count, id_from_column, kdf_column, kdf_from_columns, record_from_columns, stored,
};
use crate::db::{Db, on_read, on_write};

/// Reads a vault's envelope through `$executor`.
macro_rules! read_envelope {
    ($executor:expr, $vault_pk:expr) => {
        sqlx::query_as::<_, (Vec<u8>, i64, Vec<u8>, String)>(
            "SELECT envelope, envelope_version, salt, kdf_params FROM vaults WHERE id = $1",
        )
        .bind($vault_pk)
        .fetch_one($executor)
        .await
        .and_then(|(envelope, version, salt, params)| {
            Ok(EnvelopeDoc {
                version: count(version),
                envelope: Blob(envelope),
                kdf: kdf_from_columns(&params, salt)?,
            })
        })
    };
}

impl Db {
    /// The storage key of `vault_id` if it belongs to the account.
    pub async fn vault_pk(&self, account_id: i64, vault_id: &VaultId) -> StoreResult<Option<i64>> {
        on_read!(self, p => {
            sqlx::query_scalar("SELECT id FROM vaults WHERE vault_id = $1 AND account_id = $2")
                .bind(&vault_id.as_bytes()[..])
                .bind(account_id)
                .fetch_optional(p)
                .await
        })
    }

    /// The vault's envelope and KDF parameters.
    pub async fn envelope(&self, vault_pk: i64) -> StoreResult<EnvelopeDoc> {
        on_read!(self, p => read_envelope!(p, vault_pk))
    }

    /// Replaces the envelope if `base_version` is current; with a new auth key, replaces
    /// the account's verifier in the same transaction.
    pub async fn put_envelope(
        &self,
        account_id: i64,
        vault_pk: i64,
        write: EnvelopeWrite<'_>,
        now: i64,
    ) -> StoreResult<PutEnvelope> {
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let version: Option<i64> = sqlx::query_scalar(
                "UPDATE vaults SET envelope = $1, envelope_version = envelope_version + 1, \
                 salt = $2, kdf_params = $3, updated_at = $4 \
                 WHERE id = $5 AND envelope_version = $6 RETURNING envelope_version",
            )
            .bind(write.envelope)
            .bind(write.kdf.salt.as_bytes())
            .bind(kdf_column(write.kdf))
            .bind(now)
            .bind(vault_pk)
            .bind(stored(write.base_version))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(version) = version else {
                let current = read_envelope!(&mut *tx, vault_pk)?;
                return Ok(PutEnvelope::Conflict(current));
            };
            if let Some(hash) = write.verifier_hash {
                sqlx::query("UPDATE accounts SET auth_verifier_hash = $1 WHERE id = $2")
                    .bind(&hash[..])
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(PutEnvelope::Stored(count(version)))
        }.await)
    }

    /// Applies a push in one transaction, all of it or nothing, and returns one result
    /// per item.
    ///
    /// The first statement updates the vault row, which takes its row lock on PostgreSQL
    /// (and the write lock on SQLite) until commit. Cursors are handed out from
    /// `vaults.next_cursor` under that lock, so pushes to one vault commit in cursor order:
    /// a change never becomes visible with a cursor below one a reader has already seen.
    /// Under the lock, one query reads the current rows of the whole batch and one upsert
    /// per [`super::ROWS_PER_STATEMENT`] writes them, so a batch costs a handful of statements.
    ///
    /// The same statement reads the envelope version and the head seq. A push sealed
    /// against another envelope version is refused whole: an envelope put updates the same
    /// row, so once a key retirement commits, no write sealed before it can land. A push
    /// made on another head seq is refused whole (`HeadStale`), so the heads form one
    /// chain; the same push sent again after it landed (its head is the stored one) is
    /// answered as applied. The head is stored with the writes, in the same transaction.
    pub async fn push(&self, vault_pk: i64, write: PushWrite<'_>, now: i64) -> StoreResult<Push> {
        let postgres = matches!(self, Db::Postgres(_));
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let (first, current_envelope, head_seq, stored_head): (i64, i64, i64, Option<Vec<u8>>) =
                sqlx::query_as(
                    "UPDATE vaults SET updated_at = $1 WHERE id = $2 \
                     RETURNING next_cursor, envelope_version, head_seq, head",
                )
                .bind(now)
                .bind(vault_pk)
                .fetch_one(&mut *tx)
                .await?;
            if count(current_envelope) != write.envelope_version {
                let current = read_envelope!(&mut *tx, vault_pk)?;
                tx.rollback().await?;
                return Ok(Push::EnvelopeChanged(current));
            }
            let mut current = super::current::read_current!(tx, vault_pk, write.items)?;
            let (results, writes) = decide(write.items, &mut current, first)?;
            if count(head_seq) != write.base_seq {
                tx.rollback().await?;
                let landed = stored_head.as_deref() == Some(write.head)
                    && writes.is_empty()
                    && results.iter().all(|r| matches!(r, PushResult::Applied { .. }));
                if landed {
                    return Ok(Push::Done(results, None));
                }
                return Ok(Push::HeadStale(stored_head.map(|head| HeadDoc {
                    seq: count(head_seq),
                    head: Blob(head),
                })));
            }
            if results.iter().any(|r| matches!(r, PushResult::Conflict { .. })) {
                tx.rollback().await?;
                return Ok(Push::Done(results.into_iter().map(skipped).collect(), None));
            }
            // Each write's sealed bytes go once into `record_versions`; what it replaces
            // stays there as history (the housekeeping task bounds it).
            let created: Vec<&[u8]> = writes
                .iter()
                .filter(|w| !current.contains_key(&w.item.record_id))
                .map(|w| &w.item.record_id.as_bytes()[..])
                .collect();
            super::history::forget_lineage!(tx, vault_pk, created)?;
            let mut bodies: HashMap<Vec<u8>, i64> = HashMap::with_capacity(writes.len());
            for chunk in writes.chunks(super::ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO record_versions (vault_pk, record_id, version, deleted, \
                     ciphertext, written_at) ",
                );
                insert.push_values(chunk, |mut row, write| {
                    row.push_bind(vault_pk)
                        .push_bind(&write.item.record_id.as_bytes()[..])
                        .push_bind(write.version)
                        .push_bind(write.item.deleted)
                        .push_bind(write.item.ciphertext.as_bytes())
                        .push_bind(now);
                });
                insert.push(
                    " ON CONFLICT (vault_pk, record_id, version) DO UPDATE SET \
                     deleted = excluded.deleted, ciphertext = excluded.ciphertext, \
                     written_at = excluded.written_at RETURNING record_id, id",
                );
                let ids: Vec<(Vec<u8>, i64)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                bodies.extend(ids);
            }
            for chunk in writes.chunks(super::ROWS_PER_STATEMENT) {
                let mut upsert = sqlx::QueryBuilder::new(
                    "INSERT INTO records (vault_pk, record_id, body, version, deleted, \
                     change_cursor, created_at, updated_at) ",
                );
                upsert.push_values(chunk, |mut row, write| {
                    let id = &write.item.record_id.as_bytes()[..];
                    row.push_bind(vault_pk)
                        .push_bind(id)
                        .push_bind(bodies.get(id).copied().unwrap_or_default())
                        .push_bind(write.version)
                        .push_bind(write.item.deleted)
                        .push_bind(write.cursor)
                        .push_bind(now)
                        .push_bind(now);
                });
                upsert.push(
                    " ON CONFLICT (vault_pk, record_id) DO UPDATE SET \
                     body = excluded.body, version = excluded.version, \
                     deleted = excluded.deleted, change_cursor = excluded.change_cursor, \
                     updated_at = excluded.updated_at",
                );
                upsert.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE vaults SET next_cursor = $1, head = $2, head_seq = head_seq + 1 \
                 WHERE id = $3",
            )
            .bind(first + writes.len() as i64)
            .bind(write.head)
            .bind(vault_pk)
            .execute(&mut *tx)
            .await?;
            let cursor = (!writes.is_empty()).then(|| count(first + writes.len() as i64 - 1));
            if let (Some(cursor), true) = (cursor, postgres) {
                // Delivered to every replica's listener only if this transaction commits.
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(super::live::CHANNEL)
                    .bind(format!("c:{vault_pk}:{cursor}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Push::Done(results, cursor))
        }.await)
    }

    /// Up to `limit` changes after `since`, in cursor order. `since = 0` (a full pull) is
    /// always answered.
    ///
    /// The page, the horizon and the head are read in one transaction (a snapshot:
    /// `REPEATABLE READ` on PostgreSQL, a read transaction on SQLite), so the head on the
    /// last page is the one stored with the last change the page shows. A purge commits
    /// its horizon and its deletions together, so a page that misses a purged tombstone
    /// sees the horizon that says so: [`Changes::BeforeHorizon`].
    ///
    /// `full`: a later page of a full pull (one that started at 0), which cannot miss a
    /// deletion (what it does not list is gone): answered below the horizon too, so that
    /// a purge between its pages does not send it back to 0 forever.
    pub async fn changes(
        &self,
        vault_pk: i64,
        since: u64,
        bounds: PageBounds,
        full: bool,
    ) -> StoreResult<Changes> {
        let limit = bounds.limit;
        let postgres = matches!(self, Db::Postgres(_));
        type Marks = (i64, i64, i64, i64, Option<Vec<u8>>);
        let (rows, (next_cursor, purged_cursor, envelope_version, head_seq, head)): (
            Vec<RecordColumns>,
            Marks,
        ) = on_read!(self, p => async {
            let mut tx = p.begin().await?;
            if postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = sqlx::query_as(
                "SELECT r.record_id, r.version, r.deleted, v.ciphertext, r.change_cursor \
                 FROM records r JOIN record_versions v ON v.id = r.body \
                 WHERE r.vault_pk = $1 AND r.change_cursor > $2 \
                 ORDER BY r.change_cursor LIMIT $3",
            )
            .bind(vault_pk)
            .bind(stored(since))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await?;
            let marks = sqlx::query_as(
                "SELECT next_cursor, purged_cursor, envelope_version, head_seq, head \
                 FROM vaults WHERE id = $1",
            )
            .bind(vault_pk)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((rows, marks))
        }.await)?;
        let head = head.map(|head| HeadDoc {
            seq: count(head_seq),
            head: Blob(head),
        });
        // Cursor 0 is a full pull: a client with nothing cannot have missed a delete.
        if since > 0 && since < count(purged_cursor) && !full {
            return Ok(Changes::BeforeHorizon);
        }
        if since >= count(next_cursor) {
            return Ok(Changes::AheadOfServer(head));
        }
        // As many rows as the page may hold: `limit` changes and `bytes` of sealed bytes,
        // but at least one.
        let mut fit = 0;
        let mut bytes = 0usize;
        for row in rows.iter().take(limit as usize) {
            bytes += row.3.len();
            if fit > 0 && bytes > bounds.bytes {
                break;
            }
            fit += 1;
        }
        let more = rows.len() > fit;
        let changes = rows
            .into_iter()
            .take(fit)
            .map(record_from_columns)
            .collect::<StoreResult<Vec<_>>>()?;
        let (cursor, head) = if more {
            (changes.last().map_or(since, |c| c.cursor), None)
        } else {
            // Nothing above the last change in this snapshot: the next pull may start at
            // the latest cursor, which is at or above the purge horizon.
            (count(next_cursor) - 1, head)
        };
        Ok(Changes::Page {
            changes,
            cursor,
            more,
            envelope_version: count(envelope_version),
            head,
        })
    }

    /// Deletes tombstones last written before `cutoff` and moves each affected vault's
    /// horizon past them, atomically. Returns how many were purged.
    pub async fn purge_tombstones(&self, cutoff: i64) -> StoreResult<u64> {
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE vaults SET purged_cursor = (SELECT MAX(r.change_cursor) FROM records r \
                 WHERE r.vault_pk = vaults.id AND r.deleted AND r.updated_at < $1) \
                 WHERE EXISTS (SELECT 1 FROM records r \
                 WHERE r.vault_pk = vaults.id AND r.deleted AND r.updated_at < $1)",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "DELETE FROM records WHERE deleted AND updated_at < $1 AND change_cursor <= \
                 (SELECT v.purged_cursor FROM vaults v WHERE v.id = records.vault_pk)",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }.await)
    }
}
