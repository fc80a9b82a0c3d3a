//! Record history (PROTOCOL.md, "History"). Every version a push writes goes once into
//! `record_versions`, and `records` points at the current one: what a push replaces stays
//! where it is, so keeping history copies nothing. What is kept is bounded when read (at
//! most `--history-versions` past versions per record, each until `--history-retention`
//! after a newer one replaced it) and deleted by the housekeeping task ([`Db::prune_versions`]).

use vaultsync_wire::{Blob, DeletedRecord, PastVersion, RecordId};

use super::{StoreResult, count};
use crate::db::{Db, on_read, on_write};

/// What history keeps: the newest `versions` past versions of a record, each replaced at
/// or after `since` (Unix milliseconds).
#[derive(Clone, Copy, Debug)]
pub struct Kept {
    pub versions: u32,
    pub since: i64,
}

/// Forgets the versions left from an earlier life of records a push creates (their
/// tombstones were purged): a record created again starts its history afresh, and its
/// new version 1 is its newest row. Inside the push's transaction `tx`, before its writes.
macro_rules! forget_lineage {
    ($tx:expr, $vault_pk:expr, $ids:expr) => {
        async {
            for chunk in $ids.chunks(super::ROWS_PER_STATEMENT) {
                let mut delete =
                    sqlx::QueryBuilder::new("DELETE FROM record_versions WHERE vault_pk = ");
                delete.push_bind($vault_pk).push(" AND record_id IN (");
                let mut ids = delete.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                delete.push(")");
                delete.build().execute(&mut *$tx).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}
pub(super) use forget_lineage;

/// A version row: version, tombstone, ciphertext, written at.
type VersionRow = (i64, bool, Vec<u8>, i64);

impl Db {
    /// Up to `limit` past versions of a record that history keeps, newest first, below
    /// `before` (all with `None`); and whether older ones remain.
    pub async fn history(
        &self,
        vault_pk: i64,
        record_id: &RecordId,
        before: Option<u64>,
        limit: u32,
        kept: Kept,
    ) -> StoreResult<(Vec<PastVersion>, bool)> {
        if kept.versions == 0 {
            return Ok((Vec::new(), false));
        }
        let id = &record_id.as_bytes()[..];
        // The current version (or, for a record whose tombstone was purged, its newest
        // row), then the `versions` below it.
        let rows: Vec<VersionRow> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT version, deleted, ciphertext, written_at FROM record_versions \
                 WHERE vault_pk = $1 AND record_id = $2 \
                 AND version <= COALESCE((SELECT r.version FROM records r \
                     WHERE r.vault_pk = $1 AND r.record_id = $2), version) \
                 ORDER BY version DESC LIMIT $3",
            )
            .bind(vault_pk)
            .bind(id)
            .bind(i64::from(kept.versions) + 1)
            .fetch_all(p)
            .await
        })?;
        let before = before.map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX));
        // Each past version was replaced when the next newer one was written.
        let mut past = Vec::new();
        for pair in rows.windows(2) {
            let (newer, (version, deleted, ciphertext, _)) = (&pair[0], &pair[1]);
            let replaced_at = newer.3;
            if replaced_at < kept.since || *version >= before {
                continue;
            }
            past.push(PastVersion {
                version: count(*version),
                deleted: *deleted,
                ciphertext: Blob(ciphertext.clone()),
                replaced_at,
            });
        }
        let more = past.len() > limit as usize;
        past.truncate(limit as usize);
        Ok((past, more))
    }

    /// Up to `limit` records of the vault that are deleted (a tombstone, or purged) and
    /// still have past versions that history keeps, in record id order after `after`; and
    /// whether more follow. Each with its newest past version and when it was replaced.
    pub async fn deleted(
        &self,
        vault_pk: i64,
        after: Option<&RecordId>,
        limit: u32,
        kept: Kept,
    ) -> StoreResult<(Vec<DeletedRecord>, bool)> {
        if kept.versions == 0 {
            return Ok((Vec::new(), false));
        }
        let after: Vec<u8> = after.map_or_else(Vec::new, |id| id.as_bytes().to_vec());
        // The deletion (the tombstone: the current row, or the newest of a purged record)
        // replaced the newest past version.
        let rows: Vec<(Vec<u8>, i64, i64)> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT t.record_id, MAX(v.version), t.written_at FROM record_versions t \
                 JOIN record_versions v ON v.vault_pk = t.vault_pk AND v.record_id = t.record_id \
                     AND v.version < t.version \
                 LEFT JOIN records r ON r.vault_pk = t.vault_pk AND r.record_id = t.record_id \
                 WHERE t.vault_pk = $1 AND t.record_id > $2 AND t.deleted AND t.written_at >= $3 \
                 AND (r.body = t.id OR (r.record_id IS NULL AND t.version = (SELECT MAX(m.version) \
                     FROM record_versions m WHERE m.vault_pk = t.vault_pk \
                     AND m.record_id = t.record_id))) \
                 GROUP BY t.record_id, t.written_at ORDER BY t.record_id LIMIT $4",
            )
            .bind(vault_pk)
            .bind(&after[..])
            .bind(kept.since)
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

    /// [`Db::prune_versions`] for the records written since the version row `after` (by
    /// the count of versions only): the housekeeping task's cheap pass, every second, so
    /// that past versions beyond `keep` do not pile up between full passes. Returns how
    /// many rows went and the newest row looked at (the next pass's `after`).
    pub async fn prune_recent(&self, keep: u32, after: i64) -> StoreResult<(u64, i64)> {
        on_write!(self, p => async {
            let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM record_versions")
                .fetch_one(p)
                .await?;
            let newest = newest.unwrap_or(0);
            if newest <= after {
                return Ok((0, newest));
            }
            let done = sqlx::query(
                "DELETE FROM record_versions WHERE id IN (SELECT x.id FROM ( \
                     SELECT v.id, r.body, ROW_NUMBER() OVER w AS n \
                     FROM record_versions v LEFT JOIN records r \
                         ON r.vault_pk = v.vault_pk AND r.record_id = v.record_id \
                     WHERE (v.vault_pk, v.record_id) IN (SELECT t.vault_pk, t.record_id \
                         FROM record_versions t WHERE t.id > $2 AND t.id <= $3) \
                     WINDOW w AS (PARTITION BY v.vault_pk, v.record_id ORDER BY v.version DESC) \
                 ) x WHERE (x.body IS NULL OR x.body <> x.id) AND x.n > $1 + 1)",
            )
            .bind(i64::from(keep))
            .bind(after)
            .bind(newest)
            .execute(p)
            .await?;
            Ok((done.rows_affected(), newest))
        }.await)
    }

    /// Deletes the versions history no longer keeps: past versions beyond the newest
    /// `kept.versions` of their record or replaced before `kept.since`, and the last row
    /// of a record whose tombstone was purged once written before `kept.since`. Never the
    /// row a record points at. One pass over the table (the housekeeping task's); returns
    /// how many rows went.
    pub async fn prune_versions(&self, kept: Kept) -> StoreResult<u64> {
        on_write!(self, p => async {
            sqlx::query(
                "DELETE FROM record_versions WHERE id IN (SELECT x.id FROM ( \
                     SELECT v.id, v.written_at, r.record_id AS live, r.body, \
                         ROW_NUMBER() OVER w AS n, LAG(v.written_at) OVER w AS replaced_at \
                     FROM record_versions v LEFT JOIN records r \
                         ON r.vault_pk = v.vault_pk AND r.record_id = v.record_id \
                     WINDOW w AS (PARTITION BY v.vault_pk, v.record_id ORDER BY v.version DESC) \
                 ) x WHERE (x.body IS NULL OR x.body <> x.id) AND ( \
                     (x.n > 1 AND (x.n > $1 + 1 OR x.replaced_at < $2)) \
                     OR (x.live IS NULL AND x.written_at < $2)))",
            )
            .bind(i64::from(kept.versions))
            .bind(kept.since)
            .execute(p)
            .await
            .map(|done| done.rows_affected())
        }.await)
    }
}
