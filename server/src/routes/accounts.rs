//! Accounts and tokens: register, prelogin, login, recovery login, list, revoke, logout.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vaultsync_wire::{
    ErrorBody, ErrorCode, IssuedToken, LoginRequest, PreloginRequest, PreloginResponse,
    RecoverRequest, RegisterRequest, Session, TokenInfo, TokenList,
};
use zeroize::Zeroizing;

use super::extract::{Authed, Body, ClientAddr};
use super::{AppState, check_envelope};
use crate::auth;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::store::{self, RegisterError};

/// `POST /v1/accounts`: create an account with its vault and envelope; returns a device
/// token.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, body = Session),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "USERNAME_TAKEN or VAULT_EXISTS"),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    state.rate.check_address(addr.0)?;
    let username = auth::normalize_username(&request.username)?;
    let verifier_hash = auth::auth_verifier(&request.auth_key)?;
    let recovery_hash = auth::recovery_verifier(&request.recovery_key)?;
    request.kdf.check_bounds().map_err(ApiError::invalid)?;
    check_envelope(&state, request.envelope.len())?;
    let label = auth::token_label(request.token_label)?;
    let issued = auth::issue_token(label, None)?;
    let now = now_ms();
    let row = state
        .db
        .register(
            store::NewAccount {
                username: &username,
                verifier_hash,
                recovery_hash,
                vault_id: request.vault_id,
                envelope: request.envelope.as_bytes(),
                kdf: &request.kdf,
                token: issued.stored,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            RegisterError::UsernameTaken => {
                ApiError::new(ErrorCode::UsernameTaken, "this username is taken")
            }
            RegisterError::VaultExists => {
                ApiError::new(ErrorCode::VaultExists, "a vault with this id exists")
            }
            RegisterError::Storage(e) => ApiError::storage(&e),
        })?;
    let token = issued_token(issued.secret, row);
    Ok((
        StatusCode::CREATED,
        Json(Session {
            vault_id: request.vault_id,
            envelope_version: 1,
            token,
        }),
    ))
}

/// `POST /v1/prelogin`: the KDF parameters for a username. Unknown usernames get decoy
/// parameters of the same shape, through the same code path.
#[utoipa::path(post, path = "/v1/prelogin", tag = "accounts", request_body = PreloginRequest,
    responses((status = 200, body = PreloginResponse), (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(super) async fn prelogin(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<PreloginRequest>,
) -> Result<Json<PreloginResponse>, ApiError> {
    state.rate.check_address(addr.0)?;
    let username = auth::normalize_username(&request.username)?;
    let row = state.db.login_row(&username).await?;
    // Computed either way, so known and unknown usernames cost the same.
    let decoy = auth::decoy_kdf(&state.prelogin_secret, &username);
    Ok(Json(PreloginResponse {
        kdf: row.map_or(decoy, |r| r.kdf),
    }))
}

/// `POST /v1/login`: exchange the auth key for a new device token.
#[utoipa::path(post, path = "/v1/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = Session),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "INVALID_CREDENTIALS: unknown user or wrong auth key, not told apart"),
        (status = 429, body = ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    let presented = auth::auth_verifier(&request.auth_key)?;
    let attempt = Attempt {
        username: &request.username,
        token_label: request.token_label,
        token_ttl_secs: request.token_ttl_secs,
    };
    sign_in(
        &state,
        addr,
        attempt,
        |row| Some(&row.verifier_hash[..]),
        &presented,
    )
    .await
}

/// `POST /v1/recover`: exchange the recovery auth key (derived from the recovery code) for
/// a new device token, when the password is forgotten.
#[utoipa::path(post, path = "/v1/recover", tag = "accounts", request_body = RecoverRequest,
    responses((status = 200, body = Session),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "INVALID_CREDENTIALS: unknown user or wrong recovery key, not told apart"),
        (status = 429, body = ErrorBody)))]
pub(super) async fn recover(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<RecoverRequest>,
) -> Result<Json<Session>, ApiError> {
    let presented = auth::recovery_verifier(&request.recovery_key)?;
    let attempt = Attempt {
        username: &request.username,
        token_label: request.token_label,
        token_ttl_secs: request.token_ttl_secs,
    };
    sign_in(
        &state,
        addr,
        attempt,
        |row| row.recovery_hash.as_deref(),
        &presented,
    )
    .await
}

/// What login and recovery login have in common.
struct Attempt<'a> {
    username: &'a str,
    token_label: Option<String>,
    token_ttl_secs: Option<u64>,
}

/// Rate limits, then a constant-time comparison of the presented verifier with the stored
/// one that `stored` picks; a new token on a match. An unknown username (or an account
/// without that verifier) costs one comparison too and answers alike.
async fn sign_in(
    state: &AppState,
    addr: ClientAddr,
    attempt: Attempt<'_>,
    stored: impl Fn(&store::LoginRow) -> Option<&[u8]>,
    presented: &[u8; 32],
) -> Result<Json<Session>, ApiError> {
    state.rate.check_address(addr.0)?;
    let username = auth::normalize_username(attempt.username)?;
    state.rate.check_account(&username)?;
    let label = auth::token_label(attempt.token_label)?;
    let now = now_ms();
    let expires_at = match attempt.token_ttl_secs {
        None => None,
        Some(secs) if (1..=MAX_TOKEN_TTL_SECS).contains(&secs) => {
            Some(now + i64::try_from(secs).unwrap_or(0) * 1000)
        }
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "token_ttl_secs must be 1 to {MAX_TOKEN_TTL_SECS}"
            )));
        }
    };
    let row = state.db.login_row(&username).await?;
    // An unknown username costs one comparison too, against a verifier nobody has.
    let verifier = row.as_ref().and_then(&stored).unwrap_or(&[0u8; 32][..]);
    let matches = auth::verifier_matches(verifier, presented);
    let Some(row) = row.filter(|r| matches && stored(r).is_some()) else {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "unknown username or wrong credentials",
        ));
    };
    let issued = auth::issue_token(label, expires_at)?;
    let token_row = state
        .db
        .create_token(row.account_id, &issued.stored, now)
        .await?;
    Ok(Json(Session {
        vault_id: row.vault_id,
        envelope_version: row.envelope_version,
        token: issued_token(issued.secret, token_row),
    }))
}

/// Tokens asked for a lifetime may live at most ten years.
const MAX_TOKEN_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// `GET /v1/tokens`: the account's live tokens.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<TokenList>, ApiError> {
    let rows = state.db.list_tokens(authed.account_id, now_ms()).await?;
    Ok(Json(TokenList {
        tokens: rows
            .into_iter()
            .map(|row| token_info(row, Some(authed.token_id)))
            .collect(),
    }))
}

/// `DELETE /v1/tokens/current`: log out (revoke the token of this request).
#[utoipa::path(delete, path = "/v1/tokens/current", tag = "tokens", security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .revoke_token(authed.account_id, authed.token_id, now_ms())
        .await?;
    revoked(&state, authed.token_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/tokens/{token_id}`: revoke one of the account's tokens, at once.
#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(("token_id" = u64, Path, description = "the id from the token list")),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such live token on this account")))]
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    authed: Authed,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token_id: i64 = token_id.parse().map_err(|_| ApiError::not_found())?;
    if state
        .db
        .revoke_token(authed.account_id, token_id, now_ms())
        .await?
    {
        revoked(&state, token_id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// A token was revoked: its live sockets close, here at once and on other replicas
/// through the fan-out (or at their next re-check if the notification is lost).
pub(super) async fn revoked(state: &AppState, token_id: i64) {
    state.hub.revoke(token_id);
    if let Err(error) = state.db.notify(&format!("r:{token_id}")).await {
        tracing::warn!(%error, "could not tell other replicas of a revocation; their re-check will");
    }
}

pub(super) fn token_info(row: store::TokenRow, current: Option<i64>) -> TokenInfo {
    TokenInfo {
        id: u64::try_from(row.id).unwrap_or(0),
        current: current == Some(row.id),
        indicator: row.key_indicator,
        label: row.label,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
    }
}

pub(super) fn issued_token(secret: Zeroizing<String>, row: store::TokenRow) -> IssuedToken {
    IssuedToken {
        secret: vaultsync_wire::BearerToken::new(secret.to_string()),
        info: token_info(row, None),
    }
}
