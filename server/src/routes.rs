//! HTTP routes under `/v1`. Routes parse and authorize; the `db` module owns all SQL.

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::db::Db;
use crate::error::ApiError;

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    /// The storage layer.
    pub db: Db,
}

/// The whole API as a router, so tests can drive it without a socket.
///
/// Every request gets an `x-request-id` (kept if the client sent one) that is echoed in the
/// answer and logged with the method, path (never the query or headers: no tokens, auth
/// keys or ciphertext reach the logs), status and latency.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/health", get(health))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
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

/// `GET /v1/health`: the server is up and its database answers.
async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.db.ping().await.map_err(|e| ApiError::storage(&e))?;
    Ok(Json(
        json!({ "status": "ok", "database": state.db.backend() }),
    ))
}
