//! HTTP routes under `/v1`. Routes parse and authorize; the `db` module owns all SQL.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::db::Db;
use crate::error::ApiError;

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    /// The storage layer.
    pub db: Db,
}

/// The whole API as a router, so tests can drive it without a socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

/// `GET /v1/health`: the server is up and its database answers.
async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.db.ping().await.map_err(|e| ApiError::storage(&e))?;
    Ok(Json(
        json!({ "status": "ok", "database": state.db.backend() }),
    ))
}
