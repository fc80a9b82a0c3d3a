//! How `SyncClient` runs the sync operations: one at a time per client (turns), each step
//! on the engine and vault borrowed only while it runs, requests through `fetch`, and a
//! `BUSY` error (never a panic) for a callback that calls back into a borrowed client.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use vaultsync_wire::BearerToken;

use crate::error::js_error;
use crate::http::{Remote, answer, op_error, perform, start};
use crate::options::{JsResolver, report};
use crate::{webcrypto, with_pool};
use vaultsync::code::Code;
use vaultsync::crypto::{OsEntropy, UnlockedVault};
use vaultsync::sync::{
    Account, AccountRun, Call, Ctx, Engine, Event, Input, Operation, Reply, Send, Step,
};

/// The state of one `SyncClient`.
pub(super) struct Inner {
    pub(super) server: Remote,
    pub(super) username: String,
    pub(super) token: BearerToken,
    pub(super) vault: UnlockedVault,
    pub(super) engine: Engine,
    pub(super) on_conflict: Option<Function>,
    pub(super) on_progress: Option<Function>,
    /// Settles when the operation under way ends (operations of one client take turns).
    pub(super) running: Option<Promise>,
    /// The device store, when the client keeps one.
    pub(super) store: Option<crate::store::Store>,
    /// What `status()` reports.
    pub(super) status: crate::status::Status,
    /// Called with `status()` whenever it changes.
    pub(super) on_status: Option<Function>,
    /// Lock after this long without use (ms).
    pub(super) auto_lock_ms: Option<f64>,
    /// The session secret handed out (to move its slot's deadline forward on use).
    pub(super) session: Option<vaultsync::crypto::store::SessionSecret>,
    /// When the client was last used, and when the session slot was last written (ms).
    pub(super) last_use: f64,
    pub(super) slot_written: f64,
    /// The vault keys handed to WebCrypto (non-extractable), by key id (`large.rs`).
    pub(super) web_keys: Vec<(u32, JsValue)>,
    /// A background flush of local edits is scheduled.
    pub(super) flush_queued: bool,
    /// Keys forgotten (`lock()`): every call but `free()` fails with `LOCKED`.
    pub(super) locked: bool,
    /// The live channel, while `live()` runs.
    pub(super) live: Option<crate::live::Live>,
    /// Hints of the live channel, and whether a pull is in flight.
    pub(super) hints: vaultsync::sync::live::Hints,
}

impl Inner {
    /// Runs one step of an operation on this client's engine and vault, with conflicts
    /// decided by the application's `onConflict` when it gave one, by the engine's policy
    /// otherwise.
    fn with_ctx<T>(&mut self, step: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let Inner {
            engine,
            vault,
            on_conflict,
            ..
        } = self;
        let mut policy = engine.policy();
        with_pool(|entropy| match on_conflict {
            Some(decide) => step(&mut Ctx {
                engine,
                vault,
                resolver: &mut JsResolver { decide },
                entropy,
            }),
            None => step(&mut Ctx {
                engine,
                vault,
                resolver: &mut policy,
                entropy,
            }),
        })
    }
}

/// The turn of one operation: operations of one client run one after another (a sync
/// started from a timer while another runs from a button waits for it), so they never
/// interleave their requests. Ends, and lets the next one run, when dropped.
struct Turn {
    inner: Rc<RefCell<Inner>>,
    done: Option<Function>,
}

impl Turn {
    async fn take(inner: &Rc<RefCell<Inner>>) -> Result<Self, JsValue> {
        loop {
            let running = read(inner)?.running.clone();
            match running {
                // Whoever resumes first takes the next turn; the others wait again.
                Some(running) => drop(JsFuture::from(running).await),
                None => break,
            }
        }
        let mut done = None;
        let promise = Promise::new(&mut |resolve, _| done = Some(resolve));
        write(inner)?.running = Some(promise);
        Ok(Self {
            inner: inner.clone(),
            done,
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.running = None;
        }
        if let Some(done) = self.done.take() {
            let _ = done.call0(&JsValue::NULL);
        }
    }
}

/// Runs an operation to completion with `fetch`, in its turn. The client is not borrowed
/// across an `await` or while `onProgress` runs, so the application may use it meanwhile
/// (edit, read, save). One loop (one future) serves every operation.
/// An operation that needs every value (`needs_every_value`: a key rotation, a re-seed)
/// has them all in memory while it runs.
pub(super) async fn drive(
    inner: &Rc<RefCell<Inner>>,
    op: &mut dyn Operation,
) -> Result<Vec<Event>, JsValue> {
    let whole = op.needs_every_value();
    let _turn = Turn::take(inner).await?;
    crate::status::set_syncing(inner, true);
    keep_values(inner, whole);
    let outcome = run_steps(inner, op, whole).await;
    keep_values(inner, false);
    crate::status::finished(inner, outcome.as_ref().err());
    outcome
}

fn keep_values(inner: &Rc<RefCell<Inner>>, keep: bool) {
    if let Ok(mut i) = write(inner) {
        if let Some(store) = i.store.as_mut() {
            store.keep_values = keep;
        }
    }
}

/// Loads what the next step needs from the device store: the bases of pending edits,
/// every value before a full pull, or every value for a `whole` operation.
async fn load_needed(inner: &Rc<RefCell<Inner>>, whole: bool) -> Result<(), JsValue> {
    let ids = {
        let i = read(inner)?;
        if whole {
            i.engine.away_ids()
        } else {
            i.engine.needs_loading()
        }
    };
    // A value refused is left out (the next sync is a full pull that brings it back) and
    // reported in the status: the sync goes on.
    crate::store::load(inner, &ids).await.map(drop)
}

/// The steps of [`drive`]: what changed goes to the device store after every answer (a
/// worker stopped mid-sync loses nothing: the store holds a state the engine resumes).
async fn run_steps(
    inner: &Rc<RefCell<Inner>>,
    op: &mut dyn Operation,
    whole: bool,
) -> Result<Vec<Event>, JsValue> {
    let (server, token, on_progress) = {
        let i = read(inner)?;
        (i.server.clone(), i.token.clone(), i.on_progress.clone())
    };
    crate::store::flush(inner).await?;
    // The next page of a pull, requested while the engine takes this one.
    let mut ahead: Option<(Call, Promise)> = None;
    loop {
        load_needed(inner, whole).await?;
        let step = write(inner)?.with_ctx(|ctx| op.next(ctx)).map_err(op_error);
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                crate::store::flush(inner).await?;
                return Err(e);
            }
        };
        crate::store::flush(inner).await?;
        let Some(step) = step else {
            return Ok(op.take_events());
        };
        let input = match (&step, ahead.take()) {
            (Step::Send(send), Some((call, started))) if same_page(&send.call, &call) => {
                Input::Reply(answer(&server, &send.call, started).await?)
            }
            _ => perform_step(&server, &step, Some(&token)).await?,
        };
        if let (Step::Send(send), Input::Reply(Reply::Page(page))) = (&step, &input) {
            if let Some(call) = send.call.next_page(page) {
                let next = Send {
                    call,
                    bearer: send.bearer.clone(),
                };
                let started = start(&server, &next, Some(&token))?;
                ahead = Some((next.call, started));
            }
            crate::large::open_large(inner, page).await?;
        }
        // An edit made while the request ran may need its base (nothing awaits between
        // this load and the answer).
        load_needed(inner, whole).await?;
        let progress = write(inner)?
            .with_ctx(|ctx| op.answer(ctx, input))
            .map_err(op_error);
        crate::store::flush(inner).await?;
        if let Some(progress) = progress? {
            report(&on_progress, progress);
        }
    }
}

/// Whether `call` asks for the page `started` was requested for.
fn same_page(call: &Call, started: &Call) -> bool {
    match (call, started) {
        (
            Call::Changes { vault, since, full },
            Call::Changes {
                vault: v,
                since: s,
                full: f,
            },
        ) => (vault, since, full) == (v, s, f),
        _ => false,
    }
}

/// Runs an account flow (register, login, recovery, linking) to completion; on failure, revokes
/// the token the server issued to it.
pub(super) async fn drive_account(
    server: &Remote,
    mut run: AccountRun,
    cancelled: Option<&Cell<bool>>,
) -> Result<Account, JsValue> {
    let outcome: Result<(), JsValue> = async {
        while let Some(step) = run.next(&mut OsEntropy).map_err(op_error)? {
            if cancelled.is_some_and(Cell::get) {
                return Err(js_error(
                    Code::LinkRefused,
                    "the link request was cancelled",
                ));
            }
            let input = perform_step(server, &step, None).await?;
            run.answer(input, &mut OsEntropy).map_err(op_error)?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if let Some(logout) = run.abandon() {
            let _ = perform(server, &logout, None).await;
        }
        return Err(e);
    }
    run.into_account()
        .ok_or_else(|| js_error(Code::BadAnswer, "the account flow did not finish"))
}

/// Performs one step: a request through `fetch`, or PBKDF2 (WebCrypto when present).
async fn perform_step(
    server: &Remote,
    step: &Step,
    session: Option<&BearerToken>,
) -> Result<Input, JsValue> {
    Ok(match step {
        Step::Send(send) => Input::Reply(perform(server, send, session).await?),
        Step::Derive { password, kdf } => Input::Master(webcrypto::pbkdf2(password, kdf).await.0),
        Step::Wait { ms } => {
            crate::device::sleep(*ms).await;
            Input::Waited
        }
        _ => return Err(js_error(Code::BadAnswer, "a step this version cannot take")),
    })
}

/// The client is borrowed by the engine while `onConflict` runs: a callback that calls
/// back into the client gets this error (it already has both values).
fn busy() -> JsValue {
    js_error(
        Code::Busy,
        "the client is deciding a conflict: onConflict must not call it (it gets both values)",
    )
}

pub(crate) fn locked() -> JsValue {
    js_error(
        Code::Locked,
        "the client is locked: its keys are gone; open it again with the password",
    )
}

pub(super) fn read(inner: &RefCell<Inner>) -> Result<Ref<'_, Inner>, JsValue> {
    let inner = inner.try_borrow().map_err(|_| busy())?;
    if inner.locked {
        return Err(locked());
    }
    Ok(inner)
}

pub(super) fn write(inner: &RefCell<Inner>) -> Result<RefMut<'_, Inner>, JsValue> {
    let inner = inner.try_borrow_mut().map_err(|_| busy())?;
    if inner.locked {
        return Err(locked());
    }
    Ok(inner)
}
