//! What an operation asks the transport to send, and how the server's answer is read.

use serde::Deserialize;
use vaultsync_wire::{
    self as wire, ChangesResponse, EnvelopeDoc, ErrorCode, PushResponse, PutEnvelopeRequest,
    PutEnvelopeResponse,
};

use crate::crypto::VaultId;
use crate::sync::error::SyncError;

/// A request for the transport, sent with the session's bearer token.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Call {
    /// `POST /v1/vaults/{vault}/push`.
    Push(wire::PushRequest),
    /// `GET /v1/vaults/{vault}/changes?since=…`.
    Changes {
        /// The cursor to pull from.
        since: u64,
    },
    /// `GET /v1/vaults/{vault}/envelope`.
    GetEnvelope,
    /// `PUT /v1/vaults/{vault}/envelope`.
    PutEnvelope(PutEnvelopeRequest),
}

/// The server's reply to a [`Call`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// The answer to a push.
    Pushed(PushResponse),
    /// A page of changes.
    Page(ChangesResponse),
    /// The envelope.
    Envelope(EnvelopeDoc),
    /// An envelope put was stored.
    Stored(PutEnvelopeResponse),
    /// The server refused with an error code.
    Refused(Refusal),
}

/// An error answer of the server (`PROTOCOL.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The stable code ([`ErrorCode::Unknown`] when the answer had none).
    pub code: ErrorCode,
    /// The server's message, for people.
    pub message: String,
    /// The current envelope, with `CONFLICT` and `ENVELOPE_CHANGED`.
    pub current: Option<EnvelopeDoc>,
}

impl Refusal {
    /// The stable code as a string: the server's, or `BAD_ANSWER` for an error answer
    /// without one.
    pub fn code_str(&self) -> &'static str {
        match self.code {
            ErrorCode::Unknown => "BAD_ANSWER",
            code => code.as_str(),
        }
    }
}

/// An error answer as sent (`{"error": …}` and, for two codes, `"current"`).
#[derive(Deserialize)]
struct ErrorAnswer {
    error: wire::ErrorDetail,
    #[serde(default)]
    current: Option<EnvelopeDoc>,
}

impl Call {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Push(_) => "POST",
            Self::Changes { .. } | Self::GetEnvelope => "GET",
            Self::PutEnvelope(_) => "PUT",
        }
    }

    /// The path (with its query) on the server.
    pub fn path(&self, vault_id: &VaultId) -> String {
        match self {
            Self::Push(_) => format!("/v1/vaults/{vault_id}/push"),
            Self::Changes { since } => format!("/v1/vaults/{vault_id}/changes?since={since}"),
            Self::GetEnvelope | Self::PutEnvelope(_) => format!("/v1/vaults/{vault_id}/envelope"),
        }
    }

    /// The JSON body, if the call has one.
    pub fn body(&self) -> Option<String> {
        // These structs hold only strings, numbers and booleans: they always serialise.
        match self {
            Self::Push(request) => serde_json::to_string(request).ok(),
            Self::PutEnvelope(request) => serde_json::to_string(request).ok(),
            Self::Changes { .. } | Self::GetEnvelope => None,
        }
    }

    /// Reads the server's answer to this call: a success body of the expected shape, or an
    /// error answer as a [`Reply::Refused`]. Anything else is `BAD_ANSWER`.
    pub fn read_answer(&self, status: u16, body: &str) -> Result<Reply, SyncError> {
        let bad = |reason| SyncError::BadAnswer { reason };
        if !(200..300).contains(&status) {
            return Ok(Reply::Refused(
                match serde_json::from_str::<ErrorAnswer>(body) {
                    Ok(answer) => Refusal {
                        status,
                        code: answer.error.code,
                        message: answer.error.message,
                        current: answer.current,
                    },
                    Err(_) => Refusal {
                        status,
                        code: ErrorCode::Unknown,
                        message: format!("the server answered {status} without an error code"),
                        current: None,
                    },
                },
            ));
        }
        Ok(match self {
            Self::Push(_) => Reply::Pushed(
                serde_json::from_str(body).map_err(|_| bad("a push answer that does not parse"))?,
            ),
            Self::Changes { .. } => Reply::Page(
                serde_json::from_str(body).map_err(|_| bad("a page that does not parse"))?,
            ),
            Self::GetEnvelope => Reply::Envelope(
                serde_json::from_str(body).map_err(|_| bad("an envelope that does not parse"))?,
            ),
            Self::PutEnvelope(_) => Reply::Stored(
                serde_json::from_str(body)
                    .map_err(|_| bad("an envelope put answer that does not parse"))?,
            ),
        })
    }
}
