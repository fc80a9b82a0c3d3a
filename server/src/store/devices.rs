//! The device registry and link requests (PROTOCOL.md, "Devices and linking"). Every
//! change to a link request writes a `key_exchanges` audit row in the same transaction;
//! audit rows hold a SHA-256 of the new device's public key, never key material.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vaultsync_wire::{LINK_LIFE_MS, VaultId};

use super::accounts::insert_token;
use super::{NewToken, StoreResult, TokenRow, count, id_from_column};
use crate::db::{Db, on_read, on_write};

/// A device as listed.
#[derive(Debug, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: i64,
    pub label: String,
    pub public_key: Option<Vec<u8>>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
}

/// A pending link request as listed.
#[derive(Debug, sqlx::FromRow)]
pub struct LinkRow {
    pub request_id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub label: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A new link request.
pub struct NewLink<'a> {
    pub account_id: i64,
    pub request_id: &'a [u8],
    pub public_key: &'a [u8],
    pub label: &'a str,
    pub secret_hash: [u8; 32],
}

/// What a claim finds.
pub enum Claim {
    /// Not approved yet, unknown, or the wrong secret (told apart from nothing).
    Pending,
    /// Denied by a device.
    Denied,
    /// Expired before it was approved, or before it was claimed.
    Expired,
    /// Already claimed.
    Spent,
    /// Approved: the payload, and the new device's token (its secret is the caller's).
    Approved {
        enc: Vec<u8>,
        payload: Vec<u8>,
        vault_id: VaultId,
        envelope_version: u64,
        token: TokenRow,
    },
}

/// An audit row, through the transaction `$tx`.
macro_rules! audit {
    ($tx:expr, $account_id:expr, $request_id:expr, $public_key:expr, $event:expr, $device:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO key_exchanges (account_id, request_id, key_digest, event, device_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($account_id)
        .bind($request_id)
        .bind(Sha256::digest($public_key).to_vec())
        .bind($event)
        .bind($device)
        .bind($now)
        .execute(&mut *$tx)
        .await
    };
}

impl Db {
    /// The account's devices not revoked that hold a live token (a device whose tokens all
    /// logged out is gone), newest first, with their tokens' last use.
    pub async fn list_devices(&self, account_id: i64, now: i64) -> StoreResult<Vec<DeviceRow>> {
        on_read!(self, p => {
            sqlx::query_as(
                "SELECT d.id, d.label, d.public_key, d.created_at, \
                 (SELECT MAX(k.last_used_at) FROM api_keys k WHERE k.device_id = d.id) \
                 AS last_seen_at FROM devices d \
                 WHERE d.account_id = $1 AND d.revoked_at IS NULL AND EXISTS (SELECT 1 \
                 FROM api_keys k WHERE k.device_id = d.id \
                 AND (k.expires_at IS NULL OR k.expires_at > $2)) ORDER BY d.id DESC",
            )
            .bind(account_id)
            .bind(now)
            .fetch_all(p)
            .await
        })
    }

    /// Revokes one of the account's devices and every token it holds, at once. Returns
    /// the tokens revoked, or `None` when the account has no such device.
    pub async fn revoke_device(
        &self,
        account_id: i64,
        device_id: i64,
        now: i64,
    ) -> StoreResult<Option<Vec<i64>>> {
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let done = sqlx::query(
                "UPDATE devices SET revoked_at = $3 WHERE id = $1 AND account_id = $2 \
                 AND revoked_at IS NULL",
            )
            .bind(device_id)
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let tokens: Vec<i64> = sqlx::query_scalar(
                "UPDATE api_keys SET expires_at = $2 WHERE device_id = $1 \
                 AND (expires_at IS NULL OR expires_at > $2) RETURNING id",
            )
            .bind(device_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(tokens))
        }.await)
    }

    /// Stores a link request for 15 minutes (a replayed request id changes nothing).
    pub async fn create_link(&self, new: NewLink<'_>, now: i64) -> StoreResult<i64> {
        let expires_at = now + LINK_LIFE_MS;
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let stored = sqlx::query(
                "INSERT INTO link_requests (request_id, account_id, public_key, label, \
                 secret_hash, created_at, expires_at, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') ON CONFLICT DO NOTHING",
            )
            .bind(new.request_id)
            .bind(new.account_id)
            .bind(new.public_key)
            .bind(new.label)
            .bind(&new.secret_hash[..])
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            if stored.rows_affected() == 1 {
                audit!(tx, new.account_id, new.request_id, new.public_key, "requested", None::<i64>, now)?;
            }
            tx.commit().await?;
            Ok(expires_at)
        }.await)
    }

    /// The account's pending, unexpired link requests, newest first.
    pub async fn pending_links(&self, account_id: i64, now: i64) -> StoreResult<Vec<LinkRow>> {
        on_read!(self, p => {
            sqlx::query_as(
                "SELECT request_id, public_key, label, created_at, expires_at FROM link_requests \
                 WHERE account_id = $1 AND state = 'pending' AND expires_at > $2 \
                 ORDER BY created_at DESC",
            )
            .bind(account_id)
            .bind(now)
            .fetch_all(p)
            .await
        })
    }

    /// Approves (with the sealed payload) or denies (`None`) one of the account's pending,
    /// unexpired requests. False when there is none such.
    pub async fn decide_link(
        &self,
        account_id: i64,
        request_id: &[u8],
        device_id: Option<i64>,
        answer: Option<(&[u8], &[u8])>,
        now: i64,
    ) -> StoreResult<bool> {
        let (state, enc, payload) = match answer {
            Some((enc, payload)) => ("approved", Some(enc), Some(payload)),
            None => ("denied", None, None),
        };
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let key: Option<Vec<u8>> = sqlx::query_scalar(
                "UPDATE link_requests SET state = $3, enc = $4, payload = $5, approved_by = $6 \
                 WHERE request_id = $1 AND account_id = $2 AND state = 'pending' \
                 AND expires_at > $7 RETURNING public_key",
            )
            .bind(request_id)
            .bind(account_id)
            .bind(state)
            .bind(enc)
            .bind(payload)
            .bind(device_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(key) = key else {
                tx.rollback().await?;
                return Ok(false);
            };
            audit!(tx, account_id, request_id, &key, state, device_id, now)?;
            tx.commit().await?;
            Ok(true)
        }.await)
    }

    /// The new device claims its request with its secret: an approved one is spent, and
    /// its device and token are created (`token` is what to store of the new token).
    pub async fn claim_link(
        &self,
        request_id: &[u8],
        secret_hash: &[u8; 32],
        token: &NewToken,
        now: i64,
    ) -> StoreResult<Claim> {
        type Row = (
            i64,
            Vec<u8>,
            Vec<u8>,
            String,
            i64,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            String,
        );
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let row: Option<Row> = sqlx::query_as(
                "SELECT account_id, public_key, secret_hash, state, expires_at, enc, payload, \
                 label FROM link_requests WHERE request_id = $1",
            )
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((account_id, key, stored_hash, state, expires_at, enc, payload, label)) = row
            else {
                tx.rollback().await?;
                return Ok(Claim::Pending);
            };
            // Constant time: the hashes of a secret the new device proves it holds.
            let matches: bool = stored_hash.as_slice().ct_eq(&secret_hash[..]).into();
            if !matches {
                tx.rollback().await?;
                return Ok(Claim::Pending);
            }
            let claim = match (state.as_str(), enc, payload) {
                ("denied", ..) => Claim::Denied,
                ("spent", ..) => Claim::Spent,
                ("expired", ..) => Claim::Expired,
                _ if expires_at <= now => {
                    sqlx::query("UPDATE link_requests SET state = 'expired' WHERE request_id = $1")
                        .bind(request_id)
                        .execute(&mut *tx)
                        .await?;
                    audit!(tx, account_id, request_id, &key, "expired", None::<i64>, now)?;
                    Claim::Expired
                }
                ("approved", Some(enc), Some(payload)) => {
                    let labelled = NewToken { label, ..token.clone() };
                    let row = insert_token!(tx, account_id, &labelled, Some(key.clone()), now)?;
                    sqlx::query(
                        "UPDATE link_requests SET state = 'spent', enc = NULL, payload = NULL \
                         WHERE request_id = $1",
                    )
                    .bind(request_id)
                    .execute(&mut *tx)
                    .await?;
                    audit!(tx, account_id, request_id, &key, "spent", None::<i64>, now)?;
                    let (vault_id, version): (Vec<u8>, i64) = sqlx::query_as(
                        "SELECT vault_id, envelope_version FROM vaults WHERE account_id = $1",
                    )
                    .bind(account_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    Claim::Approved {
                        enc,
                        payload,
                        vault_id: id_from_column(&vault_id, VaultId::from_slice)?,
                        envelope_version: count(version),
                        token: row,
                    }
                }
                _ => Claim::Pending,
            };
            tx.commit().await?;
            Ok(claim)
        }.await)
    }

    /// Deletes link requests that ended (expired, spent or denied) more than a day ago;
    /// the audit trail stays.
    pub async fn purge_links(&self, now: i64) -> StoreResult<u64> {
        on_write!(self, p => {
            sqlx::query("DELETE FROM link_requests WHERE expires_at <= $1")
                .bind(now - 24 * 60 * 60 * 1000)
                .execute(p)
                .await
                .map(|done| done.rows_affected())
        })
    }
}
