//! Devices and linking in the native client: list and revoke the account's devices; add
//! a new device without the password (PROTOCOL.md, "Devices and linking"). The rules are
//! in `sync::ops::link`; this module carries its requests.

use std::time::{Duration, Instant};

use vaultsync_wire as wire;

use super::http::Http;
use super::{Client, ClientError, Options};
use crate::crypto::OsEntropy;
use crate::crypto::link::REQUEST_ID_LEN;
use crate::sync::ops::link::{self, LinkAsk};
use crate::sync::{Bearer, Call, OpError, Reply, Send, Session, SyncError};

pub use crate::sync::ops::link::LinkOffer;

/// A new device's request, waiting for an approval.
pub struct LinkWait {
    http: Http,
    ask: LinkAsk,
    expires: Instant,
    options: Options,
}

fn bad_answer() -> ClientError {
    OpError::Sync(SyncError::BadAnswer {
        reason: "an answer to another request",
    })
    .into()
}

/// Sends `call` with `bearer`; a refusal is an error.
fn send(http: &Http, call: Call, bearer: Bearer) -> Result<Reply, ClientError> {
    match http.perform(&Send { call, bearer }, None)? {
        Reply::Refused(refusal) => Err(OpError::Refused(refusal).into()),
        reply => Ok(reply),
    }
}

impl Client {
    /// Asks to join `username`'s account as a new device labelled `label`. Show
    /// [`LinkWait::phrase`] to the user, then [`LinkWait::wait`] for an approval.
    pub fn request_link(
        server: &str,
        username: &str,
        label: &str,
        options: &Options,
    ) -> Result<LinkWait, ClientError> {
        let http = Http::new(server, options.timeout)?;
        let (ask, request) = LinkAsk::new(username, label, &mut OsEntropy)?;
        send(&http, Call::RequestLink(request), Bearer::None)?;
        Ok(LinkWait {
            http,
            ask,
            expires: Instant::now() + Duration::from_millis(wire::LINK_LIFE_MS as u64),
            options: options.clone(),
        })
    }

    /// The account's pending link requests, each with its phrase.
    pub fn pending_links(&self) -> Result<Vec<LinkOffer>, ClientError> {
        match self.request(Call::PendingLinks)? {
            Reply::Links(list) => Ok(link::offers(list)?),
            _ => Err(bad_answer()),
        }
    }

    /// Approves a request whose phrase the user compared: seals this vault's root key,
    /// the envelope's pins and the last verified head to the new device's key.
    pub fn approve_link(&self, offer: &LinkOffer) -> Result<(), ClientError> {
        let (id, approval) = link::approval(&self.vault, self.engine(), offer, &mut OsEntropy)?;
        self.request(Call::ApproveLink(id, approval)).map(drop)
    }

    /// Denies a request.
    pub fn deny_link(&self, request_id: &[u8; REQUEST_ID_LEN]) -> Result<(), ClientError> {
        self.request(Call::DenyLink(wire::Blob(request_id.to_vec())))
            .map(drop)
    }

    /// The account's devices.
    pub fn devices(&self) -> Result<Vec<wire::DeviceInfo>, ClientError> {
        match self.request(Call::Devices)? {
            Reply::Devices(list) => Ok(list.devices),
            _ => Err(bad_answer()),
        }
    }

    /// Revokes one of the account's devices: its tokens stop working at once.
    pub fn revoke_device(&self, id: u64) -> Result<(), ClientError> {
        self.request(Call::RevokeDevice(id)).map(drop)
    }
}

impl LinkWait {
    /// The link phrase to show: the approving device must show the same.
    pub fn phrase(&self) -> String {
        self.ask.phrase()
    }

    /// Asks once whether the request was answered: `Ok(None)` while it is pending.
    pub fn poll(&self) -> Result<Option<Client>, ClientError> {
        let (id, claim) = self.ask.claim();
        let Reply::Claimed(answer) = send(&self.http, Call::ClaimLink(id, claim), Bearer::None)?
        else {
            return Err(bad_answer());
        };
        let token = answer.session.as_ref().map(|s| s.token.secret.clone());
        let opened = self.ask.answer(answer).and_then(|opened| match opened {
            None if Instant::now() >= self.expires => {
                Err(OpError::Sync(SyncError::LinkRefused { reason: "expired" }))
            }
            opened => Ok(opened),
        });
        let client = opened.map_err(ClientError::from).and_then(|opened| {
            let Some(opened) = opened else {
                return Ok(None);
            };
            let token = opened.session.token.secret.clone();
            let call = Call::GetEnvelope(opened.session.vault_id);
            let Reply::Envelope(doc) = send(&self.http, call, Bearer::Issued(token.clone()))?
            else {
                return Err(bad_answer());
            };
            let (vault, engine) = opened.unlock(&doc, self.options.policy)?;
            let session = Session {
                username: self.ask.username().to_string(),
                token,
                engine,
            };
            Ok(Some(Client::new(self.http.clone(), vault, session)))
        });
        if client.is_err() {
            // A token issued with an answer this device cannot use goes back at once.
            if let Some(token) = token {
                let _ = send(&self.http, Call::Logout, Bearer::Issued(token));
            }
        }
        client
    }

    /// Waits (polling every second) until the request is approved, denied or expired; on
    /// approval, the new device's client (call [`Client::sync`] next).
    pub fn wait(self, timeout: Duration) -> Result<Client, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(client) = self.poll()? {
                return Ok(client);
            }
            if Instant::now() >= deadline {
                let reason = "not approved in time";
                return Err(OpError::Sync(SyncError::LinkRefused { reason }).into());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
