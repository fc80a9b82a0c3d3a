//! The vault: envelope get/put, batch push, changes since a cursor.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use vaultsync_wire::{
    ChangesResponse, EnvelopeDoc, ErrorBody, ErrorCode, MAX_HEAD_BYTES, MAX_VERSION,
    MAX_WAIT_SECONDS, PushRequest, PushResponse, PutEnvelopeRequest, PutEnvelopeResponse, VaultId,
};

use super::extract::{Authed, Body};
use super::{AppState, check_envelope, check_version};
use crate::auth;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::store::{self, Changes, PageBounds, Push, PushWrite, PutEnvelope};

/// `GET /v1/vaults/{vault_id}/envelope`: the envelope, its version and KDF parameters.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/envelope", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path)),
    responses((status = 200, body = EnvelopeDoc), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn get_envelope(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
) -> Result<Json<EnvelopeDoc>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    Ok(Json(state.db.envelope(vault_pk).await?))
}

/// `PUT /v1/vaults/{vault_id}/envelope`: replace the envelope if `base_version` is current.
#[utoipa::path(put, path = "/v1/vaults/{vault_id}/envelope", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path)), request_body = PutEnvelopeRequest,
    responses((status = 200, body = PutEnvelopeResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = vaultsync_wire::EnvelopeConflict, description = "CONFLICT with the current envelope"),
        (status = 413, body = ErrorBody)))]
pub(super) async fn put_envelope(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
    Body(request): Body<PutEnvelopeRequest>,
) -> Result<Json<PutEnvelopeResponse>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    check_version("base_version", request.base_version, MAX_VERSION - 1)?;
    request.kdf.check_bounds().map_err(ApiError::invalid)?;
    check_envelope(&state, request.envelope.len())?;
    let verifier = request
        .auth_key
        .as_ref()
        .map(auth::auth_verifier)
        .transpose()?;
    match state
        .db
        .put_envelope(
            authed.account_id,
            vault_pk,
            store::EnvelopeWrite {
                base_version: request.base_version,
                envelope: request.envelope.as_bytes(),
                kdf: &request.kdf,
                verifier_hash: verifier,
            },
            now_ms(),
        )
        .await?
    {
        PutEnvelope::Stored(version) => Ok(Json(PutEnvelopeResponse { version })),
        PutEnvelope::Conflict(current) => Err(ApiError::envelope_conflict(current)),
    }
}

/// `POST /v1/vaults/{vault_id}/push`: a batch of writes in one transaction.
#[utoipa::path(post, path = "/v1/vaults/{vault_id}/push", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path)), request_body = PushRequest,
    responses((status = 200, body = PushResponse, description = "one result per item: all applied, or (when one conflicted) nothing written"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = vaultsync_wire::EnvelopeConflict, description = "ENVELOPE_CHANGED with the current envelope: nothing was written"),
        (status = 409, body = vaultsync_wire::HeadRefusal, description = "HEAD_STALE with the current head: nothing was written"),
        (status = 413, body = ErrorBody)))]
pub(super) async fn push(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
    Body(request): Body<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    let limits = &state.limits;
    if request.items.len() > limits.max_push_items {
        return Err(ApiError::new(
            ErrorCode::TooManyItems,
            format!(
                "at most {} items per push; split the batch",
                limits.max_push_items
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(request.items.len());
    for (i, item) in request.items.iter().enumerate() {
        check_version(
            &format!("items[{i}].base_version"),
            item.base_version,
            MAX_VERSION - 1,
        )?;
        if item.ciphertext.len() > limits.max_record_bytes {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "items[{i}].ciphertext is larger than {} bytes",
                    limits.max_record_bytes
                ),
            ));
        }
        if item.ciphertext.is_empty() {
            return Err(ApiError::invalid(format!("items[{i}].ciphertext is empty")));
        }
        if let Some(version) = item.version {
            check_version(&format!("items[{i}].version"), version, MAX_VERSION)?;
            if version <= item.base_version {
                return Err(ApiError::invalid(format!(
                    "items[{i}].version must be above its base_version"
                )));
            }
        }
        if !seen.insert(item.record_id) {
            return Err(ApiError::new(
                ErrorCode::DuplicateRecord,
                format!("items[{i}] repeats a record of this push"),
            ));
        }
    }
    check_version("envelope_version", request.envelope_version, MAX_VERSION)?;
    check_version("base_seq", request.base_seq, MAX_VERSION - 1)?;
    if request.head.is_empty() || request.head.len() > MAX_HEAD_BYTES {
        return Err(ApiError::invalid(format!(
            "head must be 1 to {MAX_HEAD_BYTES} bytes"
        )));
    }
    let write = PushWrite {
        envelope_version: request.envelope_version,
        base_seq: request.base_seq,
        head: request.head.as_bytes(),
        items: &request.items,
    };
    match state.db.push(vault_pk, write, now_ms()).await? {
        Push::Done(results, cursor) => {
            if let Some(cursor) = cursor {
                // After the commit; never waits (other replicas got the NOTIFY in it).
                state.hub.publish(vault_pk, cursor);
            }
            Ok(Json(PushResponse { results }))
        }
        Push::EnvelopeChanged(current) => Err(ApiError::envelope_changed(current)),
        Push::HeadStale(current) => Err(ApiError::head_stale(current)),
    }
}

/// Query of `changes`: both optional; anything else is refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<String>,
    full: Option<String>,
    wait: Option<String>,
}

/// `GET /v1/vaults/{vault_id}/changes?since=C&limit=N`: changes after cursor `C`.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/changes", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path),
        ("since" = Option<u64>, Query, description = "the cursor of the last change seen; 0 (default) for everything"),
        ("full" = Option<u8>, Query, description = "1 on the later pages of a full pull (one that started at 0): a cursor below the purge horizon is then answered"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to the server's maximum (default: the maximum)"),
        ("wait" = Option<u32>, Query, description = "long-poll: when there is nothing past `since`, answer as soon as there is, or with the empty page after this many seconds (0 to 25; default 0)")),
    responses((status = 200, body = ChangesResponse),
        (status = 400, body = ErrorBody, description = "INVALID_CURSOR or INVALID_FIELD"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "RESYNC_REQUIRED: pull again from 0"),
        (status = 410, body = vaultsync_wire::HeadRefusal, description = "SERVER_BEHIND: the cursor is ahead of the server; the current head")))]
pub(super) async fn changes(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
    query: RawQuery,
) -> Result<Json<ChangesResponse>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    let query: ChangesQuery = serde_urlencoded::from_str(query.0.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::invalid(format!("query: {e}")))?;
    let since = match query.since.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|c| *c <= MAX_VERSION)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidCursor,
                    format!("since must be a cursor from 0 to {MAX_VERSION}"),
                )
            })?,
    };
    let limit = page_limit(&state, query.limit.as_deref())?;
    let full = match query.full.as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(ApiError::invalid("full must be 0 or 1")),
    };
    let wait = match query.wait.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_SECONDS)
            .ok_or_else(|| ApiError::invalid(format!("wait must be 0 to {MAX_WAIT_SECONDS}")))?,
    };
    let bounds = PageBounds {
        limit,
        bytes: state.limits.max_page_bytes,
    };
    // Watch before reading, so a push that commits in between wakes the wait.
    let mut latest = (wait > 0).then(|| state.hub.watch(vault_pk));
    let mut answer = state.db.changes(vault_pk, since, bounds, full).await?;
    if let (Some(latest), Changes::Page { changes, .. }) = (latest.as_mut(), &answer) {
        if changes.is_empty() {
            let deadline = std::time::Duration::from_secs(wait);
            let woke = tokio::select! {
                waited = tokio::time::timeout(deadline, latest.wait_for(|l| l.cursor > since)) => {
                    waited.is_ok_and(|changed| changed.is_ok())
                }
                () = state.hub.revoked(authed.token_id) => return Err(ApiError::new(
                    ErrorCode::InvalidToken,
                    "the token was revoked while waiting; log in again",
                )),
            };
            if woke {
                answer = state.db.changes(vault_pk, since, bounds, full).await?;
            }
        }
    }
    match answer {
        Changes::Page {
            changes,
            cursor,
            more,
            envelope_version,
            head,
        } => Ok(Json(ChangesResponse {
            changes,
            cursor,
            more,
            envelope_version,
            head,
        })),
        Changes::BeforeHorizon => Err(ApiError::new(
            ErrorCode::ResyncRequired,
            "deleted records older than this cursor were purged; pull everything from cursor 0",
        )),
        Changes::AheadOfServer(head) => Err(ApiError::server_behind(head)),
    }
}

/// A page size from a query's `limit`: 1 to `--max-page-size`, the maximum by default.
pub(super) fn page_limit(state: &AppState, limit: Option<&str>) -> Result<u32, ApiError> {
    let max = state.limits.max_page_size;
    match limit {
        None => Ok(max),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {max}"))),
    }
}

/// The vault's storage key if `vault_id` is the caller's; 404 otherwise, exactly as for a
/// vault that does not exist.
pub(super) async fn own_vault(
    state: &AppState,
    authed: Authed,
    vault_id: &str,
) -> Result<i64, ApiError> {
    let vault_id = VaultId::parse(vault_id).map_err(|_| ApiError::not_found())?;
    state
        .db
        .vault_pk(authed.account_id, &vault_id)
        .await?
        .ok_or_else(ApiError::not_found)
}
