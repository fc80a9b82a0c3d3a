//! Devices and linking in the native client: list and revoke the account's devices; add
//! a new device without the password (PROTOCOL.md, "Devices and linking"): the new device
//! asks ([`Client::request_link`]) and shows a phrase, an unlocked device shows the same
//! phrase for the request and approves it ([`Client::approve_link`]), and the new device
//! opens what it was sent ([`LinkWait::wait`]).

use std::time::{Duration, Instant};

use vaultsync_wire as wire;

use super::http::Http;
use super::{Client, ClientError, Options};
use crate::crypto::link::{DeviceKeyPair, LinkGrant, REQUEST_ID_LEN, link_phrase};
use crate::crypto::{Envelope, OsEntropy, UnlockError};
use crate::sync::{Bearer, Call, Engine, OpError, Reply, Send, Session, SyncError};

/// A pending request as an unlocked device shows it: compare `phrase` with the one the
/// new device shows before approving.
#[derive(Clone, Debug)]
pub struct LinkOffer {
    /// The request id.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// The new device's public key.
    pub public_key: [u8; 32],
    /// The label it gave.
    pub label: String,
    /// The link phrase of this key and request.
    pub phrase: String,
    /// When it expires (Unix milliseconds).
    pub expires_at: i64,
}

/// A new device's request, waiting for an approval.
pub struct LinkWait {
    http: Http,
    username: String,
    label: String,
    request_id: [u8; REQUEST_ID_LEN],
    secret: wire::SecretBlob,
    keys: DeviceKeyPair,
    phrase: String,
    expires: Instant,
    options: Options,
}

fn bad_answer(reason: &'static str) -> ClientError {
    OpError::Sync(SyncError::BadAnswer { reason }).into()
}

fn refused(reply: Reply) -> Result<Reply, ClientError> {
    match reply {
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
        let mut entropy = OsEntropy;
        let keys = DeviceKeyPair::generate(&mut entropy).map_err(UnlockError::Random)?;
        let mut request_id = [0u8; REQUEST_ID_LEN];
        let mut secret = vec![0u8; 32];
        use crate::crypto::Entropy;
        entropy.fill(&mut request_id).map_err(UnlockError::Random)?;
        entropy.fill(&mut secret).map_err(UnlockError::Random)?;
        let request = wire::LinkRequest {
            username: username.to_string(),
            request_id: wire::Blob(request_id.to_vec()),
            public_key: wire::Blob(keys.public().to_vec()),
            label: label.to_string(),
            secret: wire::SecretBlob::new(secret.clone()),
        };
        let send = Send {
            call: Call::RequestLink(request),
            bearer: Bearer::None,
        };
        refused(http.perform(&send, None)?)?;
        Ok(LinkWait {
            http,
            username: username.to_string(),
            label: label.to_string(),
            request_id,
            secret: wire::SecretBlob::new(secret),
            phrase: link_phrase(keys.public(), &request_id).join(" "),
            keys,
            expires: Instant::now() + Duration::from_millis(wire::LINK_LIFE_MS as u64),
            options: options.clone(),
        })
    }

    /// The account's pending link requests, each with its phrase.
    pub fn pending_links(&self) -> Result<Vec<LinkOffer>, ClientError> {
        let Reply::Links(list) = self.request(Call::PendingLinks)? else {
            return Err(bad_answer("an answer to another request"));
        };
        list.requests
            .into_iter()
            .map(|r| {
                let request_id: [u8; REQUEST_ID_LEN] = r
                    .request_id
                    .0
                    .try_into()
                    .map_err(|_| bad_answer("a request id that is not 16 bytes"))?;
                let public_key: [u8; 32] = r
                    .public_key
                    .0
                    .try_into()
                    .map_err(|_| bad_answer("a public key that is not 32 bytes"))?;
                Ok(LinkOffer {
                    phrase: link_phrase(&public_key, &request_id).join(" "),
                    request_id,
                    public_key,
                    label: r.label,
                    expires_at: r.expires_at,
                })
            })
            .collect()
    }

    /// Approves a request whose phrase the user compared: seals this vault's root key,
    /// the envelope's pins and the last verified head to the new device's key.
    pub fn approve_link(&self, offer: &LinkOffer) -> Result<(), ClientError> {
        let head = self.engine().pinned_head_bytes();
        let grant = self
            .vault
            .link_grant(self.engine().envelope_version(), head);
        let (enc, payload) = grant
            .seal(
                &self.vault_id(),
                &offer.request_id,
                &offer.public_key,
                &offer.label,
                &mut OsEntropy,
            )
            .map_err(|_| bad_answer("a public key that is not a usable X25519 key"))?;
        let approval = wire::LinkApproval {
            enc: wire::Blob(enc.to_vec()),
            payload: wire::Blob(payload),
        };
        let id = wire::Blob(offer.request_id.to_vec());
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
            _ => Err(bad_answer("an answer to another request")),
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

    /// Asks once whether the request was answered: `Ok(None)` while it is pending.
    pub fn poll(&self) -> Result<Option<Client>, ClientError> {
        let claim = wire::LinkClaim {
            secret: self.secret.clone(),
        };
        let send = Send {
            call: Call::ClaimLink(wire::Blob(self.request_id.to_vec()), claim),
            bearer: Bearer::None,
        };
        let Reply::Claimed(answer) = refused(self.http.perform(&send, None)?)? else {
            return Err(bad_answer("an answer to another request"));
        };
        match answer.state.as_str() {
            "pending" if Instant::now() < self.expires => Ok(None),
            "approved" => {
                let token = answer.session.as_ref().map(|s| s.token.secret.clone());
                self.opened(answer).map(Some).inspect_err(|_| {
                    // Not for this device: give the token it was issued back, at once.
                    if let Some(token) = token {
                        let logout = Send {
                            call: Call::Logout,
                            bearer: Bearer::Issued(token),
                        };
                        let _ = self.http.perform(&logout, None);
                    }
                })
            }
            "denied" => Err(OpError::Sync(SyncError::LinkRefused { reason: "denied" }).into()),
            "spent" => Err(OpError::Sync(SyncError::LinkRefused {
                reason: "already used",
            })
            .into()),
            _ => Err(OpError::Sync(SyncError::LinkRefused { reason: "expired" }).into()),
        }
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
                return Err(OpError::Sync(SyncError::LinkRefused {
                    reason: "not approved in time",
                })
                .into());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Opens an approval: the grant, then the envelope fetched with the new token, checked
    /// against the grant's pins and unlocked with its root key.
    fn opened(&self, answer: wire::LinkAnswer) -> Result<Client, ClientError> {
        let (Some(enc), Some(payload), Some(session)) =
            (answer.enc, answer.payload, answer.session)
        else {
            return Err(bad_answer("an approval without its payload"));
        };
        let enc: [u8; 32] = enc
            .0
            .try_into()
            .map_err(|_| bad_answer("an enc that is not 32 bytes"))?;
        let vault_id = crate::crypto::VaultId::from_bytes(*session.vault_id.as_bytes());
        let grant = LinkGrant::open(
            &self.keys,
            &vault_id,
            &self.request_id,
            &self.label,
            &enc,
            &payload.0,
        )
        .map_err(|_| {
            OpError::Sync(SyncError::LinkRefused {
                reason: "a payload that does not open: not sealed to this device for this request",
            })
        })?;
        let token = session.token.secret;
        let send = Send {
            call: Call::GetEnvelope(session.vault_id),
            bearer: Bearer::Issued(token.clone()),
        };
        let Reply::Envelope(doc) = refused(self.http.perform(&send, None)?)? else {
            return Err(bad_answer("an answer to another request"));
        };
        let envelope = Envelope::parse(doc.envelope.as_bytes())?;
        if envelope.vault_id() != vault_id {
            return Err(UnlockError::Tampered.into());
        }
        if doc.version < grant.envelope_version || envelope.generation() < grant.generation {
            return Err(OpError::Sync(SyncError::EnvelopeRollback {
                seen: grant.envelope_version,
                got: doc.version,
            })
            .into());
        }
        let got = envelope.kdf_params().iterations();
        if got < grant.iterations {
            let pinned = grant.iterations;
            return Err(OpError::Sync(SyncError::KdfDowngrade { pinned, got }).into());
        }
        let vault = envelope.unlock_with_grant(&grant)?;
        let mut engine = Engine::new(vault_id, self.options.policy);
        engine.pin_envelope(doc.version, grant.iterations);
        let session = Session {
            username: self.username.clone(),
            token,
            engine,
        };
        Ok(Client::new(self.http.clone(), vault, session))
    }
}
