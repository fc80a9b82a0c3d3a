//! HTTP routes under `/v1`. Routes parse, check limits and authorize; the `store` module
//! owns all SQL. Every route is described in `PROTOCOL.md` and in the OpenAPI document
//! served at `/v1/openapi.json` (generated from the annotations below).

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
    PutEnvelopeResponse, RegisterRequest, Session, TokenInfo, TokenList, VaultId,
};
use zeroize::Zeroizing;

use crate::auth::{self, Authed, ClientAddr, RateLimits};
use crate::config::{Limits, StaticDir};
use crate::db::Db;
use crate::error::ApiError;
use crate::now_ms;
use crate::store::{self, Changes, PutEnvelope, RegisterError};

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
        .route("/v1/accounts", post(register))
        .route("/v1/prelogin", post(prelogin))
        .route("/v1/login", post(login))
        .route("/v1/tokens", get(list_tokens))
        .route("/v1/tokens/current", delete(logout))
        .route("/v1/tokens/{token_id}", delete(revoke_token))
        .route(
            "/v1/vaults/{vault_id}/envelope",
            get(get_envelope).put(put_envelope),
        )
        .route("/v1/vaults/{vault_id}/push", post(push))
        .route("/v1/vaults/{vault_id}/changes", get(changes))
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
        health, openapi, register, prelogin, login, list_tokens, logout, revoke_token,
        get_envelope, put_envelope, push, changes
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

/// `POST /v1/accounts`: create an account with its vault and envelope; returns a device
/// token.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, body = Session),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "USERNAME_TAKEN or VAULT_EXISTS"),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    state.rate.check_address(addr)?;
    let username = auth::normalize_username(&request.username)?;
    let verifier_hash = auth::auth_verifier(&request.auth_key)?;
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
async fn prelogin(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<PreloginRequest>,
) -> Result<Json<PreloginResponse>, ApiError> {
    state.rate.check_address(addr)?;
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
async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(request): Body<LoginRequest>,
) -> Result<Json<Session>, ApiError> {
    state.rate.check_address(addr)?;
    let username = auth::normalize_username(&request.username)?;
    state.rate.check_account(&username)?;
    let presented = auth::auth_verifier(&request.auth_key)?;
    let label = auth::token_label(request.token_label)?;
    let now = now_ms();
    let expires_at = match request.token_ttl_secs {
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
    let stored = row
        .as_ref()
        .map_or(&[0u8; 32][..], |r| &r.verifier_hash[..]);
    let matches = auth::verifier_matches(stored, &presented);
    let Some(row) = row.filter(|_| matches) else {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "unknown username or wrong password",
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
async fn list_tokens(
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
async fn logout(State(state): State<AppState>, authed: Authed) -> Result<StatusCode, ApiError> {
    state
        .db
        .revoke_token(authed.account_id, authed.token_id, now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/tokens/{token_id}`: revoke one of the account's tokens, at once.
#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(("token_id" = u64, Path, description = "the id from the token list")),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such live token on this account")))]
async fn revoke_token(
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
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// `GET /v1/vaults/{vault_id}/envelope`: the envelope, its version and KDF parameters.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/envelope", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path)),
    responses((status = 200, body = EnvelopeDoc), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn get_envelope(
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
async fn put_envelope(
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
    responses((status = 200, body = PushResponse, description = "one result per item: applied or conflict"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn push(
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
        if !seen.insert(item.record_id) {
            return Err(ApiError::new(
                ErrorCode::DuplicateRecord,
                format!("items[{i}] repeats a record of this push"),
            ));
        }
    }
    let results = state.db.push(vault_pk, &request.items, now_ms()).await?;
    Ok(Json(PushResponse { results }))
}

/// Query of `changes`: both optional; anything else is refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/vaults/{vault_id}/changes?since=C&limit=N`: changes after cursor `C`.
#[utoipa::path(get, path = "/v1/vaults/{vault_id}/changes", tag = "vault", security(("bearer" = [])),
    params(("vault_id" = String, Path),
        ("since" = Option<u64>, Query, description = "the cursor of the last change seen; 0 (default) for everything"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to the server's maximum (default: the maximum)")),
    responses((status = 200, body = ChangesResponse),
        (status = 400, body = ErrorBody, description = "INVALID_CURSOR or INVALID_FIELD"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "RESYNC_REQUIRED: pull again from 0")))]
async fn changes(
    State(state): State<AppState>,
    authed: Authed,
    Path(vault_id): Path<String>,
    query: axum::extract::RawQuery,
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
    let max = state.limits.max_page_size;
    let limit = match query.limit.as_deref() {
        None => max,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {max}")))?,
    };
    match state.db.changes(vault_pk, since, limit).await? {
        Changes::Page {
            changes,
            more,
            envelope_version,
        } => Ok(Json(ChangesResponse {
            cursor: changes.last().map_or(since, |c| c.cursor),
            changes,
            more,
            envelope_version,
        })),
        Changes::BeforeHorizon => Err(ApiError::new(
            ErrorCode::ResyncRequired,
            "deleted records older than this cursor were purged; pull everything from cursor 0",
        )),
        Changes::AheadOfServer => Err(ApiError::new(
            ErrorCode::ResyncRequired,
            "this cursor is ahead of the server (restored from a backup?); pull everything from cursor 0",
        )),
    }
}

/// The vault's storage key if `vault_id` is the caller's; 404 otherwise, exactly as for a
/// vault that does not exist.
async fn own_vault(state: &AppState, authed: Authed, vault_id: &str) -> Result<i64, ApiError> {
    let vault_id = VaultId::parse(vault_id).map_err(|_| ApiError::not_found())?;
    state
        .db
        .vault_pk(authed.account_id, &vault_id)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn check_version(field: &str, value: u64, max: u64) -> Result<(), ApiError> {
    if value > max {
        return Err(ApiError::invalid(format!("{field} must be 0 to {max}")));
    }
    Ok(())
}

fn check_envelope(state: &AppState, len: usize) -> Result<(), ApiError> {
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

fn token_info(row: store::TokenRow, current: Option<i64>) -> TokenInfo {
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

fn issued_token(secret: Zeroizing<String>, row: store::TokenRow) -> IssuedToken {
    IssuedToken {
        secret: secret.to_string(),
        info: token_info(row, None),
    }
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
