//! What an operation asks the transport to do, and how the server's answer is read. [`Call`]
//! is the client's one table of the server's routes (`PROTOCOL.md`): every request any
//! client sends is a `Call`, and only [`Call::path`] spells a path.

use vaultsync_wire::json::{self, FromJson};
use vaultsync_wire::{
    self as wire, BearerToken, ChangesResponse, EnvelopeDoc, ErrorCode, HeadDoc, PushResponse,
    PutEnvelopeRequest, PutEnvelopeResponse, RecordId, VaultId,
};

use crate::crypto::{KdfParams, MasterKey, Password};
use crate::sync::error::SyncError;

/// One request to the server.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Call {
    /// `POST /v1/accounts`: create an account and its vault.
    Register(wire::RegisterRequest),
    /// `POST /v1/prelogin`: the KDF parameters of a username.
    Prelogin(wire::PreloginRequest),
    /// `POST /v1/login`.
    Login(wire::LoginRequest),
    /// `POST /v1/recover`: log in with the recovery code.
    Recover(wire::RecoverRequest),
    /// `GET /v1/tokens`.
    Tokens,
    /// `DELETE /v1/tokens/{id}`.
    RevokeToken(u64),
    /// `DELETE /v1/tokens/current`: log out.
    Logout,
    /// `GET /v1/vaults/{vault}/envelope`.
    GetEnvelope(VaultId),
    /// `PUT /v1/vaults/{vault}/envelope`.
    PutEnvelope(VaultId, PutEnvelopeRequest),
    /// `POST /v1/vaults/{vault}/push`.
    Push(VaultId, wire::PushRequest),
    /// `GET /v1/vaults/{vault}/changes?since=…` (and `&full=1` on the later pages of a
    /// full pull).
    Changes {
        /// The vault.
        vault: VaultId,
        /// The cursor to pull from.
        since: u64,
        /// A later page of a full pull: the server does not refuse a cursor below its
        /// purge horizon (a full pull cannot miss a deletion: what it does not list is
        /// gone).
        full: bool,
    },
    /// `GET /v1/vaults/{vault}/changes?since=…&limit=1&wait=…`: a long-poll, answered at
    /// the first change past `since` (or empty after `wait` seconds). A hint only: its
    /// page is not applied, a pull follows.
    Wait {
        /// The vault.
        vault: VaultId,
        /// The engine's cursor.
        since: u64,
        /// Seconds to wait, at most [`wire::MAX_WAIT_SECONDS`].
        wait: u64,
    },
    /// `POST /v1/events/ticket`: a ticket for one live socket.
    LiveTicket,
    /// `POST /v1/link-requests`: a new device asks to join (no token).
    RequestLink(wire::LinkRequest),
    /// `GET /v1/link-requests`: the account's pending requests.
    PendingLinks,
    /// `POST /v1/link-requests/{id}/approve`.
    ApproveLink(wire::Blob, wire::LinkApproval),
    /// `POST /v1/link-requests/{id}/deny`.
    DenyLink(wire::Blob),
    /// `POST /v1/link-requests/{id}/claim` (no token).
    ClaimLink(wire::Blob, wire::LinkClaim),
    /// `GET /v1/devices`.
    Devices,
    /// `DELETE /v1/devices/{id}`.
    RevokeDevice(u64),
    /// `GET /v1/vaults/{vault}/records/{record}/history?before=…`: past versions.
    History {
        /// The vault.
        vault: VaultId,
        /// The record.
        record: RecordId,
        /// Only versions below this one (the next page), or all.
        before: Option<u64>,
    },
    /// `GET /v1/vaults/{vault}/deleted?after=…`: deleted records that can be restored.
    Deleted {
        /// The vault.
        vault: VaultId,
        /// Only record ids after this one (the next page), or all.
        after: Option<RecordId>,
    },
}

/// Which token a request is sent with.
#[derive(Clone, Debug, PartialEq)]
pub enum Bearer {
    /// None (register, prelogin, login, recovery login).
    None,
    /// The device's own session token, which the transport holds.
    Session,
    /// A token just issued to an account flow (a login fetching its envelope).
    Issued(BearerToken),
}

/// A request for the transport: the call and the token to send it with.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    /// What to send.
    pub call: Call,
    /// With which token.
    pub bearer: Bearer,
}

/// The next thing an operation needs from its driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Send a request; answer with [`Input::Reply`].
    Send(Send),
    /// Run PBKDF2 over `password` with `kdf` (the one slow step, which a browser does with
    /// WebCrypto); answer with [`Input::Master`].
    Derive {
        /// The password, handed over for this one derivation.
        password: Password,
        /// The parameters.
        kdf: KdfParams,
    },
    /// Wait `ms` milliseconds before the next step (a new device polling for its link
    /// approval); answer with [`Input::Waited`]. A driver may stop here instead (cancel).
    Wait {
        /// How long.
        ms: u32,
    },
}

/// What the driver hands back for a [`Step`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// The server's reply to [`Step::Send`].
    Reply(Reply),
    /// The PBKDF2 output of [`Step::Derive`].
    Master(MasterKey),
    /// [`Step::Wait`] is over.
    Waited,
}

/// The server's reply to a [`Call`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// Register, login or recovery login succeeded: a new device token.
    Session(wire::Session),
    /// The KDF parameters to derive the auth key with.
    Prelogin(wire::PreloginResponse),
    /// The account's tokens.
    Tokens(wire::TokenList),
    /// Done, nothing to say (204).
    Done,
    /// The answer to a push.
    Pushed(PushResponse),
    /// A page of changes.
    Page(ChangesResponse),
    /// A ticket for the live socket.
    Ticket(wire::LiveTicket),
    /// A link request was taken.
    LinkPending(wire::LinkPending),
    /// The account's pending link requests.
    Links(wire::LinkList),
    /// A page of a record's past versions.
    History(wire::HistoryPage),
    /// A page of deleted records that can be restored.
    Deleted(wire::DeletedPage),
    /// The answer to a link claim.
    Claimed(wire::LinkAnswer),
    /// The account's devices.
    Devices(wire::DeviceList),
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
    pub current: Option<Box<EnvelopeDoc>>,
    /// The current vault head, with `HEAD_STALE` and `SERVER_BEHIND`.
    pub head: Option<Box<HeadDoc>>,
}

/// An error answer as sent (`{"error": …}` and, for four codes, `"current"` or `"head"`).
struct ErrorAnswer {
    error: wire::ErrorDetail,
    current: Option<EnvelopeDoc>,
    head: Option<HeadDoc>,
}

wire::json_struct!(ErrorAnswer {
    error,
    current,
    head
});

impl Call {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Register(_)
            | Self::Prelogin(_)
            | Self::Login(_)
            | Self::Recover(_)
            | Self::Push(..)
            | Self::LiveTicket
            | Self::RequestLink(_)
            | Self::ApproveLink(..)
            | Self::DenyLink(_)
            | Self::ClaimLink(..) => "POST",
            Self::Tokens
            | Self::GetEnvelope(_)
            | Self::Changes { .. }
            | Self::Wait { .. }
            | Self::PendingLinks
            | Self::Devices
            | Self::History { .. }
            | Self::Deleted { .. } => "GET",
            Self::RevokeToken(_) | Self::Logout | Self::RevokeDevice(_) => "DELETE",
            Self::PutEnvelope(..) => "PUT",
        }
    }

    /// The request for the page after `page`, answered to this `Changes` call, that a
    /// pull would send next: a driver may start it early, while the engine takes `page`,
    /// and use its answer only if the next step is this very call (a `GET`: a request
    /// started for nothing changes nothing).
    pub fn next_page(&self, page: &ChangesResponse) -> Option<Self> {
        match self {
            Self::Changes { vault, since, full } if page.more => Some(Self::Changes {
                vault: *vault,
                since: page.cursor,
                full: *full || *since == 0,
            }),
            _ => None,
        }
    }

    /// The path (with its query) on the server.
    pub fn path(&self) -> String {
        match self {
            Self::Register(_) => "/v1/accounts".into(),
            Self::Prelogin(_) => "/v1/prelogin".into(),
            Self::Login(_) => "/v1/login".into(),
            Self::Recover(_) => "/v1/recover".into(),
            Self::Tokens => "/v1/tokens".into(),
            Self::RevokeToken(id) => format!("/v1/tokens/{id}"),
            Self::Logout => "/v1/tokens/current".into(),
            Self::GetEnvelope(vault) | Self::PutEnvelope(vault, _) => {
                format!("/v1/vaults/{vault}/envelope")
            }
            Self::Push(vault, _) => format!("/v1/vaults/{vault}/push"),
            Self::Changes { vault, since, full } => {
                let full = if *full && *since > 0 { "&full=1" } else { "" };
                format!("/v1/vaults/{vault}/changes?since={since}{full}")
            }
            Self::Wait { vault, since, wait } => {
                format!("/v1/vaults/{vault}/changes?since={since}&limit=1&wait={wait}")
            }
            Self::LiveTicket => "/v1/events/ticket".into(),
            Self::RequestLink(_) | Self::PendingLinks => "/v1/link-requests".into(),
            Self::ApproveLink(id, _) => format!("/v1/link-requests/{}/approve", id.to_base64url()),
            Self::DenyLink(id) => format!("/v1/link-requests/{}/deny", id.to_base64url()),
            Self::ClaimLink(id, _) => format!("/v1/link-requests/{}/claim", id.to_base64url()),
            Self::Devices => "/v1/devices".into(),
            Self::RevokeDevice(id) => format!("/v1/devices/{id}"),
            Self::History {
                vault,
                record,
                before,
            } => {
                let before = before.map_or(String::new(), |v| format!("?before={v}"));
                format!("/v1/vaults/{vault}/records/{record}/history{before}")
            }
            Self::Deleted { vault, after } => {
                let after = after.map_or(String::new(), |id| format!("?after={id}"));
                format!("/v1/vaults/{vault}/deleted{after}")
            }
        }
    }

    /// The JSON body, if the call has one.
    pub fn body(&self) -> Option<String> {
        match self {
            Self::Register(r) => Some(json::to_string(r)),
            Self::Prelogin(r) => Some(json::to_string(r)),
            Self::Login(r) => Some(json::to_string(r)),
            Self::Recover(r) => Some(json::to_string(r)),
            Self::PutEnvelope(_, r) => Some(json::to_string(r)),
            Self::Push(_, r) => Some(json::to_string(r)),
            Self::RequestLink(r) => Some(json::to_string(r)),
            Self::ApproveLink(_, r) => Some(json::to_string(r)),
            Self::ClaimLink(_, r) => Some(json::to_string(r)),
            Self::PendingLinks | Self::DenyLink(_) | Self::Devices | Self::RevokeDevice(_) => None,
            Self::History { .. } | Self::Deleted { .. } => None,
            Self::Tokens
            | Self::RevokeToken(_)
            | Self::Logout
            | Self::GetEnvelope(_)
            | Self::Changes { .. }
            | Self::Wait { .. }
            | Self::LiveTicket => None,
        }
    }

    /// Reads the server's answer to this call: a success body of the expected shape, or an
    /// error answer as a [`Reply::Refused`]. Anything else is `BAD_ANSWER`.
    pub fn read_answer(&self, status: u16, body: &str) -> Result<Reply, SyncError> {
        if !(200..300).contains(&status) {
            return Ok(Reply::Refused(refusal(status, body)));
        }
        fn parse<T: FromJson>(body: &str, what: &'static str) -> Result<T, SyncError> {
            json::from_str(body).map_err(|_| SyncError::BadAnswer { reason: what })
        }
        Ok(match self {
            Self::Register(_) | Self::Login(_) | Self::Recover(_) => {
                Reply::Session(parse(body, "a session that does not parse")?)
            }
            Self::Prelogin(_) => {
                Reply::Prelogin(parse(body, "a prelogin answer that does not parse")?)
            }
            Self::Tokens => Reply::Tokens(parse(body, "a token list that does not parse")?),
            Self::RevokeToken(_) | Self::Logout => Reply::Done,
            Self::Push(..) => Reply::Pushed(parse(body, "a push answer that does not parse")?),
            Self::Changes { .. } | Self::Wait { .. } => {
                Reply::Page(parse(body, "a page that does not parse")?)
            }
            Self::LiveTicket => Reply::Ticket(parse(body, "a live ticket that does not parse")?),
            Self::RequestLink(_) => {
                Reply::LinkPending(parse(body, "a link answer that does not parse")?)
            }
            Self::PendingLinks => Reply::Links(parse(body, "a link list that does not parse")?),
            Self::ClaimLink(..) => {
                Reply::Claimed(parse(body, "a claim answer that does not parse")?)
            }
            Self::Devices => Reply::Devices(parse(body, "a device list that does not parse")?),
            Self::History { .. } => {
                Reply::History(parse(body, "a history page that does not parse")?)
            }
            Self::Deleted { .. } => {
                Reply::Deleted(parse(body, "a deleted-records page that does not parse")?)
            }
            Self::ApproveLink(..) | Self::DenyLink(_) | Self::RevokeDevice(_) => Reply::Done,
            Self::GetEnvelope(_) => {
                Reply::Envelope(parse(body, "an envelope that does not parse")?)
            }
            Self::PutEnvelope(..) => {
                Reply::Stored(parse(body, "an envelope put answer that does not parse")?)
            }
        })
    }
}

/// The server's error answer, or an error without a code (`Unknown`) for anything else.
fn refusal(status: u16, body: &str) -> Refusal {
    match json::from_str::<ErrorAnswer>(body) {
        Ok(answer) => Refusal {
            status,
            code: answer.error.code,
            message: answer.error.message,
            current: answer.current.map(Box::new),
            head: answer.head.map(Box::new),
        },
        Err(_) => Refusal {
            status,
            code: ErrorCode::Unknown,
            message: format!("the server answered {status} without an error code"),
            current: None,
            head: None,
        },
    }
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
