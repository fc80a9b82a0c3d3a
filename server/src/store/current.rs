//! What a push reads before it decides: the current row of each record it writes. The
//! sealed bytes of the current version are read only for the items that need them (a
//! write that is not on the current version: a retry to recognise, or a conflict to
//! answer with the current record); a write on the current version needs the version
//! alone, so the usual push reads no ciphertext at all. Then [`decide`] applies the
//! optimistic-concurrency rule to what was read.

use std::collections::HashMap;

use vaultsync_wire::{PushItem, PushResult, RecordId};

use super::{RecordColumns, StoreResult, count, record_from_columns, stored};

/// The current rows of the records `items` write (`RecordColumns`, by record id), inside
/// the push's transaction `tx`; the ciphertext is empty unless the item's base version is
/// not the current one.
macro_rules! read_current {
    ($tx:expr, $vault_pk:expr, $items:expr) => {
        async {
            let mut current: HashMap<RecordId, RecordColumns> =
                HashMap::with_capacity($items.len());
            let mut bodies: Vec<(RecordId, i64)> = Vec::new();
            for chunk in $items.chunks(super::ROWS_PER_STATEMENT) {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT record_id, version, deleted, body, change_cursor FROM records \
                     WHERE vault_pk = ",
                );
                select.push_bind($vault_pk).push(" AND record_id IN (");
                let mut ids = select.separated(", ");
                for item in chunk {
                    ids.push_bind(&item.record_id.as_bytes()[..]);
                }
                select.push(")");
                let rows: Vec<(Vec<u8>, i64, bool, i64, i64)> =
                    select.build_query_as().fetch_all(&mut *$tx).await?;
                for (id, version, deleted, body, cursor) in rows {
                    let record_id = id_from_column(&id, RecordId::from_slice)?;
                    current.insert(record_id, (id, version, deleted, Vec::new(), cursor));
                    bodies.push((record_id, body));
                }
            }
            // The bytes of the rows a write is not based on.
            let bases: HashMap<RecordId, i64> = $items
                .iter()
                .map(|i| (i.record_id, stored(i.base_version)))
                .collect();
            let on_current = |id: &RecordId, version: i64| bases.get(id) == Some(&version);
            let wanted: Vec<(RecordId, i64)> = bodies
                .into_iter()
                .filter(|(id, _)| !current.get(id).is_some_and(|r| on_current(id, r.1)))
                .collect();
            for chunk in wanted.chunks(super::ROWS_PER_STATEMENT) {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT id, ciphertext FROM record_versions WHERE id IN (",
                );
                let mut ids = select.separated(", ");
                for (_, body) in chunk {
                    ids.push_bind(*body);
                }
                select.push(")");
                let rows: Vec<(i64, Vec<u8>)> =
                    select.build_query_as().fetch_all(&mut *$tx).await?;
                let mut bytes: HashMap<i64, Vec<u8>> = rows.into_iter().collect();
                for (record_id, body) in chunk {
                    if let (Some(row), Some(b)) = (current.get_mut(record_id), bytes.remove(body)) {
                        row.3 = b;
                    }
                }
            }
            Ok::<_, sqlx::Error>(current)
        }
        .await
    };
}
pub(super) use read_current;

/// A write that `decide` accepted.
pub(super) struct Write<'a> {
    pub(super) item: &'a PushItem,
    pub(super) version: i64,
    pub(super) cursor: i64,
}

/// The optimistic-concurrency rule, item by item, against the current rows: a write is
/// accepted when its `base_version` is the current version (0 = the record does not
/// exist); a retry of a stored write (same bytes, at its new version) is answered as
/// applied without a new write; anything else is a conflict carrying the current copy.
/// Accepted writes get consecutive cursors from `first_cursor`.
pub(super) fn decide<'a>(
    items: &'a [PushItem],
    current: &mut HashMap<RecordId, RecordColumns>,
    first_cursor: i64,
) -> StoreResult<(Vec<PushResult>, Vec<Write<'a>>)> {
    let mut results = Vec::with_capacity(items.len());
    let mut writes = Vec::with_capacity(items.len());
    for item in items {
        let base = stored(item.base_version);
        let row = current.get(&item.record_id);
        let version = row.map_or(0, |r| r.1);
        let new_version = stored(item.new_version());
        let result = if version == base {
            let cursor = first_cursor + writes.len() as i64;
            writes.push(Write {
                item,
                version: new_version,
                cursor,
            });
            applied(item, new_version, cursor)
        } else if let Some(stored) = row.filter(|r| {
            // Fresh nonces make identical ciphertext at the new version a retry, never a
            // coincidence.
            r.1 == new_version && r.2 == item.deleted && r.3 == item.ciphertext.as_bytes()
        }) {
            applied(item, stored.1, stored.4)
        } else {
            PushResult::Conflict {
                record_id: item.record_id,
                current: current
                    .remove(&item.record_id)
                    .map(record_from_columns)
                    .transpose()?,
            }
        };
        results.push(result);
    }
    Ok((results, writes))
}

/// An item of a push that was not written because another conflicted.
pub(super) fn skipped(result: PushResult) -> PushResult {
    match result {
        PushResult::Applied { record_id, .. } => PushResult::Skipped { record_id },
        other => other,
    }
}

fn applied(item: &PushItem, version: i64, cursor: i64) -> PushResult {
    PushResult::Applied {
        record_id: item.record_id,
        version: count(version),
        cursor: count(cursor),
    }
}
