//! HTTP routes under `/v1`. Routes parse, check limits and authorize; the `store` module
//! owns all SQL. Every route is described in `PROTOCOL.md` and in the OpenAPI document
//! served at `/v1/openapi.json` (generated from the handlers' annotations).
//!
//! - this module: the router, shared state, the JSON body extractor, the OpenAPI document,
//!   health, request ids and the checks several routes share;
//! - [`accounts`]: register, prelogin, login, recovery login and tokens;
//! - [`vault`]: the envelope, push and changes.

mod accounts;
mod vault;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use vaultsync_wire::{
    ChangesResponse, EnvelopeDoc, ErrorBody, ErrorCode, Health, IssuedToken, LoginRequest,
    MAX_VERSION, PreloginRequest, PreloginResponse, PushRequest, PushResponse, PutEnvelopeRequest,
    PutEnvelopeResponse, RecoverRequest, RegisterRequest, Session, TokenInfo, TokenList, VaultId,
};
use zeroize::Zeroizing;

use crate::auth::{self, Authed, ClientAddr, RateLimits};
use crate::config::{Limits, StaticDir};
use crate::db::Db;
use crate::error::ApiError;
use crate::now_ms;
use crate::store::{self, Changes, Push, PutEnvelope, RegisterError};

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
}

/// The whole API as a router, so tests can drive it without a socket.
///
/// Every request gets an `x-request-id` (kept if the client sent one) that is echoed in the
/// answer and logged with the method, path (never the query, headers or body: no tokens,
/// auth keys or ciphertext reach the logs), status and latency.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
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
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    with_statics(api, &statics)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
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
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuidLike))
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
        vault::get_envelope, vault::put_envelope, vault::push, vault::changes
    ),
    components(schemas(ErrorBody, ErrorCode, vaultsync_wire::EnvelopeConflict)),
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

/// A JSON body whose rejections are API errors with codes.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| ApiError::from(e))?;
        Ok(Self(value))
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

pub(super) fn check_version(field: &str, value: u64, max: u64) -> Result<(), ApiError> {
    if value > max {
        return Err(ApiError::invalid(format!("{field} must be 0 to {max}")));
    }
    Ok(())
}

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

/// Request ids: 16 random hex digits from a per-process counter mixed with the start time.
#[derive(Clone, Copy, Default)]
struct MakeRequestUuidLike;

impl MakeRequestId for MakeRequestUuidLike {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = start.rotate_left(17) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        HeaderValue::from_str(&format!("{id:016x}"))
            .ok()
            .map(RequestId::new)
    }
}
