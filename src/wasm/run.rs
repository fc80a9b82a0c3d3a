//! How `SyncClient` runs the sync operations: one at a time per client (turns), each step
//! on the engine and vault borrowed only while it runs, requests through `fetch`, and a
//! `BUSY` error (never a panic) for a callback that calls back into a borrowed client.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use super::error::js_error;
use super::http::{Remote, op_error, request, sync_error};
use super::options::{JsResolver, report};
use super::with_pool;
use crate::crypto::{EntropyPool, UnlockedVault};
use crate::sync::{Ctx, Engine, Event, Operation};

/// The state of one `SyncClient`.
pub(super) struct Inner {
    pub(super) server: Remote,
    pub(super) username: String,
    pub(super) token: Zeroizing<String>,
    pub(super) vault: UnlockedVault,
    pub(super) engine: Engine,
    pub(super) on_conflict: Option<Function>,
    pub(super) on_progress: Option<Function>,
    /// Settles when the operation under way ends (operations of one client take turns).
    pub(super) running: Option<Promise>,
}

impl Inner {
    /// Runs one step of an operation on this client's engine and vault, with conflicts
    /// decided by the application's `onConflict` when it gave one, by the engine's policy
    /// otherwise.
    fn with_ctx<T>(&mut self, step: impl FnOnce(&mut Ctx<'_, EntropyPool>) -> T) -> T {
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
/// (edit, read, save).
pub(super) async fn drive(
    inner: &Rc<RefCell<Inner>>,
    op: &mut impl Operation,
) -> Result<Vec<Event>, JsValue> {
    let _turn = Turn::take(inner).await?;
    let (server, token, vault_id, on_progress) = {
        let i = read(inner)?;
        (
            i.server.clone(),
            i.token.clone(),
            i.vault.vault_id(),
            i.on_progress.clone(),
        )
    };
    loop {
        let call = write(inner)?
            .with_ctx(|ctx| op.next(ctx))
            .map_err(op_error)?;
        let Some(call) = call else {
            return Ok(op.take_events());
        };
        let (status, text) = request(
            &server,
            call.method(),
            &call.path(&vault_id),
            Some(&token),
            call.body(),
        )
        .await?;
        let reply = call.read_answer(status, &text).map_err(sync_error)?;
        let progress = write(inner)?
            .with_ctx(|ctx| op.answer(ctx, reply))
            .map_err(op_error)?;
        if let Some(progress) = progress {
            report(&on_progress, progress);
        }
    }
}

/// The client is borrowed by the engine while `onConflict` runs: a callback that calls
/// back into the client gets this error (it already has both values).
fn busy() -> JsValue {
    js_error(
        "BUSY",
        "the client is deciding a conflict: onConflict must not call it (it gets both values)",
    )
}

pub(super) fn read(inner: &RefCell<Inner>) -> Result<Ref<'_, Inner>, JsValue> {
    inner.try_borrow().map_err(|_| busy())
}

pub(super) fn write(inner: &RefCell<Inner>) -> Result<RefMut<'_, Inner>, JsValue> {
    inner.try_borrow_mut().map_err(|_| busy())
}
