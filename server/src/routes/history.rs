//! `GET /v1/vaults/{vault_id}/records/{record_id}/history` (a record's past versions) and
//! `GET /v1/vaults/{vault_id}/deleted` (deleted records that still have some), PROTOCOL.md
//! "History".

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use vaultsync_wire::{DeletedPage, ErrorBody, HistoryPage, MAX_VERSION, RecordId};

use super::AppState;
use super::extract::Authed;
use super::vault::{own_vault, page_limit};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::store::Kept;

#[derive(serde::Deserialize)]
struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

fn read_query(state: &AppState, query: &RawQuery) -> Result<(HistoryQuery, u32), ApiError> {
    let query: HistoryQuery = serde_urlencoded::from_str(query.0.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::invalid(format!("query: {e}")))?;
    let limit = page_limit(state, query.limit.as_deref())?;
    Ok((query, limit))
}

/// What history keeps now (`--history-versions`, `--history-retention`): versions past
/// those are hidden until the housekeeping task deletes them.
fn kept(state: &AppState) -> Kept {
    let retention = i64::try_from(state.limits.history_retention.as_millis()).unwrap_or(i64::MAX);
    Kept {
        versions: state.limits.history_versions,
        since: now_ms().saturating_sub(retention),
    }
}

fn parse_record_id(text: &str) -> Result<RecordId, ApiError> {
    RecordId::parse(text).map_err(|_| ApiError::invalid("not a record id"))
}

/// `GET /v1/vaults/{vault_id}/records/{record_id}/history?before=V&limit=N`: past versions
/// below `V`, newest first. Another account's vault answers like an unknown one (404); a
/// record with no past versions (or none kept) answers an empty page.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/records/{record_id}/history", tag = "vault",
    security(("bearer" = [])),
    params(("vault_id" = String, Path), ("record_id" = String, Path),
        ("before" = Option<u64>, Query, description = "only versions below this one (the last version of the previous page); default: all"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to the server's maximum page size (default: the maximum)")),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    authed: Authed,
    Path((vault_id, record_id)): Path<(String, String)>,
    query: RawQuery,
) -> Result<Json<HistoryPage>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    let record_id = parse_record_id(&record_id)?;
    let (query, limit) = read_query(&state, &query)?;
    let before = match query.before.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|v| (1..=MAX_VERSION).contains(v))
                .ok_or_else(|| ApiError::invalid(format!("before must be 1 to {MAX_VERSION}")))?,
        ),
    };
    let (versions, more) = state
        .db
        .history(vault_pk, &record_id, before, limit, kept(&state))
        .await?;
    Ok(Json(HistoryPage {
        record_id,
        versions,
        more,
    }))
}

/// `GET /v1/vaults/{vault_id}/deleted?after=R&limit=N`: deleted records that still have
/// past versions (restorable), in record id order after `R`.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/deleted", tag = "vault",
    security(("bearer" = [])),
    params(("vault_id" = String, Path),
        ("after" = Option<String>, Query, description = "only record ids after this one (the last of the previous page)"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to the server's maximum page size (default: the maximum)")),
    responses((status = 200, body = DeletedPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn deleted(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
    query: RawQuery,
) -> Result<Json<DeletedPage>, ApiError> {
    let vault_pk = own_vault(&state, authed, &vault_id).await?;
    let (query, limit) = read_query(&state, &query)?;
    let after = query.after.as_deref().map(parse_record_id).transpose()?;
    let (records, more) = state
        .db
        .deleted(vault_pk, after.as_ref(), limit, kept(&state))
        .await?;
    Ok(Json(DeletedPage { records, more }))
}
