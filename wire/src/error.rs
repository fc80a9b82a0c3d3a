//! Errors as the API sends them: `{"error": {"code", "message"}}` with a stable code.

use core::fmt;

/// Every error code the server answers. Clients switch on these; the message is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: a field is missing, unknown, of the wrong type or out of range.
    InvalidField,
    /// 400: a `since` cursor that is not a number in range.
    InvalidCursor,
    /// 400: the same record twice in one push.
    DuplicateRecord,
    /// 401: no bearer token.
    Unauthenticated,
    /// 401: the token is unknown, revoked or expired.
    InvalidToken,
    /// 401: unknown username or wrong auth key (the two are not told apart).
    InvalidCredentials,
    /// 404: no such route, or an object the caller may not see.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 409: the username is taken.
    UsernameTaken,
    /// 409: a vault with this id exists.
    VaultExists,
    /// 409: the envelope changed since `base_version`; the answer carries the current one.
    Conflict,
    /// 409: a push sealed against an older envelope than the current one (another device
    /// changed the password or the keys); the answer carries the current envelope.
    EnvelopeChanged,
    /// 410: the cursor predates the tombstone horizon (or is ahead of the server): pull
    /// everything again from cursor 0.
    ResyncRequired,
    /// 413: the body, a record or the envelope is larger than the server accepts.
    PayloadTooLarge,
    /// 413: more items in one push than the server accepts.
    TooManyItems,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many login attempts; retry after the `Retry-After` seconds.
    RateLimited,
    /// 503: the database is unavailable; retry later.
    StorageUnavailable,
    /// A code this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as sent, e.g. `"RESYNC_REQUIRED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "MALFORMED_JSON",
            Self::InvalidField => "INVALID_FIELD",
            Self::InvalidCursor => "INVALID_CURSOR",
            Self::DuplicateRecord => "DUPLICATE_RECORD",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::UsernameTaken => "USERNAME_TAKEN",
            Self::VaultExists => "VAULT_EXISTS",
            Self::Conflict => "CONFLICT",
            Self::EnvelopeChanged => "ENVELOPE_CHANGED",
            Self::ResyncRequired => "RESYNC_REQUIRED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::TooManyItems => "TOO_MANY_ITEMS",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::StorageUnavailable => "STORAGE_UNAVAILABLE",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// The stable code.
    pub code: ErrorCode,
    /// A message for people; never contains secrets or stored data.
    pub message: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            ErrorCode::MalformedJson,
            ErrorCode::ResyncRequired,
            ErrorCode::RateLimited,
            ErrorCode::StorageUnavailable,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"FROM_THE_FUTURE\"").unwrap(),
            ErrorCode::Unknown
        );
    }
}
