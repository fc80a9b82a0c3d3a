//! Record history (PROTOCOL.md, "History"): a push keeps the sealed versions it replaces,
//! at most `keep` per record (the newest), in the same transaction as its writes; the
//! housekeeping task deletes those older than the retention; a device reads a record's
//! past versions a page at a time.

use vaultsync_wire::{Blob, DeletedRecord, PastVersion, RecordId};

use super::{StoreResult, count};
use crate::db::{Db, on_read, on_write};

/// A row a push replaces: record id, its version, tombstone, ciphertext.
pub(super) type Replaced<'a> = (&'a [u8], i64, bool, &'a [u8]);

/// Keeps the rows a push replaces in `record_history` and drops, for each of those
/// records, the versions past the newest `keep` (inside the push's transaction `tx`,
/// after its upsert).
macro_rules! archive {
    ($tx:expr, $vault_pk:expr, $replaced:expr, $keep:expr, $now:expr) => {
        async {
            for chunk in $replaced.chunks(super::ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO record_history (vault_pk, record_id, version, deleted, \
                     ciphertext, replaced_at) ",
                );
                insert.push_values(chunk, |mut row, r| {
                    row.push_bind($vault_pk)
                        .push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(r.2)
                        .push_bind(r.3)
                        .push_bind($now);
                });
                // A push sent again after its answer was lost replaces nothing new.
                insert.push(" ON CONFLICT DO NOTHING");
                insert.build().execute(&mut *$tx).await?;
                // After the push's upsert: each record's current version is stored, and
                // one statement drops what is past the newest `keep` (by the primary
                // key's prefix, the current version read per row by its own key).
                let mut prune =
                    sqlx::QueryBuilder::new("DELETE FROM record_history WHERE vault_pk = ");
                prune.push_bind($vault_pk).push(" AND record_id IN (");
                let mut ids = prune.separated(", ");
                for r in chunk {
                    ids.push_bind(r.0);
                }
                prune
                    .push(") AND version < (SELECT r.version FROM records r WHERE r.vault_pk = ")
                    .push_bind($vault_pk)
                    .push(" AND r.record_id = record_history.record_id) - ")
                    .push_bind($keep);
                prune.build().execute(&mut *$tx).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}
pub(super) use archive;

impl Db {
    /// Up to `limit` past versions of a record, newest first, below `before` (all with
    /// `None`); and whether older ones remain.
    pub async fn history(
        &self,
        vault_pk: i64,
        record_id: &RecordId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreResult<(Vec<PastVersion>, bool)> {
        let before = before.map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX));
        let rows: Vec<(i64, bool, Vec<u8>, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT version, deleted, ciphertext, replaced_at FROM record_history \
                 WHERE vault_pk = $1 AND record_id = $2 AND version < $3 \
                 ORDER BY version DESC LIMIT $4",
            )
            .bind(vault_pk)
            .bind(&record_id.as_bytes()[..])
            .bind(before)
            .bind(i64::from(limit) + 1)
            .fetch_all(p)
            .await
        })?;
        let more = rows.len() > limit as usize;
        let versions = rows
            .into_iter()
            .take(limit as usize)
            .map(|(version, deleted, ciphertext, replaced_at)| PastVersion {
                version: count(version),
                deleted,
                ciphertext: Blob(ciphertext),
                replaced_at,
            })
            .collect();
        Ok((versions, more))
    }

    /// Up to `limit` records of the vault that are deleted (a tombstone, or purged) and
    /// still have past versions, in record id order after `after`; and whether more follow.
    pub async fn deleted(
        &self,
        vault_pk: i64,
        after: Option<&RecordId>,
        limit: u32,
    ) -> StoreResult<(Vec<DeletedRecord>, bool)> {
        let after: Vec<u8> = after.map_or_else(Vec::new, |id| id.as_bytes().to_vec());
        let rows: Vec<(Vec<u8>, i64, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT h.record_id, MAX(h.version), MAX(h.replaced_at) FROM record_history h \
                 LEFT JOIN records r ON r.vault_pk = h.vault_pk AND r.record_id = h.record_id \
                 WHERE h.vault_pk = $1 AND h.record_id > $2 AND (r.record_id IS NULL OR r.deleted) \
                 GROUP BY h.record_id ORDER BY h.record_id LIMIT $3",
            )
            .bind(vault_pk)
            .bind(&after[..])
            .bind(i64::from(limit) + 1)
            .fetch_all(p)
            .await
        })?;
        let more = rows.len() > limit as usize;
        let mut records = Vec::with_capacity(rows.len().min(limit as usize));
        for (record_id, version, replaced_at) in rows.into_iter().take(limit as usize) {
            records.push(DeletedRecord {
                record_id: super::id_from_column(&record_id, RecordId::from_slice)?,
                version: count(version),
                replaced_at,
            });
        }
        Ok((records, more))
    }

    /// Deletes past versions replaced before `cutoff`; returns how many.
    pub async fn purge_history(&self, cutoff: i64) -> StoreResult<u64> {
        on_write!(self, p => async {
            sqlx::query("DELETE FROM record_history WHERE replaced_at < $1")
                .bind(cutoff)
                .execute(p)
                .await
                .map(|done| done.rows_affected())
        }.await)
    }
}
