//! The account's device tokens from the native client: list, revoke, log out.

use vaultsync_wire as wire;

use super::{Client, ClientError};
use crate::sync::{Call, OpError, Reply, Send, SyncError};

impl Client {
    /// One request outside the operations, with this device's token.
    pub(super) fn request(&self, call: Call) -> Result<Reply, ClientError> {
        let send = Send {
            call,
            bearer: crate::sync::Bearer::Session,
        };
        match self.http.perform(&send, Some(&self.session.token))? {
            Reply::Refused(refusal) => Err(OpError::Refused(refusal).into()),
            reply => Ok(reply),
        }
    }

    /// The account's device tokens.
    pub fn tokens(&self) -> Result<Vec<wire::TokenInfo>, ClientError> {
        match self.request(Call::Tokens)? {
            Reply::Tokens(list) => Ok(list.tokens),
            _ => Err(SyncError::BadAnswer {
                reason: "an answer to another request",
            }
            .into()),
        }
    }

    /// Revokes one of the account's tokens.
    pub fn revoke_token(&self, id: u64) -> Result<(), ClientError> {
        self.request(Call::RevokeToken(id)).map(drop)
    }

    /// Logs out: revokes this device's token.
    pub fn logout(&self) -> Result<(), ClientError> {
        self.request(Call::Logout).map(drop)
    }
}
