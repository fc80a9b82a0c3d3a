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
use crate::sync::{AccountRun, Call, Input, MassDelete, OpError, Reply, SyncError};

pub use crate::sync::ops::link::LinkOffer;

/// A new device's request, waiting for an approval.
pub struct LinkWait {
    http: Http,
    run: AccountRun,
    phrase: String,
    expires: Instant,
    guard: Option<MassDelete>,
}

fn bad_answer() -> ClientError {
    OpError::Sync(SyncError::BadAnswer {
        reason: "an answer to another request",
    })
    .into()
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
        let phrase = ask.phrase();
        let mut run = AccountRun::link(ask, request, options.account());
        // Sends the request; stops at the first wait.
        super::advance(&http, &mut run, true)?;
        Ok(LinkWait {
            http,
            run,
            phrase,
            expires: Instant::now() + Duration::from_millis(wire::LINK_LIFE_MS as u64),
            guard: options.mass_delete,
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
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// Asks once whether the request was answered: `Ok(None)` while it is pending. The
    /// flow is [`AccountRun::link`]'s, shared with the npm package.
    pub fn poll(&mut self) -> Result<Option<Client>, ClientError> {
        self.run.answer(Input::Waited, &mut OsEntropy)?;
        if !super::advance(&self.http, &mut self.run, true)? {
            if Instant::now() >= self.expires {
                let reason = "expired";
                return Err(OpError::Sync(SyncError::LinkRefused { reason }).into());
            }
            return Ok(None);
        }
        let run = std::mem::replace(&mut self.run, AccountRun::over());
        let mut client = Client::finish(self.http.clone(), run)?.0;
        client.set_mass_delete(self.guard);
        Ok(Some(client))
    }

    /// Waits (polling every second) until the request is approved, denied or expired; on
    /// approval, the new device's client (call [`Client::sync`] next).
    pub fn wait(mut self, timeout: Duration) -> Result<Client, ClientError> {
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
