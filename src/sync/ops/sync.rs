//! A sync: every pending edit pushed, every page pulled.

use vaultsync_wire::{ChangesResponse, ErrorCode};

use super::{
    Call, Ctx, Input, OpError, Operation, Reply, Step, adopt_current, bad_answer, reply, send,
};
use crate::sync::engine::DEFAULT_PUSH_ITEMS;
use crate::sync::event::{Event, Progress};

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
    /// behind (bounded, in case another device keeps writing). Counted when the sync
    /// starts sending, from the edits pending then.
    rounds_left: Option<usize>,
    pushed: usize,
    pulled: usize,
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
            pushing: true,
            done: false,
            rounds_left: None,
            pushed: 0,
            pulled: 0,
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
        self.pulled += page.changes.len();
        self.done = !page.more;
        Ok(Some(Progress::Pull {
            done: self.pulled,
            more: page.more,
        }))
    }
}

impl Operation for SyncRun {
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        if self.done {
            return Ok(None);
        }
        if self.pushing {
            let rounds_left = self
                .rounds_left
                .get_or_insert(ctx.engine.pending_count() / DEFAULT_PUSH_ITEMS + 8);
            if *rounds_left > 0 {
                let request =
                    ctx.engine
                        .prepare_push(ctx.vault, DEFAULT_PUSH_ITEMS, &mut *ctx.entropy)?;
                if let Some(request) = request {
                    *rounds_left -= 1;
                    return Ok(Some(send(Call::Push(ctx.engine.vault_id(), request))));
                }
            }
            self.pushing = false;
        }
        let vault = ctx.engine.vault_id();
        Ok(Some(send(match self.held {
            Some(_) => Call::GetEnvelope(vault),
            None => Call::Changes {
                vault,
                since: ctx.engine.cursor(),
            },
        })))
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        match reply(input)? {
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
