//! A sync: every pending edit pushed, every page pulled, the vault head checked.

use vaultsync_wire::{ChangesResponse, ErrorCode};

use super::{
    Call, Ctx, Input, OpError, Operation, Reply, Step, adopt_current, bad_answer, reply, send,
};
use crate::sync::engine::DEFAULT_PUSH_ITEMS;
use crate::sync::event::{Event, Progress};

/// Where a sync is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Pushing pending edits in batches, each with the next vault head.
    Push,
    /// Pulling pages until the engine applied a pull whose head checked out.
    Pull,
    /// The vault has no head yet: pushing its first one alone.
    HeadPush,
    Done,
}

/// A sync: push every pending edit in batches (conflicts merged on the way), then pull
/// every page of changes, checked against the vault head on the last page. A push refused
/// because another device pushed first (`HEAD_STALE`) makes the sync pull and push again;
/// one refused because the envelope changed (`ENVELOPE_CHANGED`) and a page made under a
/// newer envelope both make the engine adopt the server's envelope first (refused if it is
/// not this vault's, older or weaker). `RESYNC_REQUIRED` starts a full resync that keeps
/// pending edits; `SERVER_BEHIND` stops the sync with nothing changed (a re-seed is
/// offered), unless another device already re-seeded the server.
#[derive(Debug)]
pub struct SyncRun {
    phase: Phase,
    /// A pull completed since the last push landed.
    pulled: bool,
    /// Push rounds left: every batch, plus a few for merged edits that conflicts leave
    /// behind and for pushes that another device's beat (bounded, in case another device
    /// keeps writing). Counted when the sync starts sending, from the edits pending then.
    rounds_left: Option<usize>,
    pushed: usize,
    pulled_count: usize,
    /// A page that waits for the envelope it was made under.
    held: Option<ChangesResponse>,
    events: Vec<Event>,
}

impl Default for SyncRun {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncRun {
    /// A sync of the replica it is run on.
    pub fn new() -> Self {
        Self {
            phase: Phase::Push,
            pulled: false,
            rounds_left: None,
            pushed: 0,
            pulled_count: 0,
            held: None,
            events: Vec::new(),
        }
    }

    fn apply_page(
        &mut self,
        ctx: &mut Ctx<'_>,
        page: &ChangesResponse,
    ) -> Result<Option<Progress>, OpError> {
        let events = ctx
            .engine
            .apply_changes_with(ctx.vault, page, ctx.resolver)?;
        self.events.extend(events);
        self.pulled_count += page.changes.len();
        let more = page.more || ctx.engine.pulling();
        if !more {
            self.pulled = true;
            self.phase = Phase::Push;
        }
        Ok(Some(Progress::Pull {
            done: self.pulled_count,
            more,
        }))
    }
}

impl Operation for SyncRun {
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        let vault = ctx.engine.vault_id();
        loop {
            match self.phase {
                Phase::Push => {
                    let rounds_left = self
                        .rounds_left
                        .get_or_insert(ctx.engine.pending_count() / DEFAULT_PUSH_ITEMS + 8);
                    if *rounds_left > 0 {
                        let request = ctx.engine.prepare_push(
                            ctx.vault,
                            DEFAULT_PUSH_ITEMS,
                            &mut *ctx.entropy,
                        )?;
                        if let Some(request) = request {
                            *rounds_left -= 1;
                            return Ok(Some(send(Call::Push(vault, request))));
                        }
                    }
                    self.phase = if self.pulled {
                        Phase::HeadPush
                    } else {
                        Phase::Pull
                    };
                }
                Phase::Pull => {
                    return Ok(Some(send(match self.held {
                        Some(_) => Call::GetEnvelope(vault),
                        None => Call::Changes {
                            vault,
                            since: ctx.engine.cursor(),
                            full: ctx.engine.full_pull(),
                        },
                    })));
                }
                Phase::HeadPush => {
                    match ctx.engine.prepare_head_push(ctx.vault, &mut *ctx.entropy)? {
                        Some(request) => return Ok(Some(send(Call::Push(vault, request)))),
                        None => self.phase = Phase::Done,
                    }
                }
                Phase::Done => return Ok(None),
            }
        }
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        let pushing = matches!(self.phase, Phase::Push | Phase::HeadPush);
        match reply(input)? {
            Reply::Pushed(answer) if pushing => {
                let before = ctx.engine.pending_count();
                let events = ctx.engine.apply_push(ctx.vault, &answer)?;
                // A push that landed made progress: its round is given back, so that a
                // sync of many large records (batches bounded by bytes) pushes them all;
                // only rounds that did not land are bounded.
                if ctx.engine.pending_count() < before {
                    if let Some(rounds) = self.rounds_left.as_mut() {
                        *rounds += 1;
                    }
                }
                self.events.extend(events);
                self.pushed += answer.results.len();
                if self.phase == Phase::HeadPush {
                    self.phase = Phase::Done;
                    return Ok(None);
                }
                self.pulled = false;
                Ok(Some(Progress::Push {
                    done: self.pushed,
                    pending: ctx.engine.pending_count(),
                }))
            }
            Reply::Refused(refusal) if pushing && refusal.code == ErrorCode::EnvelopeChanged => {
                // Another device changed the password or the keys: adopt its envelope,
                // then push again (sealed again if the current key changed).
                self.events.extend(adopt_current(ctx, &refusal)?);
                Ok(None)
            }
            Reply::Refused(refusal) if pushing && refusal.code == ErrorCode::HeadStale => {
                // Another device pushed first: pull its changes, then push again on top.
                self.phase = Phase::Pull;
                self.pulled = false;
                Ok(None)
            }
            Reply::Page(page) if self.phase == Phase::Pull => {
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
                if self.phase == Phase::Pull && refusal.code == ErrorCode::ResyncRequired =>
            {
                if ctx.engine.cursor() == 0 {
                    // A full pull is always answered: a server that refuses it is broken.
                    return Err(OpError::Refused(refusal));
                }
                ctx.engine.start_resync();
                Ok(None)
            }
            Reply::Refused(refusal)
                if self.phase == Phase::Pull && refusal.code == ErrorCode::ServerBehind =>
            {
                if ctx.engine.cursor() == 0
                    || !ctx.engine.server_behind_answer(refusal.head.as_deref())
                {
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
