//! Re-seeding a server that has less than this device saw (PROTOCOL.md, "Re-seeding").

use vaultsync_wire::ErrorCode;

use super::{Call, Ctx, Input, OpError, Operation, Reply, Step, SyncRun, bad_answer, reply, send};
use crate::sync::engine::{DEFAULT_PUSH_ITEMS, Survey};
use crate::sync::event::{Event, Progress};

/// A re-seed, run when the server answered `SERVER_BEHIND` or an older vault head
/// (`ROLLBACK`) and the application (its user) confirmed: (1) read everything the server
/// holds, applying nothing; (2) push every record whose value here differs, at a version
/// above both, under the first head of a new chain; (3) sync, which pulls the result in
/// full and checks it against that head. Records the server has and this device never
/// knew stay as they are; nothing is deleted on the server's word.
///
/// If another device pushes first (`HEAD_STALE`), the re-seed stops and a sync runs
/// instead: it merges this device's records into what is there.
#[derive(Debug)]
pub struct ReseedRun {
    step: ReseedStep,
    survey: Survey,
    written: usize,
    events: Vec<Event>,
}

#[derive(Debug)]
enum ReseedStep {
    Survey,
    Push,
    Sync(SyncRun),
}

impl Default for ReseedRun {
    fn default() -> Self {
        Self::new()
    }
}

impl ReseedRun {
    /// A re-seed from this device.
    pub fn new() -> Self {
        Self {
            step: ReseedStep::Survey,
            survey: Survey::default(),
            written: 0,
            events: Vec::new(),
        }
    }
}

impl Operation for ReseedRun {
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        let vault = ctx.engine.vault_id();
        loop {
            match &mut self.step {
                ReseedStep::Survey => {
                    return Ok(Some(send(Call::Changes {
                        vault,
                        since: self.survey.cursor(),
                        full: true,
                    })));
                }
                ReseedStep::Push => {
                    let request = ctx.engine.prepare_reseed(
                        ctx.vault,
                        &mut self.survey,
                        DEFAULT_PUSH_ITEMS,
                        &mut *ctx.entropy,
                    )?;
                    if let Some(request) = request {
                        return Ok(Some(send(Call::Push(vault, request))));
                    }
                    let survey = core::mem::take(&mut self.survey);
                    ctx.engine.finish_reseed(survey);
                    self.step = ReseedStep::Sync(SyncRun::new());
                }
                ReseedStep::Sync(sync) => {
                    let step = sync.next(ctx)?;
                    if step.is_none() {
                        self.events.extend(sync.take_events());
                    }
                    return Ok(step);
                }
            }
        }
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        if let ReseedStep::Sync(sync) = &mut self.step {
            return sync.answer(ctx, input);
        }
        match (&self.step, reply(input)?) {
            (ReseedStep::Survey, Reply::Page(page)) => {
                ctx.engine.survey_page(ctx.vault, &mut self.survey, &page)?;
                if self.survey.done() {
                    // A push of this device's still unanswered was made for the server as
                    // it was; its edits are pending and go out with the re-seed.
                    ctx.engine.abandon_push();
                    self.step = ReseedStep::Push;
                }
                Ok(None)
            }
            (ReseedStep::Push, Reply::Pushed(answer)) => {
                ctx.engine.apply_reseed(&mut self.survey, &answer)?;
                self.written += answer.results.len();
                Ok(Some(Progress::Push {
                    done: self.written,
                    pending: ctx.engine.pending_count(),
                }))
            }
            (ReseedStep::Push, Reply::Refused(refusal))
                if matches!(
                    refusal.code,
                    ErrorCode::HeadStale | ErrorCode::EnvelopeChanged
                ) =>
            {
                // Another device got there first: a sync merges this device's records in.
                ctx.engine.abandon_push();
                self.step = ReseedStep::Sync(SyncRun::new());
                Ok(None)
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
