//! `client.live()`: the live channel (`js/live.js`: a WebSocket to `/v1/events`, or a
//! long-poll where there is none) wired to this client through a small port of
//! callbacks: a ticket, a long-poll, a hint for the engine, a sync. Hints are weighed by
//! `vaultsync::sync::live::Hints` (the same rules as the native client): a pull only
//! when the hinted cursor is past the engine's, one in flight, at most one a second.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::client::{SyncClient, request_promise, sync_promise};
use crate::run::{Inner, locked, read, write};
use vaultsync::sync::Call;
use vaultsync::sync::live::Due;
use vaultsync_wire::MAX_WAIT_SECONDS;

#[wasm_bindgen(module = "/js/live.js")]
extern "C" {
    /// A running live channel (`js/live.js`).
    pub(crate) type Live;

    #[wasm_bindgen(js_name = startLive)]
    fn start_live(port: &Object, options: &JsValue) -> Live;

    #[wasm_bindgen(method)]
    pub(crate) fn stop(this: &Live);
}

#[wasm_bindgen(typescript_custom_section)]
const TS_LIVE: &str = r#"
/** Options of `client.live()`. */
export interface LiveOptions {
  /** What each pull the live channel started changed here (never called with nothing). */
  onChange?: (events: SyncEvent[]) => void;
  /** The channel is up (a hint arrived, the catch-up included) or down (reconnecting, with backoff). */
  onConnection?: (connected: boolean) => void;
  /** A pull or a connection failed. `INVALID_TOKEN` and `LOCKED` also stop the channel. */
  onError?: (error: Error) => void;
  /** A device asked to join the account (over a WebSocket only): call `pendingLinks()`. */
  onLink?: () => void;
  /** While the channel is down, pull every this many ms (default 30000; 0: never, as in an extension that syncs on `chrome.alarms`). */
  pollMs?: number;
  /** The WebSocket constructor (default `globalThis.WebSocket`; `null` forces the long-poll). */
  WebSocket?: unknown;
}
"#;

#[wasm_bindgen]
impl SyncClient {
    /// Follows the vault live: other devices' pushes are pulled within about a second,
    /// without calling `sync()`. Over a WebSocket (in an MV3 service worker it keeps the
    /// worker alive while the vault is unlocked: heartbeats every 20 s), or a long-poll
    /// where there is none (Node 20). Reconnects with backoff; polls while down. Hints
    /// from the server are only hints: every pull is checked as `sync()` checks it.
    /// `lock()` and `stopLive()` end it; calling it again restarts it.
    pub fn live(
        &self,
        #[wasm_bindgen(unchecked_param_type = "LiveOptions")] options: JsValue,
    ) -> Result<(), JsValue> {
        self.stop_live();
        let (url, vault) = {
            let inner = read(&self.inner)?;
            (inner.server.base().to_string(), inner.engine.vault_id())
        };
        let port = Object::new();
        let weak = Rc::downgrade(&self.inner);
        set(&port, "url", &url.into());
        set(&port, "vault", &vault.to_string().into());
        set(
            &port,
            "ticket",
            &call(weak.clone(), move |_, _| Call::LiveTicket),
        );
        set(
            &port,
            "wait",
            &call(weak.clone(), move |cursor, seconds| Call::Wait {
                vault,
                since: cursor,
                wait: (seconds.max(0.0) as u64).min(MAX_WAIT_SECONDS),
            }),
        );
        let hinted = weak.clone();
        let hint = Closure::<dyn Fn(f64) -> f64>::new(move |cursor: f64| hint(&hinted, cursor));
        set(&port, "hint", &hint.into_js_value());
        let sync = Closure::<dyn Fn() -> Promise>::new(move || match weak.upgrade() {
            Some(inner) => sync_promise(inner),
            None => Promise::reject(&locked()),
        });
        set(&port, "sync", &sync.into_js_value());
        let live = start_live(&port, &options);
        write(&self.inner)?.live = Some(live);
        Ok(())
    }

    /// Stops the live channel (its socket closes). No-op when it is not running.
    #[wasm_bindgen(js_name = stopLive)]
    pub fn stop_live(&self) {
        stop(&self.inner);
    }
}

/// Stops a client's live channel, if any (also on `lock()`).
pub(crate) fn stop(inner: &RefCell<Inner>) {
    let live = inner.try_borrow_mut().ok().and_then(|mut i| i.live.take());
    if let Some(live) = live {
        live.stop();
    }
}

fn set(port: &Object, name: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(port, &name.into(), value);
}

/// A port callback that sends `make(engine cursor, its argument)` with the client's
/// token.
fn call(weak: Weak<RefCell<Inner>>, make: impl Fn(u64, f64) -> Call + 'static) -> JsValue {
    Closure::<dyn Fn(f64) -> Promise>::new(move |arg: f64| match weak.upgrade() {
        Some(inner) => {
            let call = read(&inner).map(|i| make(i.engine.cursor(), arg));
            request_promise(&inner, call)
        }
        None => Promise::reject(&locked()),
    })
    .into_js_value()
}

/// Takes a hint (`cursor` < 0: none, only asks again) and answers when to pull: -1
/// never, else in that many ms.
fn hint(weak: &Weak<RefCell<Inner>>, cursor: f64) -> f64 {
    let Some(inner) = weak.upgrade() else {
        return -1.0;
    };
    let Ok(mut i) = write(&inner) else {
        return -1.0;
    };
    if cursor >= 0.0 {
        i.hints.hint(cursor as u64);
    }
    match i.hints.due(i.engine.cursor(), js_sys::Date::now() as u64) {
        Due::Idle => -1.0,
        Due::Now => 0.0,
        Due::In(ms) => ms as f64,
    }
}
