//! The storage operations, one function per operation the API performs. Every function
//! runs the same SQL on SQLite and PostgreSQL (see [`on_read`] / [`on_write`]). Routes
//! never write SQL; this module never sees HTTP.
//!
//! - this module: the row and request types, column conversions, server secrets;
//! - [`accounts`]: accounts and tokens;
//! - [`vault`]: the envelope, push, changes and the tombstone purge;
//! - [`devices`]: the device registry and link requests;
//! - [`history`]: the past versions a push replaced;
//! - [`live`]: live tickets, and what the live fan-out re-reads.
//!
//! Times are Unix milliseconds. Record versions and cursors are stored as `BIGINT` and
//! never exceed [`vaultsync_wire::MAX_VERSION`].

use vaultsync_wire::{
    Blob, EnvelopeDoc, HeadDoc, Kdf, PushItem, PushResult, Record, RecordId, VaultId,
};

use crate::db::{Db, on_write};

mod accounts;
mod current;
mod devices;
pub use devices::{Claim, NewLink};
mod history;
pub use history::Kept;
pub mod live;
mod vault;

/// Rows per multi-row statement: 8 parameters each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// A storage failure, or a row that does not parse (a damaged database).
pub type StoreResult<T> = Result<T, sqlx::Error>;

/// A token to store: only its hash and what listing shows.
#[derive(Clone)]
pub struct NewToken {
    /// SHA-256 of the whole token text.
    pub hash: [u8; 32],
    /// `vst_…` and the last 4 characters.
    pub indicator: String,
    /// The label.
    pub label: String,
    /// Expiry, or `None` for never.
    pub expires_at: Option<i64>,
}

/// A stored token as listed.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenRow {
    /// Primary key.
    pub id: i64,
    /// Indicator.
    pub key_indicator: String,
    /// Label.
    pub label: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Last use (to the minute).
    pub last_used_at: Option<i64>,
}

/// What a bearer token resolves to.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenAuth {
    /// The token's id.
    pub id: i64,
    /// Its account.
    pub account_id: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Last use.
    pub last_used_at: Option<i64>,
    /// Its device.
    pub device_id: Option<i64>,
    /// When its device was revoked (its tokens expired then).
    pub device_revoked_at: Option<i64>,
}

/// What login and prelogin need about an account.
pub struct LoginRow {
    /// The account.
    pub account_id: i64,
    /// SHA-256 of the auth key.
    pub verifier_hash: Vec<u8>,
    /// SHA-256 of the recovery auth key (`None` for accounts registered before it existed).
    pub recovery_hash: Option<Vec<u8>>,
    /// The KDF parameters of the current envelope.
    pub kdf: Kdf,
    /// The account's vault.
    pub vault_id: VaultId,
    /// Its envelope version.
    pub envelope_version: u64,
}

/// An account with its vault and first token, as registration creates them.
pub struct NewAccount<'a> {
    /// Normalised username.
    pub username: &'a str,
    /// SHA-256 of the auth key.
    pub verifier_hash: [u8; 32],
    /// SHA-256 of the recovery auth key.
    pub recovery_hash: [u8; 32],
    /// The vault id.
    pub vault_id: VaultId,
    /// The envelope.
    pub envelope: &'a [u8],
    /// Its KDF parameters.
    pub kdf: &'a Kdf,
    /// The first device token.
    pub token: NewToken,
}

/// Why registration stored nothing.
#[derive(Debug)]
pub enum RegisterError {
    /// The username exists.
    UsernameTaken,
    /// The vault id exists.
    VaultExists,
    /// Storage failed.
    Storage(sqlx::Error),
}

/// A new envelope and what changes with it.
pub struct EnvelopeWrite<'a> {
    /// The version it was made from.
    pub base_version: u64,
    /// The envelope.
    pub envelope: &'a [u8],
    /// Its KDF parameters.
    pub kdf: &'a Kdf,
    /// SHA-256 of the new auth key, when the password changed.
    pub verifier_hash: Option<[u8; 32]>,
}

/// Outcome of an envelope put.
pub enum PutEnvelope {
    /// Stored with this version.
    Stored(u64),
    /// Refused: the current envelope.
    Conflict(EnvelopeDoc),
}

/// A push as the store applies it.
pub struct PushWrite<'a> {
    /// The envelope version the writes were sealed against.
    pub envelope_version: u64,
    /// The head seq the push was made on.
    pub base_seq: u64,
    /// The sealed head to store with it.
    pub head: &'a [u8],
    /// The writes.
    pub items: &'a [PushItem],
}

/// Outcome of a push.
pub enum Push {
    /// One result per item: all applied, or (when one conflicted) nothing written; and
    /// the vault's new cursor when this push committed writes.
    Done(Vec<PushResult>, Option<u64>),
    /// Refused whole, nothing written: sealed against another envelope than the current.
    EnvelopeChanged(EnvelopeDoc),
    /// Refused whole, nothing written: made on another head than the stored one.
    HeadStale(Option<HeadDoc>),
}

/// How much one page of changes may hold.
#[derive(Clone, Copy, Debug)]
pub struct PageBounds {
    /// Most changes.
    pub limit: u32,
    /// Most sealed bytes (a page holds at least one change, whatever its size).
    pub bytes: usize,
}

/// A page of changes, or the reason the client must start over.
pub enum Changes {
    /// Changes in cursor order; `more` when the page was full.
    Page {
        /// The changes.
        changes: Vec<Record>,
        /// The cursor to ask from next: the last change's, or on the last page the
        /// vault's latest (never below the purge horizon).
        cursor: u64,
        /// More follow.
        more: bool,
        /// The envelope's version.
        envelope_version: u64,
        /// On the last page, the head read with it.
        head: Option<HeadDoc>,
    },
    /// `since` predates the tombstone horizon.
    BeforeHorizon,
    /// `since` is beyond the last cursor the vault has handed out: the current head.
    AheadOfServer(Option<HeadDoc>),
}

/// The KDF column holds the parameters other than the salt, as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct KdfColumn {
    algorithm: vaultsync_wire::KdfAlgorithm,
    iterations: u32,
}

fn kdf_column(kdf: &Kdf) -> String {
    let column = KdfColumn {
        algorithm: kdf.algorithm,
        iterations: kdf.iterations,
    };
    serde_json::to_string(&column).unwrap_or_default()
}

fn kdf_from_columns(params: &str, salt: Vec<u8>) -> StoreResult<Kdf> {
    let column: KdfColumn =
        serde_json::from_str(params).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Kdf {
        algorithm: column.algorithm,
        iterations: column.iterations,
        salt: Blob(salt),
    })
}

fn id_from_column<T>(
    bytes: &[u8],
    from_slice: fn(&[u8]) -> Result<T, vaultsync_wire::IdError>,
) -> StoreResult<T> {
    from_slice(bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Versions and cursors: stored as i64, always in 0..=MAX_VERSION.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn stored(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

type RecordColumns = (Vec<u8>, i64, bool, Vec<u8>, i64);

fn record_from_columns(
    (record_id, version, deleted, ciphertext, cursor): RecordColumns,
) -> StoreResult<Record> {
    Ok(Record {
        record_id: id_from_column(&record_id, RecordId::from_slice)?,
        version: count(version),
        deleted,
        ciphertext: Blob(ciphertext),
        cursor: count(cursor),
    })
}

impl Db {
    /// The server secret `name`, created (32 random bytes) by whichever replica asks first.
    pub async fn server_secret(&self, name: &str, fresh: [u8; 32]) -> StoreResult<Vec<u8>> {
        on_write!(self, p => {
            sqlx::query(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&fresh[..])
            .execute(p)
            .await?;
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(p)
                .await
        })
    }
}
