//! HTTP routes under `/v1`. Routes parse, check limits and authorize; the `store` module
//! owns all SQL. Every route is described in `PROTOCOL.md` and in the OpenAPI document
//! served at `/v1/openapi.json` (generated from the handlers' annotations).
//!
//! - this module: the router, shared state, the OpenAPI document, health, request ids,
//!   logging of internal causes, and the checks several routes share;
//! - [`extract`]: request extractors (bearer token, client address, strict JSON body);
//! - [`strict`]: reading structs from JSON objects only;
//! - [`accounts`]: register, prelogin, login, recovery login and tokens;
//! - [`vault`]: the envelope, push and changes (with its long-poll `wait`);
//! - [`live`]: the live ticket and socket;
//! - [`devices`]: the device registry and link requests.

mod accounts;
mod devices;
pub mod extract;
mod history;
mod live;
mod strict;
mod vault;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use vaultsync_wire::{ErrorBody, ErrorCode, Health};
use zeroize::Zeroizing;

use crate::auth::RateLimits;
use crate::config::{Limits, StaticDir};
use crate::db::Db;
use crate::error::{ApiError, Cause};

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    /// The storage layer.
    pub db: Db,
    /// Configured limits.
    pub limits: Arc<Limits>,
    /// Login rate limits.
    pub rate: RateLimits,
    /// Key of the prelogin decoy salts (shared by all replicas through the database).
    pub prelogin_secret: Arc<Zeroizing<Vec<u8>>>,
    /// Take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Static folders served beside the API.
    pub statics: Arc<Vec<StaticDir>>,
    /// The live channel of this process.
    pub hub: crate::live::Hub,
}

/// The header that carries a request's id.
const REQUEST_ID: &str = "x-request-id";
/// The longest request id a client may choose.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The whole API as a router, so tests can drive it without a socket.
///
/// Every request gets an `x-request-id` that is echoed in the answer and logged with the
/// method, path (never the query, headers or body: no tokens, auth keys or ciphertext
/// reach the logs), status and latency. A client's own id is kept only when it is 1 to 64
/// characters of `A-Z a-z 0-9 . _ -`; anything else (too long, spaces, `=`, control
/// characters: what could forge log fields) is replaced by a fresh UUID.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let body_limit = state.limits.max_body_bytes;
    let statics = state.statics.clone();
    let api = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/accounts", post(accounts::register))
        .route("/v1/prelogin", post(accounts::prelogin))
        .route("/v1/login", post(accounts::login))
        .route("/v1/recover", post(accounts::recover))
        .route("/v1/tokens", get(accounts::list_tokens))
        .route("/v1/tokens/current", delete(accounts::logout))
        .route("/v1/tokens/{token_id}", delete(accounts::revoke_token))
        .route(
            "/v1/vaults/{vault_id}/envelope",
            get(vault::get_envelope).put(vault::put_envelope),
        )
        .route("/v1/vaults/{vault_id}/push", post(vault::push))
        .route("/v1/vaults/{vault_id}/changes", get(vault::changes))
        .route(
            "/v1/vaults/{vault_id}/records/{record_id}/history",
            get(history::history),
        )
        .route("/v1/vaults/{vault_id}/deleted", get(history::deleted))
        .route("/v1/events/ticket", post(live::ticket))
        .route(
            "/v1/link-requests",
            post(devices::request).get(devices::pending),
        )
        .route(
            "/v1/link-requests/{request_id}/approve",
            post(devices::approve),
        )
        .route("/v1/link-requests/{request_id}/deny", post(devices::deny))
        .route("/v1/link-requests/{request_id}/claim", post(devices::claim))
        .route("/v1/devices", get(devices::list))
        .route("/v1/devices/{device_id}", delete(devices::revoke))
        .route("/v1/events", get(live::events))
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    with_statics(api, &statics)
        .layer(middleware::map_response(log_cause))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        id = %id,
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(middleware::from_fn(plain_request_id))
}

/// Drops a client's `x-request-id` unless it is a short plain id (see [`app`]), so the
/// server makes its own.
async fn plain_request_id(mut request: Request, next: Next) -> Response {
    let plain = request
        .headers()
        .get(REQUEST_ID)
        .map(HeaderValue::as_bytes)
        .is_some_and(|id| {
            (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if !plain {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

/// Logs the internal cause of an error answer (inside the request's span, so with its
/// id); the cause is never sent.
async fn log_cause(response: Response) -> Response {
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        tracing::error!(status = response.status().as_u16(), %cause, "request failed");
    }
    response
}

/// Adds the static folders; anything else is a JSON 404.
fn with_statics(mut router: Router, statics: &[StaticDir]) -> Router {
    use axum::handler::HandlerWithoutStateExt;
    use tower_http::services::ServeDir;
    let not_found = || async { ApiError::not_found() };
    let mut root = None;
    for s in statics {
        if s.prefix == "/" {
            root = Some(s.dir.clone());
        } else {
            router = router.nest_service(
                &s.prefix,
                ServeDir::new(&s.dir).not_found_service(not_found.into_service()),
            );
        }
    }
    match root {
        Some(dir) => {
            router.fallback_service(ServeDir::new(dir).not_found_service(not_found.into_service()))
        }
        None => router.fallback(not_found),
    }
}

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vaultsync sync server",
        description = "Blind storage of sealed records with optimistic concurrency. See PROTOCOL.md."
    ),
    paths(
        health, openapi, accounts::register, accounts::prelogin, accounts::login,
        accounts::recover, accounts::list_tokens, accounts::logout, accounts::revoke_token,
        vault::get_envelope, vault::put_envelope, vault::push, vault::changes, history::history,
        history::deleted,
        live::ticket, live::events, devices::request, devices::pending, devices::approve,
        devices::deny, devices::claim, devices::list, devices::revoke
    ),
    components(schemas(
        ErrorBody,
        ErrorCode,
        vaultsync_wire::EnvelopeConflict,
        vaultsync_wire::HeadRefusal,
        vaultsync_wire::HeadDoc,
        vaultsync_wire::LiveRequest,
        vaultsync_wire::LiveEvent
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("a device token, vst_…"))
                        .build(),
                ),
            );
        }
    }
}

/// `GET /v1/health`: the server is up and its database answers.
#[utoipa::path(get, path = "/v1/health", tag = "server",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.db.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
        database: state.db.backend().into(),
    }))
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "server",
    responses((status = 200, description = "the OpenAPI 3.1 document")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A version or cursor of a request is at most `max`.
pub(super) fn check_version(field: &str, value: u64, max: u64) -> Result<(), ApiError> {
    if value > max {
        return Err(ApiError::invalid(format!("{field} must be 0 to {max}")));
    }
    Ok(())
}

/// An envelope is present and within `--max-envelope-bytes`.
pub(super) fn check_envelope(state: &AppState, len: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::invalid("envelope is empty"));
    }
    if len > state.limits.max_envelope_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "envelope is larger than {} bytes",
                state.limits.max_envelope_bytes
            ),
        ));
    }
    Ok(())
}
