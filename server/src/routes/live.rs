//! The live channel's routes: a ticket, then the WebSocket it opens (`PROTOCOL.md`, "Live
//! updates"). The socket itself is [`crate::live::socket`].

use axum::Json;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State, WebSocketUpgrade};
use axum::response::Response;
use vaultsync_wire::{BearerToken, Blob, ErrorBody, ErrorCode, LiveTicket, TICKET_PREFIX};
use zeroize::Zeroizing;

use super::AppState;
use super::extract::Authed;
use crate::auth;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::live::socket::{self, Session};

/// How long a ticket opens a socket, in milliseconds.
const TICKET_LIFE_MS: i64 = 30_000;

/// Largest message a client may send on the socket: its requests are a few dozen bytes.
const MAX_CLIENT_MESSAGE: usize = 1024;

/// `POST /v1/events/ticket`: a single-use ticket for one live socket, valid 30 s.
#[utoipa::path(post, path = "/v1/events/ticket", tag = "live", security(("bearer" = [])),
    responses((status = 200, body = LiveTicket), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: too many tickets for this token this minute")))]
pub(super) async fn ticket(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<LiveTicket>, ApiError> {
    state.hub.spend_ticket(authed.token_id)?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(|_| ApiError::no_randomness())?;
    let ticket = BearerToken::new(format!(
        "{TICKET_PREFIX}{}",
        Blob(bytes.to_vec()).to_base64url()
    ));
    let expires_at = now_ms() + TICKET_LIFE_MS;
    state
        .db
        .create_ticket(
            &auth::token_hash(ticket.expose()),
            authed.token_id,
            expires_at,
        )
        .await?;
    Ok(Json(LiveTicket { ticket, expires_at }))
}

/// Query of the socket route: the ticket only.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    ticket: String,
}

/// `GET /v1/events?ticket=…`: the live socket (WebSocket upgrade). The ticket is spent
/// whatever happens next.
#[utoipa::path(get, path = "/v1/events", tag = "live",
    params(("ticket" = String, Query, description = "a ticket from POST /v1/events/ticket, unused and less than 30 s old")),
    responses((status = 101, description = "the live socket: JSON text frames (LiveRequest from the client, LiveEvent from the server); heartbeats both ways every 20 s; closed after 60 s of silence. Close codes: 4400 not a request, 4401 token revoked or expired, 4404 not the account's vault, 4408 silent too long, 4429 too many subscriptions, 1001 shutting down, 1011 storage failed (PROTOCOL.md, Live updates)"),
        (status = 400, body = ErrorBody, description = "not a WebSocket upgrade, or no ticket"),
        (status = 401, body = ErrorBody, description = "INVALID_TICKET: unknown, used or expired, or its token was revoked"),
        (status = 429, body = ErrorBody, description = "TOO_MANY_SOCKETS: for this token, or for this server")))]
pub(super) async fn events(
    State(state): State<AppState>,
    query: RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::invalid("open this route as a WebSocket (GET with Upgrade: websocket)")
    })?;
    let query: EventsQuery = serde_urlencoded::from_str(query.0.as_deref().unwrap_or(""))
        .map_err(|_| ApiError::invalid("query: give ticket=… and nothing else"))?;
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidTicket,
            "the ticket is unknown, used or expired; ask for another",
        )
    };
    if !query.ticket.starts_with(TICKET_PREFIX) {
        return Err(invalid());
    }
    let owner = state
        .db
        .take_ticket(&auth::token_hash(&query.ticket), now_ms())
        .await?
        .ok_or_else(invalid)?;
    let slot = state.hub.open_socket(owner.token_id)?;
    let limits = state.hub.limits();
    let session = Session {
        db: state.db.clone(),
        hub: state.hub.clone(),
        account_id: owner.account_id,
        token_id: owner.token_id,
        heartbeat: limits.heartbeat,
        silence: limits.silence,
        slot,
    };
    Ok(upgrade
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |ws| socket::run(ws, session)))
}
