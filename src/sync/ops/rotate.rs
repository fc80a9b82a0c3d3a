//! A key rotation, resumable on any device.

use vaultsync_wire::ErrorCode;

use super::{
    Call, Ctx, Input, OpError, Operation, Reply, Step, SyncRun, adopt_current, bad_answer,
    put_envelope, reply, send,
};
use crate::crypto::Envelope;
use crate::sync::engine::DEFAULT_PUSH_ITEMS;
use crate::sync::event::{Event, Progress};

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
    fn again(&mut self) -> Result<(), OpError> {
        self.passes += 1;
        if self.passes > ROTATION_PASSES {
            return Err(OpError::RotationIncomplete);
        }
        self.step = RotateStep::CatchUp(SyncRun::new());
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
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        loop {
            match &mut self.step {
                RotateStep::Fetch => {
                    return Ok(Some(send(Call::GetEnvelope(ctx.engine.vault_id()))));
                }
                RotateStep::Start => {
                    if !ctx.vault.old_key_ids().is_empty() {
                        // A rotation is under way (this device's or another's): resume.
                        self.step = RotateStep::CatchUp(SyncRun::new());
                        continue;
                    }
                    let envelope = ctx.vault.propose_rotation(&mut *ctx.entropy)?;
                    let call = put_envelope(ctx.engine, &envelope, None);
                    self.proposed = Some(envelope);
                    return Ok(Some(send(call)));
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
                        return Ok(Some(send(Call::Push(ctx.engine.vault_id(), request))));
                    }
                    if ctx.engine.reseal_count(ctx.vault) == 0 {
                        self.step = RotateStep::Retire;
                    } else {
                        // Records edited here meanwhile (their edit goes out under the
                        // new key), or more conflicts than expected: catch up again.
                        self.again()?;
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
                    return Ok(Some(send(call)));
                }
                RotateStep::Done => return Ok(None),
            }
        }
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        if let RotateStep::CatchUp(sync) = &mut self.step {
            return sync.answer(ctx, input);
        }
        match (&mut self.step, reply(input)?) {
            (RotateStep::Fetch, Reply::Envelope(doc)) => {
                let event = ctx.engine.check_envelope(ctx.vault, &doc)?;
                self.events.extend(event);
                self.step = RotateStep::Start;
                Ok(None)
            }
            (RotateStep::Reseal { .. }, Reply::Pushed(answer)) => {
                let events = ctx.engine.apply_push(ctx.vault, &answer)?;
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
                self.again()?;
                Ok(None)
            }
            (RotateStep::Reseal { .. }, Reply::Refused(refusal))
                if refusal.code == ErrorCode::HeadStale =>
            {
                // Another device pushed first: catch up (the sync pulls and pushes), then
                // re-seal what is left.
                self.again()?;
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
                        self.step = RotateStep::CatchUp(SyncRun::new());
                        Ok(None)
                    }
                    Reply::Refused(refusal) if refusal.code == ErrorCode::Conflict => {
                        // Another device changed the envelope first: adopt it, then
                        // decide again (it may have started or finished a rotation).
                        self.events.extend(adopt_current(ctx, &refusal)?);
                        if retiring {
                            self.again()?;
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

    fn needs_every_value(&self) -> bool {
        true
    }
}
