//! Request extractors: the bearer token's account, the client's address and a JSON body
//! read strictly (syntax first, then shape; objects only where the schema says object;
//! error messages that name the field but never repeat what was sent).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::{DeserializeOwned, IgnoredAny};
use vaultsync_wire::{ErrorCode, TOKEN_PREFIX};

use super::AppState;
use super::strict::Objects;
use crate::auth;
use crate::clock::now_ms;
use crate::error::ApiError;

/// The account and token behind a request's bearer token.
#[derive(Clone, Copy, Debug)]
pub struct Authed {
    /// The account: every query is scoped to it.
    pub account_id: i64,
    /// The token used.
    pub token_id: i64,
    /// Its device.
    pub device_id: Option<i64>,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "send a token: Authorization: Bearer vst_…",
                )
            })?;
        let invalid = || {
            ApiError::new(
                ErrorCode::InvalidToken,
                "the token is invalid, revoked or expired; log in again",
            )
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .ok_or_else(invalid)?;
        let row = state
            .db
            .token_by_hash(&auth::token_hash(token))
            .await?
            .ok_or_else(invalid)?;
        let now = now_ms();
        if row.expires_at.is_some_and(|at| at <= now) {
            if row.device_revoked_at.is_some() {
                return Err(ApiError::new(
                    ErrorCode::DeviceRevoked,
                    "this device was revoked by another device of the account",
                ));
            }
            return Err(invalid());
        }
        if row
            .last_used_at
            .is_none_or(|at| now - at >= auth::LAST_USED_GRANULARITY_MS)
        {
            state.db.touch_token(row.id, now).await?;
        }
        Ok(Self {
            account_id: row.account_id,
            token_id: row.id,
            device_id: row.device_id,
        })
    }
}

/// The client's address: the socket peer, or with `--trust-forwarded-for` the last
/// address of `X-Forwarded-For`.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok());
            if forwarded.is_some() {
                return Ok(Self(forwarded));
            }
        }
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A JSON body whose rejections are API errors with codes: not `application/json` is 415
/// `UNSUPPORTED_MEDIA_TYPE`; too large is 413; anything that is not complete JSON (`[1,2`,
/// `{"username": 5`) is 400 `MALFORMED_JSON`; JSON of the wrong shape (a missing, unknown
/// or mistyped field, an array where an object belongs) is 400 `INVALID_FIELD` naming the
/// field, never its value.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::new(
                    ErrorCode::MalformedJson,
                    "the request body could not be read",
                )
            }
        })?;
        parse_json(&bytes).map(Self)
    }
}

/// Parses a request body: syntax first (so a truncated body is `MALFORMED_JSON` whatever
/// comes first), then the shape, with every struct read as an object only.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<IgnoredAny>(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(Objects(&mut deserializer)).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let mut segments: Vec<_> = e.path().iter().cloned().collect();
            let what = describe(e.inner());
            // An unknown field's path ends with its name, which the client chose (it may
            // be anything, a secret too): name where it was, not what.
            if what == "unknown field" {
                segments.pop();
            }
            let path = segments
                .iter()
                .map(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
                    serde_path_to_error::Segment::Map { key } => format!(".{key}"),
                    serde_path_to_error::Segment::Enum { variant } => format!(".{variant}"),
                    serde_path_to_error::Segment::Unknown => ".?".into(),
                })
                .collect::<String>();
            match path.strip_prefix('.').unwrap_or(&path) {
                "" => ApiError::invalid(what),
                path => ApiError::invalid(format!("{path}: {what}")),
            }
        },
    )
}

/// What was wrong with a field, without repeating the value sent (it may be a secret):
/// serde's messages quote the value (`invalid type: string "…", expected u32`), so only
/// what was expected is kept.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends " at line L column C".
    let text = text.split(" at line ").next().unwrap_or(&text);
    if text.starts_with("unknown field") {
        return "unknown field".into();
    }
    if text.starts_with("missing field") || text.starts_with("duplicate field") {
        return text.to_string();
    }
    if let Some(expected) = text.split(", expected ").nth(1) {
        let kind = if text.starts_with("invalid type") {
            "wrong type"
        } else if text.starts_with("invalid length") {
            "wrong length"
        } else {
            "invalid value"
        };
        return format!("{kind}, expected {expected}");
    }
    // Our own Deserialize impls (blobs, ids) write messages without the value.
    text.chars().take(200).collect()
}
