//! Accounts and tokens.

use vaultsync_wire::VaultId;

use super::{
    LoginRow, NewAccount, NewToken, RegisterError, StoreResult, TokenAuth, TokenRow, count,
    id_from_column, kdf_column, kdf_from_columns,
};
use crate::db::{Db, on_read, on_write};

/// Inserts a device and its first token through the transaction `$tx` (either backend):
/// every token belongs to a device. `$public_key`: the device's X25519 key, if it has one.
macro_rules! insert_token {
    ($tx:expr, $account_id:expr, $token:expr, $public_key:expr, $now:expr) => {
        async {
            let device_id: i64 = sqlx::query_scalar(
                "INSERT INTO devices (account_id, label, public_key, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind($account_id)
            .bind(&$token.label)
            .bind($public_key)
            .bind($now)
            .fetch_one(&mut *$tx)
            .await?;
            sqlx::query_as::<_, TokenRow>(
                "INSERT INTO api_keys (key_hash, account_id, key_indicator, label, created_at, \
                 expires_at, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING id, key_indicator, label, created_at, expires_at, last_used_at",
            )
            .bind(&$token.hash[..])
            .bind($account_id)
            .bind(&$token.indicator)
            .bind(&$token.label)
            .bind($now)
            .bind($token.expires_at)
            .bind(device_id)
            .fetch_one(&mut *$tx)
            .await
        }
        .await
    };
}
pub(super) use insert_token;

impl Db {
    /// Creates an account, its vault (envelope version 1) and its first token, atomically.
    pub async fn register(&self, new: NewAccount<'_>, now: i64) -> Result<TokenRow, RegisterError> {
        let result: StoreResult<TokenRow> = on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let account_id: i64 = sqlx::query_scalar(
                "INSERT INTO accounts (username, auth_verifier_hash, recovery_verifier_hash, \
                 created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(new.username)
            .bind(&new.verifier_hash[..])
            .bind(&new.recovery_hash[..])
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
            let token = insert_token!(tx, account_id, &new.token, None::<Vec<u8>>, now)?;
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
        type Row = (i64, Vec<u8>, Option<Vec<u8>>, String, Vec<u8>, Vec<u8>, i64);
        let row: Option<Row> = on_read!(self, p => {
            sqlx::query_as(
                "SELECT a.id, a.auth_verifier_hash, a.recovery_verifier_hash, v.kdf_params, \
                 v.salt, v.vault_id, v.envelope_version \
                 FROM accounts a JOIN vaults v ON v.account_id = a.id WHERE a.username = $1",
            )
            .bind(username)
            .fetch_optional(p)
            .await
        })?;
        row.map(
            |(account_id, verifier_hash, recovery_hash, params, salt, vault_id, version)| {
                Ok(LoginRow {
                    account_id,
                    verifier_hash,
                    recovery_hash,
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
        on_write!(self, p => async {
            let mut tx = p.begin().await?;
            let row = insert_token!(tx, account_id, token, None::<Vec<u8>>, now)?;
            tx.commit().await?;
            Ok(row)
        }.await)
    }

    /// The token with this hash, live or not (the caller checks expiry).
    pub async fn token_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<TokenAuth>> {
        on_read!(self, p => {
            sqlx::query_as(
                "SELECT k.id, k.account_id, k.expires_at, k.last_used_at, k.device_id, \
                 d.revoked_at AS device_revoked_at \
                 FROM api_keys k LEFT JOIN devices d ON d.id = k.device_id WHERE k.key_hash = $1",
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
}
