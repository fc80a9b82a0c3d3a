//! The one API error type: a stable [`ErrorCode`] (which fixes the status) and a message,
//! rendered as `{"error": {"code", "message"}}`. Conversions have no side effects: an
//! internal cause travels in the response's extensions ([`Cause`]) and the logging
//! middleware writes it to the log; it is never sent.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vaultsync_wire::{
    EnvelopeConflict, EnvelopeDoc, ErrorBody, ErrorCode, ErrorDetail, HeadDoc, HeadRefusal,
};

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
    current: Current,
    cause: Option<String>,
}

/// What an error answer carries besides the error: the current envelope or vault head.
#[derive(Debug)]
enum Current {
    Nothing,
    Envelope(Box<EnvelopeDoc>),
    Head(Option<Box<HeadDoc>>),
}

/// The internal cause of an error answer (a storage failure): put in the response's
/// extensions for the logging middleware, never in the body.
#[derive(Clone, Debug)]
pub struct Cause(pub String);

/// The status each code is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::MalformedJson
        | ErrorCode::InvalidField
        | ErrorCode::InvalidCursor
        | ErrorCode::DuplicateRecord => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated
        | ErrorCode::InvalidToken
        | ErrorCode::InvalidTicket
        | ErrorCode::DeviceRevoked
        | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::UsernameTaken
        | ErrorCode::VaultExists
        | ErrorCode::Conflict
        | ErrorCode::EnvelopeChanged
        | ErrorCode::HeadStale => StatusCode::CONFLICT,
        ErrorCode::ResyncRequired | ErrorCode::ServerBehind => StatusCode::GONE,
        ErrorCode::PayloadTooLarge | ErrorCode::TooManyItems => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::RateLimited | ErrorCode::TooManySockets => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::StorageUnavailable | ErrorCode::Unknown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error with a code and a message for people.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            current: Current::Nothing,
            cause: None,
        }
    }

    /// The code answered.
    #[cfg(test)]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// 400 `INVALID_FIELD`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidField, message)
    }

    /// 404 for an unknown route or an object the caller may not see.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource")
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            ErrorCode::RateLimited,
            format!("too many attempts; retry in {retry_after_secs} s"),
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// 409 `CONFLICT` on a stale envelope put, carrying the current envelope.
    pub fn envelope_conflict(current: EnvelopeDoc) -> Self {
        let message = format!(
            "the envelope is at version {}; fetch it, unlock again and retry",
            current.version
        );
        Self::with_envelope(ErrorCode::Conflict, message, current)
    }

    /// 409 `ENVELOPE_CHANGED` on a push sealed against an envelope that is no longer
    /// current, carrying the current envelope.
    pub fn envelope_changed(current: EnvelopeDoc) -> Self {
        let message = format!(
            "the envelope is at version {}; adopt it and push again",
            current.version
        );
        Self::with_envelope(ErrorCode::EnvelopeChanged, message, current)
    }

    fn with_envelope(code: ErrorCode, message: String, current: EnvelopeDoc) -> Self {
        let mut error = Self::new(code, message);
        error.current = Current::Envelope(Box::new(current));
        error
    }

    /// 409 `HEAD_STALE` on a push made on another head than the stored one, carrying the
    /// current head.
    pub fn head_stale(current: Option<HeadDoc>) -> Self {
        let seq = current.as_ref().map_or(0, |h| h.seq);
        let message = format!("the vault head is at seq {seq}; pull, then push again");
        Self::with_head(ErrorCode::HeadStale, message, current)
    }

    /// 410 `SERVER_BEHIND` on changes asked from a cursor the server never handed out,
    /// carrying the current head.
    pub fn server_behind(current: Option<HeadDoc>) -> Self {
        Self::with_head(
            ErrorCode::ServerBehind,
            "this cursor is ahead of every change the server has (restored from a backup?)".into(),
            current,
        )
    }

    fn with_head(code: ErrorCode, message: String, current: Option<HeadDoc>) -> Self {
        let mut error = Self::new(code, message);
        error.current = Current::Head(current.map(Box::new));
        error
    }

    /// 503 when storage fails; the cause goes to the log (by the middleware), not to the
    /// client.
    pub fn storage(error: &sqlx::Error) -> Self {
        Self::new(
            ErrorCode::StorageUnavailable,
            "the database is unavailable; retry later",
        )
        .with_cause(format!("storage error: {error}"))
    }

    /// 503 when the system's random generator failed (no token can be issued).
    pub fn no_randomness() -> Self {
        Self::new(
            ErrorCode::StorageUnavailable,
            "cannot issue a token now; retry later",
        )
        .with_cause("the operating system's random generator failed".into())
    }

    /// An internal cause, for the log only.
    fn with_cause(mut self, cause: String) -> Self {
        self.cause = Some(cause);
        self
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::storage(&error)
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::not_found()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail {
            code: self.code,
            message: self.message,
        };
        let status = status_of(self.code);
        let mut response = match self.current {
            Current::Envelope(current) => (
                status,
                Json(EnvelopeConflict {
                    error,
                    current: *current,
                }),
            )
                .into_response(),
            Current::Head(head) => (
                status,
                Json(HeadRefusal {
                    error,
                    head: head.map(|h| *h),
                }),
            )
                .into_response(),
            Current::Nothing => (status, Json(ErrorBody { error })).into_response(),
        };
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED && self.code != ErrorCode::InvalidCredentials {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(Cause(cause));
        }
        response
    }
}
