//! The one API error type: a stable [`ErrorCode`] (which fixes the status) and a message,
//! rendered as `{"error": {"code", "message"}}`. Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vaultsync_wire::{EnvelopeConflict, EnvelopeDoc, ErrorBody, ErrorCode, ErrorDetail};

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after_secs: Option<u64>,
    current_envelope: Option<Box<EnvelopeDoc>>,
}

/// The status each code is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::MalformedJson
        | ErrorCode::InvalidField
        | ErrorCode::InvalidCursor
        | ErrorCode::DuplicateRecord => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated | ErrorCode::InvalidToken | ErrorCode::InvalidCredentials => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::UsernameTaken
        | ErrorCode::VaultExists
        | ErrorCode::Conflict
        | ErrorCode::EnvelopeChanged => StatusCode::CONFLICT,
        ErrorCode::ResyncRequired => StatusCode::GONE,
        ErrorCode::PayloadTooLarge | ErrorCode::TooManyItems => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
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
            current_envelope: None,
        }
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
        error.current_envelope = Some(Box::new(current));
        error
    }

    /// 503 when storage fails; the cause is logged, not returned.
    pub fn storage(error: &sqlx::Error) -> Self {
        tracing::error!(%error, "storage error");
        Self::new(
            ErrorCode::StorageUnavailable,
            "the database is unavailable; retry later",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::storage(&error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => Self::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => Self::invalid(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(ErrorCode::PayloadTooLarge, "the request body is too large")
            }
            other => Self::new(ErrorCode::MalformedJson, other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail {
            code: self.code,
            message: self.message,
        };
        let status = status_of(self.code);
        let mut response = match self.current_envelope {
            Some(current) => (
                status,
                Json(EnvelopeConflict {
                    error,
                    current: *current,
                }),
            )
                .into_response(),
            None => (status, Json(ErrorBody { error })).into_response(),
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
        response
    }
}
