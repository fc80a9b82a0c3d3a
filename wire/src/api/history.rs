//! Record history (`PROTOCOL.md`, "History"): the sealed versions a push replaced, as the
//! server keeps them (at most `--history-versions` per record, for `--history-retention`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::{Blob, RecordId};

/// One past version of a record, sealed as it was pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PastVersion {
    /// Its version.
    pub version: u64,
    /// A tombstone.
    pub deleted: bool,
    /// The sealed record (bound to its record id and version: FORMAT.md).
    pub ciphertext: Blob,
    /// When a newer version replaced it (Unix milliseconds).
    pub replaced_at: i64,
}

crate::json_struct!(PastVersion {
    version,
    deleted,
    ciphertext,
    replaced_at
});

/// Answer to `GET /v1/vaults/{vault_id}/records/{record_id}/history?before=V&limit=N`:
/// past versions below `before`, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HistoryPage {
    /// The record.
    pub record_id: RecordId,
    /// Newest first.
    pub versions: Vec<PastVersion>,
    /// More versions are older than the last one (ask again with `before` = its version).
    pub more: bool,
}

crate::json_struct!(HistoryPage {
    record_id,
    versions,
    more
});

/// A deleted record whose past versions are still kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeletedRecord {
    /// The record.
    pub record_id: RecordId,
    /// Its newest kept past version (its history: `GET …/records/{record_id}/history`).
    pub version: u64,
    /// When that version was replaced (the deletion, Unix milliseconds).
    pub replaced_at: i64,
}

crate::json_struct!(DeletedRecord {
    record_id,
    version,
    replaced_at
});

/// Answer to `GET /v1/vaults/{vault_id}/deleted?after=R&limit=N`: deleted records with
/// kept past versions, in record id order after `R`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeletedPage {
    /// In record id order.
    pub records: Vec<DeletedRecord>,
    /// More follow (ask again with `after` = the last record id).
    pub more: bool,
}

crate::json_struct!(DeletedPage { records, more });
