//! The protocol's multi-step operations, sans-IO: a sync (push every pending edit, pull
//! every page, adopting a newer envelope on the way), a password change, and a key
//! rotation (resumable). Each is a state machine over the [`Engine`] and the unlocked
//! vault: [`Operation::next`] says what to send, [`Operation::answer`] takes the server's
//! reply. The transports (`fetch` in the npm package, reqwest natively, an in-memory model
//! server in the simulation) only move bytes, so every client runs the same logic:
//!
//! ```text
//! while let Some(call) = op.next(&mut ctx)? {
//!     let (status, body) = send(call.method(), call.path(vault_id), call.body())?;
//!     if let Some(progress) = op.answer(&mut ctx, call.read_answer(status, &body)?)? {
//!         show(progress);
//!     }
//! }
//! ```
//!
//! A transport failure (no answer) simply ends the loop, and nothing is half-applied: an
//! unanswered push stays in flight and is resent byte for byte by the next sync (the
//! server recognises it), an envelope is adopted locally only once the server answered
//! that it stored it (if that answer was lost, the next sync finds the envelope on the
//! server, authenticates it and adopts it), and a rotation resumes from wherever the
//! vault and the server are when it is called again.

use core::fmt;

use serde::Deserialize;
use vaultsync_wire::{
    self as wire, ChangesResponse, EnvelopeDoc, ErrorCode, PushResponse, PutEnvelopeRequest,
    PutEnvelopeResponse,
};

use super::account;
use super::engine::{DEFAULT_PUSH_ITEMS, Engine};
use super::error::SyncError;
use super::event::{Event, Progress};
use super::merge::Resolve;
use crate::crypto::rand::Entropy;
use crate::crypto::{
    Envelope, KdfParams, KeyringError, MasterKey, UnlockError, UnlockedVault, VaultId,
};

/// What an operation works on: the replica, the unlocked vault, who decides conflicts and
/// where randomness comes from.
pub struct Ctx<'a, E: Entropy> {
    /// The replica.
    pub engine: &'a mut Engine,
    /// The unlocked vault (its envelope changes when the server stored a new one).
    pub vault: &'a mut UnlockedVault,
    /// Decides a field both devices changed.
    pub resolver: &'a mut dyn Resolve,
    /// Randomness for nonces and keys.
    pub entropy: &'a mut E,
}

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

/// Why an operation stopped. Local data is consistent whenever one is returned: what was
/// applied before is kept, nothing is half-applied, and calling the operation again
/// carries on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpError {
    /// The engine refused an answer (`TAMPERED`, `ROLLBACK`, `BAD_ANSWER`, …).
    Sync(SyncError),
    /// The server refused a request with a code this operation does not handle.
    Refused(Refusal),
    /// A key rotation could not change the keyring (`KEYRING_FULL`, no randomness).
    Keyring(KeyringError),
    /// A new envelope could not be made (no randomness).
    Unlock(UnlockError),
    /// A key rotation met changes by other devices in every one of its passes; calling it
    /// again carries on (nothing is lost, every record stays readable).
    RotationIncomplete,
}

impl OpError {
    /// A stable code, the same strings as everywhere else in vaultsync.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sync(e) => e.code(),
            Self::Refused(r) => r.code_str(),
            Self::Keyring(e) => e.code(),
            Self::Unlock(e) => e.code(),
            Self::RotationIncomplete => "ROTATION_INCOMPLETE",
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync(e) => write!(f, "{e}"),
            Self::Refused(r) => write!(
                f,
                "the server refused ({} {}): {}",
                r.status,
                r.code_str(),
                r.message
            ),
            Self::Keyring(e) => write!(f, "{e}"),
            Self::Unlock(e) => write!(f, "{e}"),
            Self::RotationIncomplete => {
                f.write_str("other devices kept writing under the old key; rotate again to finish")
            }
        }
    }
}

impl std::error::Error for OpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sync(e) => Some(e),
            Self::Keyring(e) => Some(e),
            Self::Unlock(e) => Some(e),
            Self::Refused(_) | Self::RotationIncomplete => None,
        }
    }
}

impl From<SyncError> for OpError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

impl From<KeyringError> for OpError {
    fn from(e: KeyringError) -> Self {
        Self::Keyring(e)
    }
}

impl From<UnlockError> for OpError {
    fn from(e: UnlockError) -> Self {
        Self::Unlock(e)
    }
}

/// A multi-step operation (see the module documentation for the loop that drives it).
pub trait Operation {
    /// The next request to send, or `None` when the operation is complete.
    fn next<E: Entropy>(&mut self, ctx: &mut Ctx<'_, E>) -> Result<Option<Call>, OpError>;

    /// Takes the reply to the request [`Operation::next`] returned; may report progress.
    fn answer<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        reply: Reply,
    ) -> Result<Option<Progress>, OpError>;

    /// What the operation changed on this device, for a UI (call once it is complete).
    fn take_events(&mut self) -> Vec<Event>;
}

fn bad_answer(reason: &'static str) -> OpError {
    OpError::Sync(SyncError::BadAnswer { reason })
}

/// The envelope of a `CONFLICT` or `ENVELOPE_CHANGED` answer, adopted if newer.
fn adopt_current<E: Entropy>(
    ctx: &mut Ctx<'_, E>,
    refusal: &Refusal,
) -> Result<Option<Event>, OpError> {
    let current = refusal
        .current
        .as_ref()
        .ok_or_else(|| bad_answer("an envelope conflict without the current envelope"))?;
    if current.version == ctx.engine.envelope_version() {
        return Err(bad_answer(
            "an envelope conflict with the envelope already pinned",
        ));
    }
    Ok(ctx.engine.check_envelope(ctx.vault, current)?)
}

/// The put of an envelope this device made, from the pinned version.
fn put_envelope(engine: &Engine, envelope: &Envelope, auth_key: Option<wire::Blob>) -> Call {
    Call::PutEnvelope(PutEnvelopeRequest {
        base_version: engine.envelope_version(),
        envelope: wire::Blob(envelope.to_bytes()),
        kdf: account::kdf_wire(envelope.kdf_params()),
        auth_key,
    })
}

/// A sync: push every pending edit in batches (conflicts merged on the way), then pull
/// every page of changes. A push refused because the envelope changed (`ENVELOPE_CHANGED`)
/// and a page made under a newer envelope both make the engine adopt the server's
/// envelope first (refused if it is not this vault's, older or weaker). `RESYNC_REQUIRED`
/// starts a full resync that keeps pending edits.
#[derive(Debug)]
pub struct SyncRun {
    pushing: bool,
    done: bool,
    /// Push rounds left: every batch, plus a few for merged edits that conflicts leave
    /// behind (bounded, in case another device keeps writing).
    rounds_left: usize,
    pushed: usize,
    pulled: usize,
    /// A page that waits for the envelope it was made under.
    held: Option<ChangesResponse>,
    events: Vec<Event>,
}

impl SyncRun {
    /// A sync of `engine`'s replica.
    pub fn new(engine: &Engine) -> Self {
        Self {
            pushing: true,
            done: false,
            rounds_left: engine.pending_count() / DEFAULT_PUSH_ITEMS + 8,
            pushed: 0,
            pulled: 0,
            held: None,
            events: Vec::new(),
        }
    }

    fn apply_page<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        page: &ChangesResponse,
    ) -> Result<Option<Progress>, OpError> {
        let events = ctx
            .engine
            .apply_changes_with(ctx.vault, page, ctx.resolver)?;
        self.events.extend(events);
        self.pulled += page.changes.len();
        self.done = !page.more;
        Ok(Some(Progress::Pull {
            done: self.pulled,
            more: page.more,
        }))
    }
}

impl Operation for SyncRun {
    fn next<E: Entropy>(&mut self, ctx: &mut Ctx<'_, E>) -> Result<Option<Call>, OpError> {
        if self.done {
            return Ok(None);
        }
        if self.pushing {
            if self.rounds_left > 0 {
                let request =
                    ctx.engine
                        .prepare_push(ctx.vault, DEFAULT_PUSH_ITEMS, &mut *ctx.entropy)?;
                if let Some(request) = request {
                    self.rounds_left -= 1;
                    return Ok(Some(Call::Push(request)));
                }
            }
            self.pushing = false;
        }
        Ok(Some(match self.held {
            Some(_) => Call::GetEnvelope,
            None => Call::Changes {
                since: ctx.engine.cursor(),
            },
        }))
    }

    fn answer<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        reply: Reply,
    ) -> Result<Option<Progress>, OpError> {
        match reply {
            Reply::Pushed(answer) if self.pushing => {
                let events = ctx
                    .engine
                    .apply_push_with(ctx.vault, &answer, ctx.resolver)?;
                self.events.extend(events);
                self.pushed += answer.results.len();
                Ok(Some(Progress::Push {
                    done: self.pushed,
                    pending: ctx.engine.pending_count(),
                }))
            }
            Reply::Refused(refusal)
                if self.pushing && refusal.code == ErrorCode::EnvelopeChanged =>
            {
                // Another device changed the password or the keys: adopt its envelope,
                // then push again (sealed again if the current key changed).
                self.events.extend(adopt_current(ctx, &refusal)?);
                Ok(None)
            }
            Reply::Page(page) if !self.pushing => {
                if page.envelope_version != ctx.engine.envelope_version() {
                    // Made under another envelope: records may be sealed under a key
                    // this device does not have yet. Fetch the envelope first.
                    self.held = Some(page);
                    return Ok(None);
                }
                self.apply_page(ctx, &page)
            }
            Reply::Envelope(doc) => {
                let page = self
                    .held
                    .take()
                    .ok_or_else(|| bad_answer("an envelope that was not asked for"))?;
                let event = ctx.engine.check_envelope(ctx.vault, &doc)?;
                self.events.extend(event);
                self.apply_page(ctx, &page)
            }
            Reply::Refused(refusal)
                if !self.pushing && refusal.code == ErrorCode::ResyncRequired =>
            {
                if ctx.engine.cursor() == 0 {
                    // A full pull is always answered: a server that refuses it is broken.
                    return Err(OpError::Refused(refusal));
                }
                ctx.engine.start_resync();
                Ok(None)
            }
            Reply::Refused(refusal) => Err(OpError::Refused(refusal)),
            _ => Err(bad_answer("an answer to another request")),
        }
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}

/// How many times a password change takes the envelope of a concurrent key change and
/// tries again before giving up.
const ENVELOPE_RETRIES: u32 = 4;

/// A password change: the vault's root key wrapped under a new password (records
/// untouched), uploaded with the new auth key from the pinned envelope version, and
/// adopted once the server stored it. If another device changed the envelope first
/// (`CONFLICT`), its envelope is adopted; when it changed only the keys the change is made
/// again on top, when it changed the password too the operation stops with `CONFLICT`
/// (this device now uses that password; change it again to set yours).
pub struct PasswordRun {
    master: MasterKey,
    kdf: KdfParams,
    proposed: Option<Envelope>,
    tries: u32,
    done: bool,
    events: Vec<Event>,
}

impl fmt::Debug for PasswordRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRun")
            .field("tries", &self.tries)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl PasswordRun {
    /// A change to the password whose PBKDF2 output for `kdf` (fresh salt) is `master`.
    pub fn new(master: MasterKey, kdf: KdfParams) -> Self {
        Self {
            master,
            kdf,
            proposed: None,
            tries: 0,
            done: false,
            events: Vec::new(),
        }
    }
}

impl Operation for PasswordRun {
    fn next<E: Entropy>(&mut self, ctx: &mut Ctx<'_, E>) -> Result<Option<Call>, OpError> {
        if self.done {
            return Ok(None);
        }
        let envelope =
            ctx.vault
                .propose_password(&self.master, self.kdf.clone(), &mut *ctx.entropy)?;
        let auth_key = wire::Blob(self.master.auth_key().to_bytes().to_vec());
        let call = put_envelope(ctx.engine, &envelope, Some(auth_key));
        self.proposed = Some(envelope);
        Ok(Some(call))
    }

    fn answer<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        reply: Reply,
    ) -> Result<Option<Progress>, OpError> {
        let proposed = self
            .proposed
            .take()
            .ok_or_else(|| bad_answer("an answer to another request"))?;
        match reply {
            Reply::Stored(stored) => {
                ctx.engine
                    .envelope_stored(ctx.vault, &proposed, stored.version)?;
                self.done = true;
                Ok(None)
            }
            Reply::Refused(refusal) if refusal.code == ErrorCode::Conflict => {
                let event = adopt_current(ctx, &refusal)?;
                let password_changed =
                    matches!(event, Some(Event::EnvelopeChanged { password: true, .. }));
                self.events.extend(event);
                self.tries += 1;
                if password_changed || self.tries > ENVELOPE_RETRIES {
                    return Err(OpError::Refused(refusal));
                }
                Ok(None)
            }
            Reply::Refused(refusal) => Err(OpError::Refused(refusal)),
            _ => Err(bad_answer("an answer to another request")),
        }
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}

/// How many catch-up passes a rotation makes before it stops with `ROTATION_INCOMPLETE`.
const ROTATION_PASSES: u32 = 8;

/// A key rotation, resumable: (1) fetch the envelope; unless a rotation is already under
/// way (the keyring holds old keys), upload an envelope whose keyring adds a fresh key and
/// makes it current; (2) sync (pending edits go out under the new key); (3) push every
/// record the server holds under an old key again, unchanged, sealed under the new key, in
/// batches; (4) upload an envelope without the old keys.
///
/// Every step leaves the vault readable: until step 4 the keyring holds both keys, and
/// step 4 runs only once no record this device knows of is under an old key. Nothing
/// written after the envelope of step 1 can be under an old key: the server refuses a push
/// sealed against an older envelope (`ENVELOPE_CHANGED`), and an engine that adopts a new
/// current key forgets its writes in flight under the old one and seals them again.
/// Interrupted anywhere, calling it again (on this or any device) carries on.
#[derive(Debug)]
pub struct RotateRun {
    step: RotateStep,
    proposed: Option<Envelope>,
    /// Records pushed again so far, and the count to push (grows if more are found).
    resealed: usize,
    total: usize,
    passes: u32,
    events: Vec<Event>,
}

#[derive(Debug)]
enum RotateStep {
    Fetch,
    Start,
    CatchUp(SyncRun),
    /// Re-seal pushes sent in this pass (bounded: conflicts may hand back more).
    Reseal {
        batches: usize,
    },
    Retire,
    Done,
}

impl Default for RotateRun {
    fn default() -> Self {
        Self::new()
    }
}

impl RotateRun {
    /// A rotation (or the rest of one under way).
    pub fn new() -> Self {
        Self {
            step: RotateStep::Fetch,
            proposed: None,
            resealed: 0,
            total: 0,
            passes: 0,
            events: Vec::new(),
        }
    }

    /// Another catch-up and re-seal pass, unless there were too many.
    fn again(&mut self, engine: &Engine) -> Result<(), OpError> {
        self.passes += 1;
        if self.passes > ROTATION_PASSES {
            return Err(OpError::RotationIncomplete);
        }
        self.step = RotateStep::CatchUp(SyncRun::new(engine));
        Ok(())
    }

    fn progress(&self) -> Progress {
        Progress::Rotate {
            done: self.resealed,
            total: self.total,
        }
    }
}

impl Operation for RotateRun {
    fn next<E: Entropy>(&mut self, ctx: &mut Ctx<'_, E>) -> Result<Option<Call>, OpError> {
        loop {
            match &mut self.step {
                RotateStep::Fetch => return Ok(Some(Call::GetEnvelope)),
                RotateStep::Start => {
                    if !ctx.vault.old_key_ids().is_empty() {
                        // A rotation is under way (this device's or another's): resume.
                        self.step = RotateStep::CatchUp(SyncRun::new(ctx.engine));
                        continue;
                    }
                    let envelope = ctx.vault.propose_rotation(&mut *ctx.entropy)?;
                    let call = put_envelope(ctx.engine, &envelope, None);
                    self.proposed = Some(envelope);
                    return Ok(Some(call));
                }
                RotateStep::CatchUp(sync) => {
                    if let Some(call) = sync.next(ctx)? {
                        return Ok(Some(call));
                    }
                    self.events.extend(sync.take_events());
                    self.total = self.resealed + ctx.engine.reseal_count(ctx.vault);
                    self.step = RotateStep::Reseal { batches: 0 };
                }
                RotateStep::Reseal { batches } => {
                    let limit = self.total / DEFAULT_PUSH_ITEMS + 8;
                    let request = if *batches < limit {
                        ctx.engine.prepare_reseal(
                            ctx.vault,
                            DEFAULT_PUSH_ITEMS,
                            &mut *ctx.entropy,
                        )?
                    } else {
                        None
                    };
                    if let Some(request) = request {
                        *batches += 1;
                        return Ok(Some(Call::Push(request)));
                    }
                    if ctx.engine.reseal_count(ctx.vault) == 0 {
                        self.step = RotateStep::Retire;
                    } else {
                        // Records edited here meanwhile (their edit goes out under the
                        // new key), or more conflicts than expected: catch up again.
                        self.again(ctx.engine)?;
                    }
                }
                RotateStep::Retire => {
                    if ctx.vault.old_key_ids().is_empty() {
                        self.step = RotateStep::Done;
                        continue;
                    }
                    let envelope = ctx.vault.propose_retirement(&mut *ctx.entropy)?;
                    let call = put_envelope(ctx.engine, &envelope, None);
                    self.proposed = Some(envelope);
                    return Ok(Some(call));
                }
                RotateStep::Done => return Ok(None),
            }
        }
    }

    fn answer<E: Entropy>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        reply: Reply,
    ) -> Result<Option<Progress>, OpError> {
        match (&mut self.step, reply) {
            (RotateStep::Fetch, Reply::Envelope(doc)) => {
                let event = ctx.engine.check_envelope(ctx.vault, &doc)?;
                self.events.extend(event);
                self.step = RotateStep::Start;
                Ok(None)
            }
            (RotateStep::CatchUp(sync), reply) => sync.answer(ctx, reply),
            (RotateStep::Reseal { .. }, Reply::Pushed(answer)) => {
                let events = ctx
                    .engine
                    .apply_push_with(ctx.vault, &answer, ctx.resolver)?;
                self.events.extend(events);
                self.resealed += answer.results.len();
                self.total = self.total.max(self.resealed);
                Ok(Some(self.progress()))
            }
            (RotateStep::Reseal { .. }, Reply::Refused(refusal))
                if refusal.code == ErrorCode::EnvelopeChanged =>
            {
                // Another device changed the envelope: adopt it and catch up again.
                self.events.extend(adopt_current(ctx, &refusal)?);
                self.again(ctx.engine)?;
                Ok(None)
            }
            (RotateStep::Start | RotateStep::Retire, reply) => {
                let proposed = self
                    .proposed
                    .take()
                    .ok_or_else(|| bad_answer("an answer to another request"))?;
                let retiring = matches!(self.step, RotateStep::Retire);
                match reply {
                    Reply::Stored(stored) => {
                        ctx.engine
                            .envelope_stored(ctx.vault, &proposed, stored.version)?;
                        if retiring {
                            self.step = RotateStep::Done;
                            // The batches reported their progress; a rotation with nothing
                            // to re-seal reports its end once.
                            return Ok((self.resealed == 0).then(|| self.progress()));
                        }
                        self.step = RotateStep::CatchUp(SyncRun::new(ctx.engine));
                        Ok(None)
                    }
                    Reply::Refused(refusal) if refusal.code == ErrorCode::Conflict => {
                        // Another device changed the envelope first: adopt it, then
                        // decide again (it may have started or finished a rotation).
                        self.events.extend(adopt_current(ctx, &refusal)?);
                        if retiring {
                            self.again(ctx.engine)?;
                        } else {
                            self.passes += 1;
                            if self.passes > ROTATION_PASSES {
                                return Err(OpError::RotationIncomplete);
                            }
                        }
                        Ok(None)
                    }
                    Reply::Refused(refusal) => Err(OpError::Refused(refusal)),
                    _ => Err(bad_answer("an answer to another request")),
                }
            }
            (_, Reply::Refused(refusal)) => Err(OpError::Refused(refusal)),
            _ => Err(bad_answer("an answer to another request")),
        }
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}
