//! Errors as the API sends them: `{"error": {"code", "message"}}` with a stable code.

use core::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// Every error code the server answers. Clients switch on these; the message is for
        /// people.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this client does not know (a newer server).
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every code, `Unknown` last.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)* ErrorCode::Unknown];

            /// The code as sent, e.g. `"RESYNC_REQUIRED"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown => "UNKNOWN",
                }
            }
        }
    };
}

error_codes! {
    /// 400: the body is not JSON.
    MalformedJson = "MALFORMED_JSON",
    /// 400: a field is missing, unknown, of the wrong type or out of range.
    InvalidField = "INVALID_FIELD",
    /// 400: a `since` cursor that is not a number in range.
    InvalidCursor = "INVALID_CURSOR",
    /// 400: the same record twice in one push.
    DuplicateRecord = "DUPLICATE_RECORD",
    /// 401: no bearer token.
    Unauthenticated = "UNAUTHENTICATED",
    /// 401: the token is unknown, revoked or expired.
    InvalidToken = "INVALID_TOKEN",
    /// 401: the token's device was revoked by another device of the account: erase the
    /// local data if asked, and log in again to come back.
    DeviceRevoked = "DEVICE_REVOKED",
    /// 401: a live ticket that is unknown, used or expired: ask for another.
    InvalidTicket = "INVALID_TICKET",
    /// 401: unknown username or wrong auth key (the two are not told apart).
    InvalidCredentials = "INVALID_CREDENTIALS",
    /// 404: no such route, or an object the caller may not see.
    NotFound = "NOT_FOUND",
    /// 405: the route exists, the method does not.
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    /// 409: the username is taken.
    UsernameTaken = "USERNAME_TAKEN",
    /// 409: a vault with this id exists.
    VaultExists = "VAULT_EXISTS",
    /// 409: the envelope changed since `base_version`; the answer carries the current one.
    Conflict = "CONFLICT",
    /// 409: a push sealed against an older envelope than the current one (another device
    /// changed the password or the keys); the answer carries the current envelope.
    EnvelopeChanged = "ENVELOPE_CHANGED",
    /// 409: a push made on an older vault head than the stored one (another device pushed
    /// first); the answer carries the current head. Pull, then push again.
    HeadStale = "HEAD_STALE",
    /// 410: the cursor predates the tombstone horizon: pull everything again from cursor
    /// 0.
    ResyncRequired = "RESYNC_REQUIRED",
    /// 410: the cursor is ahead of every change the server has: the server lost data (a
    /// restore from a backup) or hides it. The answer carries the current head.
    ServerBehind = "SERVER_BEHIND",
    /// 413: the body, a record or the envelope is larger than the server accepts.
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    /// 413: more items in one push than the server accepts.
    TooManyItems = "TOO_MANY_ITEMS",
    /// 415: the body is not `application/json`.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    /// 429: too many login attempts; retry after the `Retry-After` seconds.
    RateLimited = "RATE_LIMITED",
    /// 429: the token, or the server, has as many live sockets open as allowed.
    TooManySockets = "TOO_MANY_SOCKETS",
    /// 503: the database is unavailable; retry later.
    StorageUnavailable = "STORAGE_UNAVAILABLE",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl crate::json::FromJson for ErrorCode {
    fn from_json(
        value: &serde_json::Value,
        at: &'static str,
    ) -> Result<Self, crate::json::JsonError> {
        let text = value.as_str().ok_or(crate::json::JsonError {
            at,
            expected: "an error code",
        })?;
        Ok(Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == text)
            .unwrap_or(Self::Unknown))
    }
}

impl crate::json::ToJson for ErrorCode {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(self.as_str().into())
    }
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

crate::json_struct!(ErrorBody { error });

/// A stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// The stable code.
    pub code: ErrorCode,
    /// A message for people; never contains secrets or stored data.
    pub message: String,
}

crate::json_struct!(ErrorDetail { code, message });

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_code_serializes_as_its_name() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

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
