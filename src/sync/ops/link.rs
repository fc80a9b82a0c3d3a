//! Linking a device without the password, sans-IO (PROTOCOL.md, "Devices and linking"):
//! what the new device sends and how it opens the answer, what an approving device seals.
//! The native client and the npm package carry the requests; the rules live here once.

use vaultsync_wire as wire;

use super::call::{Bearer, Call, Input, Reply, Send, Step};
use super::{Ctx, OpError, Operation, reply};
use crate::crypto::link::{DeviceKeyPair, LinkGrant, REQUEST_ID_LEN, link_phrase};
use crate::crypto::rand::Entropy;
use crate::crypto::{Envelope, UnlockError, UnlockedVault, VaultId};
use crate::sync::event::{Event, Progress};
use crate::sync::{ConflictPolicy, Engine, SyncError};

/// A new device's side of a request: its key pair, the request id and the claim secret.
pub struct LinkAsk {
    keys: DeviceKeyPair,
    request_id: [u8; REQUEST_ID_LEN],
    secret: wire::SecretBlob,
    label: String,
    username: String,
}

/// A pending request as an unlocked device shows it: compare `phrase` with the one the new
/// device shows before approving.
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

impl wire::json::ToJson for LinkOffer {
    /// `{requestId, label, phrase, expiresAt}`, as the npm package hands it out.
    fn to_json(&self) -> Option<wire::json::Value> {
        use wire::json::put;
        let mut o = wire::json::Map::new();
        put(&mut o, "requestId", &wire::Blob(self.request_id.to_vec()));
        put(&mut o, "label", &self.label);
        put(&mut o, "phrase", &self.phrase);
        put(&mut o, "expiresAt", &self.expires_at);
        Some(wire::json::Value::Object(o))
    }
}

/// An approval the new device opened; [`Opened::unlock`] finishes with the envelope.
pub struct Opened {
    /// The new device's session (its token).
    pub session: wire::Session,
    grant: LinkGrant,
}

fn refused(reason: &'static str) -> OpError {
    OpError::Sync(SyncError::LinkRefused { reason })
}

fn bad_answer(reason: &'static str) -> OpError {
    OpError::Sync(SyncError::BadAnswer { reason })
}

impl LinkAsk {
    /// A new request to join `username`'s account as `label`: the request to send and this
    /// side's secrets.
    pub fn new(
        username: &str,
        label: &str,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<(Self, wire::LinkRequest), UnlockError> {
        let keys = DeviceKeyPair::generate(entropy).map_err(UnlockError::Random)?;
        let mut request_id = [0u8; REQUEST_ID_LEN];
        let mut secret = vec![0u8; 32];
        entropy.fill(&mut request_id).map_err(UnlockError::Random)?;
        entropy.fill(&mut secret).map_err(UnlockError::Random)?;
        let request = wire::LinkRequest {
            username: username.to_string(),
            request_id: wire::Blob(request_id.to_vec()),
            public_key: wire::Blob(keys.public().to_vec()),
            label: label.to_string(),
            secret: wire::SecretBlob::new(secret.clone()),
        };
        let ask = Self {
            keys,
            request_id,
            secret: wire::SecretBlob::new(secret),
            label: label.to_string(),
            username: username.to_string(),
        };
        Ok((ask, request))
    }

    /// The phrase to show.
    pub fn phrase(&self) -> String {
        link_phrase(self.keys.public(), &self.request_id).join(" ")
    }

    /// The username asked for.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The claim to poll with.
    pub fn claim(&self) -> (wire::Blob, wire::LinkClaim) {
        let claim = wire::LinkClaim {
            secret: self.secret.clone(),
        };
        (wire::Blob(self.request_id.to_vec()), claim)
    }

    /// Reads a claim's answer: `Ok(None)` while pending; the opened approval; or
    /// `LINK_REFUSED` (denied, expired, spent, or a payload not sealed to this device for
    /// this request: a key was substituted, and the phrases differed).
    pub fn answer(&self, answer: wire::LinkAnswer) -> Result<Option<Opened>, OpError> {
        match answer.state.as_str() {
            "pending" => return Ok(None),
            "approved" => {}
            "denied" => return Err(refused("denied")),
            "spent" => return Err(refused("already used")),
            _ => return Err(refused("expired")),
        }
        let (Some(enc), Some(payload), Some(session)) =
            (answer.enc, answer.payload, answer.session)
        else {
            return Err(bad_answer("an approval without its payload"));
        };
        let enc: [u8; 32] = enc
            .0
            .try_into()
            .map_err(|_| bad_answer("an enc that is not 32 bytes"))?;
        let vault_id = VaultId::from_bytes(*session.vault_id.as_bytes());
        let grant = LinkGrant::open(
            &self.keys,
            &vault_id,
            &self.request_id,
            &self.label,
            &enc,
            &payload.0,
        )
        .map_err(|_| refused("a payload not sealed to this device for this request"))?;
        Ok(Some(Opened { session, grant }))
    }
}

impl Opened {
    /// Unlocks the envelope the server gave the new token, after checking the grant's
    /// pins: not older (`ROLLBACK`), not weaker (`KDF_DOWNGRADE`), this vault's
    /// (`TAMPERED`). Returns the vault and a fresh engine pinned to it, with the grant's
    /// head as its trust anchor (its first pull refuses an older vault state).
    pub fn unlock(
        &self,
        doc: &wire::EnvelopeDoc,
        policy: ConflictPolicy,
    ) -> Result<(UnlockedVault, Engine), OpError> {
        let vault_id = VaultId::from_bytes(*self.session.vault_id.as_bytes());
        let envelope = Envelope::parse(doc.envelope.as_bytes()).map_err(OpError::Unlock)?;
        if envelope.vault_id() != vault_id {
            return Err(OpError::Unlock(UnlockError::Tampered));
        }
        let grant = &self.grant;
        if doc.version < grant.envelope_version || envelope.generation() < grant.generation {
            return Err(OpError::Sync(SyncError::EnvelopeRollback {
                seen: grant.envelope_version,
                got: doc.version,
            }));
        }
        let got = envelope.kdf_params().iterations();
        if got < grant.iterations {
            let pinned = grant.iterations;
            return Err(OpError::Sync(SyncError::KdfDowngrade { pinned, got }));
        }
        let vault = envelope.unlock_with_grant(grant).map_err(OpError::Unlock)?;
        let mut engine = Engine::new(vault_id, policy);
        engine.pin_envelope(doc.version, grant.iterations);
        if let Some(head) = &grant.head {
            // The approving device's last verified head: the new device's trust anchor.
            engine.adopt_anchor(head).map_err(OpError::Sync)?;
        }
        Ok((vault, engine))
    }
}

/// The account's pending requests as offers, each with its phrase.
pub fn offers(list: wire::LinkList) -> Result<Vec<LinkOffer>, OpError> {
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

/// The approval of `offer` by an unlocked device: its vault's root key, the envelope's
/// pins and its last verified head, sealed to the new device's key.
pub fn approval(
    vault: &UnlockedVault,
    engine: &Engine,
    offer: &LinkOffer,
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<(wire::Blob, wire::LinkApproval), OpError> {
    let grant = vault.link_grant(engine.envelope_version(), engine.pinned_head_bytes());
    let (enc, payload) = grant
        .seal(
            &vault.vault_id(),
            &offer.request_id,
            &offer.public_key,
            &offer.label,
            entropy,
        )
        .map_err(|_| bad_answer("a public key that is not a usable X25519 key"))?;
    let approval = wire::LinkApproval {
        enc: wire::Blob(enc.to_vec()),
        payload: wire::Blob(payload),
    };
    Ok((wire::Blob(offer.request_id.to_vec()), approval))
}

/// Approving one pending request by its id, as an operation on an unlocked device: fetch
/// the pending requests, find this one (`LINK_REFUSED` when it is no longer pending)
/// and send [`approval`]. The application approves only after the user compared the
/// phrase of [`offers`] with the one the new device shows.
pub struct ApproveRun {
    request_id: [u8; REQUEST_ID_LEN],
    approval: Option<(wire::Blob, wire::LinkApproval)>,
    done: bool,
}

impl ApproveRun {
    /// Approves the request `request_id`.
    pub fn new(request_id: [u8; REQUEST_ID_LEN]) -> Self {
        Self {
            request_id,
            approval: None,
            done: false,
        }
    }
}

impl Operation for ApproveRun {
    fn next(&mut self, _: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        let call = match (&self.approval, self.done) {
            (_, true) => return Ok(None),
            (None, _) => Call::PendingLinks,
            (Some((id, approval)), _) => Call::ApproveLink(id.clone(), approval.clone()),
        };
        Ok(Some(Step::Send(Send {
            call,
            bearer: Bearer::Session,
        })))
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        match (reply(input)?, self.approval.is_some()) {
            (Reply::Links(list), false) => {
                let offer = offers(list)?
                    .into_iter()
                    .find(|o| o.request_id == self.request_id)
                    .ok_or(refused("not pending (unknown, answered or expired)"))?;
                self.approval = Some(approval(ctx.vault, ctx.engine, &offer, ctx.entropy)?);
            }
            (Reply::Done, true) => self.done = true,
            (Reply::Refused(refusal), _) => return Err(OpError::Refused(refusal)),
            _ => return Err(bad_answer("an answer to another request")),
        }
        Ok(None)
    }

    fn take_events(&mut self) -> Vec<Event> {
        Vec::new()
    }
}
