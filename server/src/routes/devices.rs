//! Devices and linking: the account's devices (list, revoke), and link requests (a new
//! device asks, a device approves or denies, the new device claims). PROTOCOL.md,
//! "Devices and linking".

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vaultsync_wire::{
    Blob, DeviceInfo, DeviceList, ErrorBody, LINK_LIFE_MS, LinkAnswer, LinkApproval, LinkClaim,
    LinkList, LinkPending, LinkRequest, PendingLink, Session,
};

use super::AppState;
use super::accounts::{issued_token, revoked};
use super::extract::{Authed, Body, ClientAddr};
use crate::auth;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::store::{Claim, NewLink};

/// The largest sealed grant accepted.
const MAX_PAYLOAD: usize = 4096;

fn exact<'a>(blob: &'a Blob, len: usize, field: &str) -> Result<&'a [u8], ApiError> {
    if blob.len() != len {
        return Err(ApiError::invalid(format!("{field} must be {len} bytes")));
    }
    Ok(blob.as_bytes())
}

/// A request id from a path: 16 bytes of base64url.
fn request_id(text: &str) -> Option<Vec<u8>> {
    Blob::from_base64url(text)
        .filter(|b| b.len() == 16)
        .map(|b| b.0)
}

/// `POST /v1/link-requests`: a new device asks to join an account. The same answer for
/// every username (no account enumeration); rate-limited like login.
#[utoipa::path(post, path = "/v1/link-requests", tag = "devices", request_body = LinkRequest,
    responses((status = 202, body = LinkPending), (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(super) async fn request(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<LinkRequest>,
) -> Result<(StatusCode, Json<LinkPending>), ApiError> {
    state.rate.check_address(addr.0)?;
    let username = auth::normalize_username(&request.username)?;
    state.rate.check_account(&username)?;
    let request_id = exact(&request.request_id, 16, "request_id")?;
    let public_key = exact(&request.public_key, 32, "public_key")?;
    if request.secret.len() != 32 {
        return Err(ApiError::invalid("secret must be 32 bytes"));
    }
    let label = auth::token_label(Some(request.label))?;
    let now = now_ms();
    let mut expires_at = now + LINK_LIFE_MS;
    if let Some(row) = state.db.login_row(&username).await? {
        let new = NewLink {
            account_id: row.account_id,
            request_id,
            public_key,
            label: &label,
            secret_hash: auth::secret_hash(request.secret.expose()),
        };
        expires_at = state.db.create_link(new, now).await?;
        // The account's unlocked devices learn of it at once through the live channel,
        // on this replica and (PostgreSQL) on the others.
        if let Some(vault_pk) = state.db.vault_pk(row.account_id, &row.vault_id).await? {
            state.hub.publish_link(vault_pk);
            if let Err(error) = state.db.notify(&format!("l:{vault_pk}")).await {
                tracing::warn!(%error, "a link request's live notification was not sent");
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(LinkPending { expires_at })))
}

/// `GET /v1/link-requests`: the account's pending requests.
#[utoipa::path(get, path = "/v1/link-requests", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = LinkList), (status = 401, body = ErrorBody)))]
pub(super) async fn pending(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<LinkList>, ApiError> {
    let rows = state.db.pending_links(authed.account_id, now_ms()).await?;
    let requests = rows
        .into_iter()
        .map(|r| PendingLink {
            request_id: Blob(r.request_id),
            public_key: Blob(r.public_key),
            label: r.label,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
        .collect();
    Ok(Json(LinkList { requests }))
}

/// `POST /v1/link-requests/{id}/approve`: the grant sealed to the new device's key.
#[utoipa::path(post, path = "/v1/link-requests/{request_id}/approve", tag = "devices",
    security(("bearer" = [])), params(("request_id" = String, Path)), request_body = LinkApproval,
    responses((status = 204, description = "approved"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such pending, unexpired request on this account")))]
pub(super) async fn approve(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    Body(approval): Body<LinkApproval>,
) -> Result<StatusCode, ApiError> {
    let id = request_id(&id).ok_or_else(ApiError::not_found)?;
    let enc = exact(&approval.enc, 32, "enc")?;
    if approval.payload.is_empty() || approval.payload.len() > MAX_PAYLOAD {
        return Err(ApiError::invalid(format!(
            "payload must be 1 to {MAX_PAYLOAD} bytes"
        )));
    }
    let answer = Some((enc, approval.payload.as_bytes()));
    decided(&state, authed, &id, answer).await
}

/// `POST /v1/link-requests/{id}/deny`.
#[utoipa::path(post, path = "/v1/link-requests/{request_id}/deny", tag = "devices",
    security(("bearer" = [])), params(("request_id" = String, Path)),
    responses((status = 204, description = "denied"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn deny(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = request_id(&id).ok_or_else(ApiError::not_found)?;
    decided(&state, authed, &id, None).await
}

async fn decided(
    state: &AppState,
    authed: Authed,
    id: &[u8],
    answer: Option<(&[u8], &[u8])>,
) -> Result<StatusCode, ApiError> {
    let db = &state.db;
    if db
        .decide_link(authed.account_id, id, authed.device_id, answer, now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// `POST /v1/link-requests/{id}/claim`: the new device fetches the answer with its
/// secret; an approved request is spent and the new device's token issued.
#[utoipa::path(post, path = "/v1/link-requests/{request_id}/claim", tag = "devices",
    params(("request_id" = String, Path)), request_body = LinkClaim,
    responses((status = 200, body = LinkAnswer), (status = 400, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(super) async fn claim(
    State(state): State<AppState>,
    addr: ClientAddr,
    Path(id): Path<String>,
    Body(claim): Body<LinkClaim>,
) -> Result<Json<LinkAnswer>, ApiError> {
    state.rate.check_address(addr.0)?;
    let id = request_id(&id)
        .ok_or_else(|| ApiError::invalid("the request id is 16 bytes of base64url"))?;
    let issued = auth::issue_token("device".into(), None)?;
    let hash = auth::secret_hash(claim.secret.expose());
    let answer = |state: &str| LinkAnswer {
        state: state.into(),
        enc: None,
        payload: None,
        session: None,
    };
    Ok(Json(
        match state
            .db
            .claim_link(&id, &hash, &issued.stored, now_ms())
            .await?
        {
            Claim::Pending => answer("pending"),
            Claim::Denied => answer("denied"),
            Claim::Expired => answer("expired"),
            Claim::Spent => answer("spent"),
            Claim::Approved {
                enc,
                payload,
                vault_id,
                envelope_version,
                token,
            } => LinkAnswer {
                state: "approved".into(),
                enc: Some(Blob(enc)),
                payload: Some(Blob(payload)),
                session: Some(Session {
                    vault_id,
                    envelope_version,
                    token: issued_token(issued.secret, token),
                }),
            },
        },
    ))
}

/// `GET /v1/devices`: the account's devices.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<DeviceList>, ApiError> {
    let devices = state
        .db
        .list_devices(authed.account_id, now_ms())
        .await?
        .into_iter()
        .map(|d| DeviceInfo {
            id: u64::try_from(d.id).unwrap_or(0),
            current: Some(d.id) == authed.device_id,
            label: d.label,
            public_key: d.public_key.map(Blob),
            created_at: d.created_at,
            last_seen_at: d.last_seen_at,
        })
        .collect();
    Ok(Json(DeviceList { devices }))
}

/// `DELETE /v1/devices/{id}`: revokes a device: its tokens stop working at once, its live
/// sockets close, and when it comes back it is told `DEVICE_REVOKED`.
#[utoipa::path(delete, path = "/v1/devices/{device_id}", tag = "devices", security(("bearer" = [])),
    params(("device_id" = u64, Path)),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such device on this account")))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    authed: Authed,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let device_id: i64 = device_id.parse().map_err(|_| ApiError::not_found())?;
    let tokens = state
        .db
        .revoke_device(authed.account_id, device_id, now_ms())
        .await?
        .ok_or_else(ApiError::not_found)?;
    for token in tokens {
        revoked(&state, token).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
