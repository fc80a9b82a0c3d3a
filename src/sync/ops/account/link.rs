//! The new device's side of linking as an account flow: send the request, then claim its
//! answer every [`LINK_POLL_MS`] until an approving device answered it (PROTOCOL.md,
//! "Devices and linking"). An approval is opened like a login's envelope
//! ([`Opening::Link`]), so every driver that runs a login runs a link too.

use vaultsync_wire as wire;

use super::AccountOptions;
use super::run::{AccountRun, Opening, State};
use crate::sync::SyncError;
use crate::sync::ops::OpError;
use crate::sync::ops::call::{Bearer, Call, Input, Reply, Send, Step};
use crate::sync::ops::link::LinkAsk;

/// How long a new device waits between two claims of its request's answer.
pub const LINK_POLL_MS: u32 = 1_500;

/// Claims before the request is given up as expired: the server keeps it
/// [`wire::LINK_LIFE_MS`], so a server that answers "pending" for ever cannot keep the
/// device waiting longer.
const MAX_CLAIMS: u32 = (wire::LINK_LIFE_MS / LINK_POLL_MS as i64) as u32 + 1;

impl AccountRun {
    /// A new device asking to join `ask`'s account (made by [`LinkAsk::new`], with its
    /// `request`): sends the request, waits for an approval (show [`LinkAsk::phrase`]
    /// meanwhile), opens it and the envelope. Ends with `LINK_REFUSED` when the request is
    /// denied, expires or was spent, or the answer is not sealed to this device.
    pub fn link(ask: LinkAsk, request: wire::LinkRequest, options: AccountOptions) -> Self {
        let username = ask.username().to_string();
        let ask = Box::new(ask);
        Self::start(&username, options, State::LinkSend { ask, request })
    }

    /// A flow that is over (to take a finished one's place).
    pub fn over() -> Self {
        Self::start("", AccountOptions::default(), State::Over)
    }

    pub(super) fn link_next(&self) -> Option<Step> {
        let call = match &self.state {
            State::LinkSend { request, .. } => Call::RequestLink(request.clone()),
            State::LinkWait { .. } => return Some(Step::Wait { ms: LINK_POLL_MS }),
            State::LinkClaim { ask, .. } => {
                let (id, claim) = ask.claim();
                Call::ClaimLink(id, claim)
            }
            _ => return None,
        };
        Some(Step::Send(Send {
            call,
            bearer: Bearer::None,
        }))
    }

    pub(super) fn link_answer(&mut self, state: State, input: Input) -> Result<State, OpError> {
        Ok(match (state, input) {
            (State::LinkSend { ask, .. }, Input::Reply(Reply::LinkPending(_))) => {
                State::LinkWait { ask, claims: 0 }
            }
            (State::LinkWait { ask, claims }, Input::Waited) => State::LinkClaim { ask, claims },
            (State::LinkClaim { ask, claims }, Input::Reply(Reply::Claimed(answer))) => {
                if let Some(session) = &answer.session {
                    // Given back by `abandon` if the answer turns out unusable.
                    self.issued = Some(session.token.secret.clone());
                }
                match ask.answer(answer)? {
                    Some(opened) => State::Fetch {
                        session: opened.session.clone(),
                        opening: Opening::Link(Box::new(opened)),
                    },
                    None if claims + 1 >= MAX_CLAIMS => {
                        let reason = "expired";
                        return Err(OpError::Sync(SyncError::LinkRefused { reason }));
                    }
                    None => State::LinkWait {
                        ask,
                        claims: claims + 1,
                    },
                }
            }
            (_, Input::Reply(Reply::Refused(refusal))) => return Err(OpError::Refused(refusal)),
            _ => return Err(super::super::bad_answer("an answer to another request")),
        })
    }
}
