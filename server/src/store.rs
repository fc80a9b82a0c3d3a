//! The storage operations, one function per operation the API performs. Every function
//! runs the same SQL on SQLite and PostgreSQL (see [`on_read`] / [`on_write`]). Routes
//! never write SQL; this module never sees HTTP.
//!
//! Times are Unix milliseconds. Record versions and cursors are stored as `BIGINT` and
//! never exceed [`vaultsync_wire::MAX_VERSION`].

use std::collections::HashMap;

use vaultsync_wire::{Blob, EnvelopeDoc, Kdf, PushItem, PushResult, Record, RecordId, VaultId};

use crate::db::{Db, on_read, on_write};

/// A storage failure, or a row that does not parse (a damaged database).
pub type StoreResult<T> = Result<T, sqlx::Error>;

/// A token to store: only its hash and what listing shows.
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
}

/// What login and prelogin need about an account.
pub struct LoginRow {
    /// The account.
    pub account_id: i64,
    /// SHA-256 of the auth key.
    pub verifier_hash: Vec<u8>,
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

/// A page of changes, or the reason the client must start over.
pub enum Changes {
    /// Changes in cursor order; `more` when the page was full.
    Page {
        /// The changes.
        changes: Vec<Record>,
        /// More follow.
        more: bool,
        /// The envelope's version.
        envelope_version: u64,
    },
    /// `since` predates the tombstone horizon.
    BeforeHorizon,
    /// `since` is beyond the last cursor the vault has handed out.
    AheadOfServer,
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

/// Inserts a token row through `$executor` (a pool or a transaction of either backend).
macro_rules! insert_token {
    ($executor:expr, $account_id:expr, $token:expr, $now:expr) => {
        sqlx::query_as::<_, TokenRow>(
            "INSERT INTO api_keys (key_hash, account_id, key_indicator, label, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, key_indicator, label, created_at, expires_at, last_used_at",
        )
        .bind(&$token.hash[..])
        .bind($account_id)
        .bind(&$token.indicator)
        .bind(&$token.label)
        .bind($now)
        .bind($token.expires_at)
        .fetch_one($executor)
        .await
    };
}

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

    /// Creates an account, its vault (envelope version 1) and its first token, atomically.
    pub async fn register(&self, new: NewAccount<'_>, now: i64) -> Result<TokenRow, RegisterError> {
        let result: StoreResult<TokenRow> = on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let account_id: i64 = sqlx::query_scalar(
                "INSERT INTO accounts (username, auth_verifier_hash, created_at) \
                 VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(new.username)
            .bind(&new.verifier_hash[..])
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO vaults (account_id, vault_id, envelope, envelope_version, salt, \
                 kdf_params, enabled_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, 1, $4, $5, $6, $6, $6)",
            )
            .bind(account_id)
            .bind(&new.vault_id.as_bytes()[..])
            .bind(new.envelope)
            .bind(new.kdf.salt.as_bytes())
            .bind(kdf_column(new.kdf))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let token = insert_token!(&mut *tx, account_id, &new.token, now)?;
            tx.commit().await?;
            Ok(token)
        }.await);
        result.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let what = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
                if what.contains("username") {
                    RegisterError::UsernameTaken
                } else {
                    RegisterError::VaultExists
                }
            }
            _ => RegisterError::Storage(e),
        })
    }

    /// The account behind `username`, for prelogin and login.
    pub async fn login_row(&self, username: &str) -> StoreResult<Option<LoginRow>> {
        type Row = (i64, Vec<u8>, String, Vec<u8>, Vec<u8>, i64);
        let row: Option<Row> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT a.id, a.auth_verifier_hash, v.kdf_params, v.salt, v.vault_id, \
                 v.envelope_version FROM accounts a JOIN vaults v ON v.account_id = a.id \
                 WHERE a.username = $1",
            )
            .bind(username)
            .fetch_optional(p)
            .await
        })?;
        row.map(
            |(account_id, verifier_hash, params, salt, vault_id, version)| {
                Ok(LoginRow {
                    account_id,
                    verifier_hash,
                    kdf: kdf_from_columns(&params, salt)?,
                    vault_id: id_from_column(&vault_id, VaultId::from_slice)?,
                    envelope_version: count(version),
                })
            },
        )
        .transpose()
    }

    /// Stores a new token for an account.
    pub async fn create_token(
        &self,
        account_id: i64,
        token: &NewToken,
        now: i64,
    ) -> StoreResult<TokenRow> {
        on_write!(self, p => {
            insert_token!(p, account_id, token, now)
        })
    }

    /// The token with this hash, live or not (the caller checks expiry).
    pub async fn token_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenAuth>> {
        on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, account_id, expires_at, last_used_at FROM api_keys \
                 WHERE key_hash = $1",
            )
            .bind(&hash[..])
            .fetch_optional(p)
            .await
        })
    }

    /// Records a use of a token (the caller does this at most once a minute per token).
    pub async fn touch_token(&self, token_id: i64, now: i64) -> StoreResult<()> {
        on_write!(self, p => {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token_id)
                .execute(p)
                .await
                .map(drop)
        })
    }

    /// The account's live tokens, newest first.
    pub async fn list_tokens(&self, account_id: i64, now: i64) -> StoreResult<Vec<TokenRow>> {
        on_read!(self, p => {
            sqlx::query_as(
                "SELECT id, key_indicator, label, created_at, expires_at, last_used_at \
                 FROM api_keys WHERE account_id = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC",
            )
            .bind(account_id)
            .bind(now)
            .fetch_all(p)
            .await
        })
    }

    /// Revokes one of the account's live tokens (expiry set to now). False when the
    /// account has no such live token.
    pub async fn revoke_token(
        &self,
        account_id: i64,
        token_id: i64,
        now: i64,
    ) -> StoreResult<bool> {
        on_write!(self, p => {
            sqlx::query(
                "UPDATE api_keys SET expires_at = $3 WHERE id = $1 AND account_id = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(token_id)
            .bind(account_id)
            .bind(now)
            .execute(p)
            .await
            .map(|done| done.rows_affected() == 1)
        })
    }

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

    /// Applies a batch of writes in one transaction and returns one result per item.
    ///
    /// The first statement updates the vault row, which takes its row lock on PostgreSQL
    /// (and the write lock on SQLite) until commit. Cursors are handed out from
    /// `vaults.next_cursor` under that lock, so pushes to one vault commit in cursor order:
    /// a change never becomes visible with a cursor below one a reader has already seen.
    /// Under the lock, one query reads the current rows of the whole batch and one upsert
    /// per [`ROWS_PER_STATEMENT`] writes them, so a batch costs a handful of statements.
    pub async fn push(
        &self,
        vault_pk: i64,
        items: &[PushItem],
        now: i64,
    ) -> StoreResult<Vec<PushResult>> {
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let first: i64 = sqlx::query_scalar(
                "UPDATE vaults SET updated_at = $1 WHERE id = $2 RETURNING next_cursor",
            )
            .bind(now)
            .bind(vault_pk)
            .fetch_one(&mut *tx)
            .await?;
            let mut current: HashMap<RecordId, RecordColumns> =
                HashMap::with_capacity(items.len());
            for chunk in items.chunks(ROWS_PER_STATEMENT) {
                let mut select = sqlx::QueryBuilder::new(
                    "SELECT record_id, version, deleted, ciphertext, change_cursor FROM records \
                     WHERE vault_pk = ",
                );
                select.push_bind(vault_pk).push(" AND record_id IN (");
                let mut ids = select.separated(", ");
                for item in chunk {
                    ids.push_bind(&item.record_id.as_bytes()[..]);
                }
                select.push(")");
                let rows: Vec<RecordColumns> =
                    select.build_query_as().fetch_all(&mut *tx).await?;
                for row in rows {
                    current.insert(id_from_column(&row.0, RecordId::from_slice)?, row);
                }
            }
            let (results, writes) = decide(items, &mut current, first)?;
            for chunk in writes.chunks(ROWS_PER_STATEMENT) {
                let mut upsert = sqlx::QueryBuilder::new(
                    "INSERT INTO records (vault_pk, record_id, ciphertext, version, deleted, \
                     change_cursor, created_at, updated_at) ",
                );
                upsert.push_values(chunk, |mut row, write| {
                    row.push_bind(vault_pk)
                        .push_bind(&write.item.record_id.as_bytes()[..])
                        .push_bind(write.item.ciphertext.as_bytes())
                        .push_bind(write.version)
                        .push_bind(write.item.deleted)
                        .push_bind(write.cursor)
                        .push_bind(now)
                        .push_bind(now);
                });
                upsert.push(
                    " ON CONFLICT (vault_pk, record_id) DO UPDATE SET \
                     ciphertext = excluded.ciphertext, version = excluded.version, \
                     deleted = excluded.deleted, change_cursor = excluded.change_cursor, \
                     updated_at = excluded.updated_at",
                );
                upsert.build().execute(&mut *tx).await?;
            }
            if !writes.is_empty() {
                sqlx::query("UPDATE vaults SET next_cursor = $1 WHERE id = $2")
                    .bind(first + writes.len() as i64)
                    .bind(vault_pk)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(results)
        }.await)
    }

    /// Up to `limit` changes after `since`, in cursor order. `since = 0` (a full pull) is
    /// always answered.
    ///
    /// The horizon is read after the page: a purge commits its horizon and its deletions
    /// together, so if the page missed a purged tombstone, the horizon read afterwards
    /// shows it and the answer is [`Changes::BeforeHorizon`].
    pub async fn changes(&self, vault_pk: i64, since: u64, limit: u32) -> StoreResult<Changes> {
        let (rows, (next_cursor, purged_cursor, envelope_version)): (
            Vec<RecordColumns>,
            (i64, i64, i64),
        ) = on_read!(self, p => {
            let rows = sqlx::query_as(
                "SELECT record_id, version, deleted, ciphertext, change_cursor FROM records \
                 WHERE vault_pk = $1 AND change_cursor > $2 \
                 ORDER BY change_cursor LIMIT $3",
            )
            .bind(vault_pk)
            .bind(stored(since))
            .bind(i64::from(limit) + 1)
            .fetch_all(p)
            .await?;
            let marks = sqlx::query_as(
                "SELECT next_cursor, purged_cursor, envelope_version FROM vaults WHERE id = $1",
            )
            .bind(vault_pk)
            .fetch_one(p)
            .await?;
            (rows, marks)
        });
        // Cursor 0 is a full pull: a client with nothing cannot have missed a delete.
        if since > 0 && since < count(purged_cursor) {
            return Ok(Changes::BeforeHorizon);
        }
        if since >= count(next_cursor) {
            return Ok(Changes::AheadOfServer);
        }
        let more = rows.len() > limit as usize;
        let changes = rows
            .into_iter()
            .take(limit as usize)
            .map(record_from_columns)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Changes::Page {
            changes,
            more,
            envelope_version: count(envelope_version),
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

/// Rows per multi-row statement: 8 parameters each stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

/// A write that `decide` accepted.
struct Write<'a> {
    item: &'a PushItem,
    version: i64,
    cursor: i64,
}

/// The optimistic-concurrency rule, item by item, against the current rows: a write is
/// accepted when its `base_version` is the current version (0 = the record does not
/// exist); a retry of a stored write (same bytes, one version up) is answered as applied
/// without a new write; anything else is a conflict carrying the current copy. Accepted
/// writes get consecutive cursors from `first_cursor`.
fn decide<'a>(
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
        let result = if version == base {
            let cursor = first_cursor + writes.len() as i64;
            writes.push(Write {
                item,
                version: base + 1,
                cursor,
            });
            applied(item, base + 1, cursor)
        } else if let Some(stored) = row.filter(|r| {
            // Fresh nonces make identical ciphertext one version up a retry, never a
            // coincidence.
            r.1 == base + 1 && r.2 == item.deleted && r.3 == item.ciphertext.as_bytes()
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

fn applied(item: &PushItem, version: i64, cursor: i64) -> PushResult {
    PushResult::Applied {
        record_id: item.record_id,
        version: count(version),
        cursor: count(cursor),
    }
}
