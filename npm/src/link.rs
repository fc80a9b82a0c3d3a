//! Devices and linking from JS: `SyncClient.requestLink` (a new device asks; `LinkRequest`
//! shows the phrase and its `approved()` promise resolves to the client), and on an
//! unlocked client `pendingLinks`, `approveLink`, `denyLink`, `devices`, `revokeDevice`.
//! Every step is an existing driver's: the new device's side is an account flow
//! ([`AccountRun::link`], driven like a login), the approval an operation
//! ([`ApproveRun`], driven like a sync), the rest plain requests. So linking adds no
//! asynchronous code of its own to the .wasm (BENCHMARKS.md, ".wasm size").

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

use crate::account::{account_options, account_task, read_options};
use crate::client::{SyncClient, op_promise, request_promise};
use crate::error::{bad_input, js};
use crate::http::Remote;
use crate::with_pool;
use vaultsync::crypto::from_base64url;
use vaultsync::crypto::link::REQUEST_ID_LEN;
use vaultsync::sync::ops::link::{ApproveRun, LinkAsk};
use vaultsync::sync::{AccountRun, Call};
use vaultsync_wire as wire;

#[wasm_bindgen(typescript_custom_section)]
const TS_LINK: &str = r#"
/** A request to join the account, as an unlocked device sees it (`pendingLinks()`). */
export interface LinkOffer {
  /** Pass to approveLink / denyLink. */
  requestId: string;
  label: string;
  /** Approve only if the new device shows the same six words. */
  phrase: string;
  /** Unix milliseconds. */
  expiresAt: number;
}
/** A device of the account (`devices()`; times in Unix milliseconds). */
export interface DeviceInfo {
  id: number;
  label: string;
  /** Its X25519 public key (unpadded base64url), for a device that joined by linking. */
  public_key?: string;
  created_at: number;
  last_seen_at?: number;
  /** This device. */
  current: boolean;
}
"#;

/// A new device's request to join an account: show `phrase`, then await `approved()`.
#[wasm_bindgen]
pub struct LinkRequest {
    phrase: String,
    expires_at: f64,
    approved: Promise,
    cancelled: Rc<Cell<bool>>,
}

#[wasm_bindgen]
impl LinkRequest {
    /// The link phrase (six words): the approving device must show the same.
    #[wasm_bindgen(getter)]
    pub fn phrase(&self) -> String {
        self.phrase.clone()
    }

    /// When the request expires (Unix milliseconds): 15 minutes after it was made.
    #[wasm_bindgen(getter, js_name = expiresAt)]
    pub fn expires_at(&self) -> f64 {
        self.expires_at
    }

    /// This device's client once another device approved the request (with
    /// `options.store`, already in the device store); call `sync()` next. Rejects with
    /// `LINK_REFUSED` when the request is denied, expires, was already used, is cancelled,
    /// or its answer is not sealed to this device (a substituted key), and with the
    /// server's code (`RATE_LIMITED`, `NETWORK`, …) when the request was not taken.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncClient>")]
    pub fn approved(&self) -> Promise {
        self.approved.clone()
    }

    /// Stops waiting: `approved()` rejects with `LINK_REFUSED` at its next check (within
    /// 1.5 s). The request itself expires on the server.
    pub fn cancel(&self) {
        self.cancelled.set(true);
    }
}

/// A request id from `pendingLinks()`.
fn request_id(id: &str) -> Result<[u8; REQUEST_ID_LEN], JsValue> {
    from_base64url(id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad_input("a requestId from pendingLinks()"))
}

#[wasm_bindgen]
impl SyncClient {
    /// Asks to join `username`'s account on `server` as a new device labelled `label`,
    /// without the password. Show `request.phrase`; a device already logged in lists the
    /// request with its phrase (`pendingLinks()`), and the user approves it there only if
    /// the two phrases match. Then `await request.approved()` is this device's client.
    #[wasm_bindgen(js_name = requestLink)]
    pub fn request_link(
        server: String,
        username: String,
        label: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Result<LinkRequest, JsValue> {
        let options = read_options(options)?;
        let remote = Remote::new(&server, options.fetch.clone())?;
        let (ask, request) =
            with_pool(|entropy| LinkAsk::new(&username, &label, entropy)).map_err(js)?;
        let phrase = ask.phrase();
        let run = AccountRun::link(ask, request, account_options(&options));
        let cancelled = Rc::new(Cell::new(false));
        let approved = account_task(options, remote, run, false, Some(cancelled.clone()));
        // Handled from the start: an application that cancels without awaiting
        // `approved()` gets no unhandled rejection (awaiting it still throws).
        // (One small closure per request, left to the JS garbage collector's side.)
        let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
        let _ = approved.catch(&ignore);
        ignore.forget();
        Ok(LinkRequest {
            phrase,
            expires_at: js_sys::Date::now() + wire::LINK_LIFE_MS as f64,
            approved,
            cancelled,
        })
    }

    /// The account's pending requests to join, each with its phrase.
    #[wasm_bindgen(js_name = pendingLinks, unchecked_return_type = "Promise<LinkOffer[]>")]
    pub fn pending_links(&self) -> Promise {
        request_promise(&self.inner, Ok(Call::PendingLinks))
    }

    /// Approves a request to join, once the user compared its phrase with the one the new
    /// device shows: seals this vault's root key, the envelope's pins and the last verified
    /// vault head to the new device's key (the server cannot open it). `LINK_REFUSED` when
    /// it is no longer pending.
    #[wasm_bindgen(js_name = approveLink, unchecked_return_type = "Promise<void>")]
    pub fn approve_link(
        &self,
        #[wasm_bindgen(js_name = "requestId")] request_id: String,
    ) -> Promise {
        let op = self::request_id(&request_id).map(|id| Box::new(ApproveRun::new(id)) as _);
        op_promise(self.inner.clone(), op, false)
    }

    /// Denies a request to join: the new device's `approved()` rejects with `LINK_REFUSED`.
    #[wasm_bindgen(js_name = denyLink, unchecked_return_type = "Promise<void>")]
    pub fn deny_link(&self, #[wasm_bindgen(js_name = "requestId")] request_id: String) -> Promise {
        let call = self::request_id(&request_id).map(|id| Call::DenyLink(wire::Blob(id.to_vec())));
        request_promise(&self.inner, call)
    }

    /// The account's devices, newest first (this one has `current: true`).
    #[wasm_bindgen(unchecked_return_type = "Promise<DeviceInfo[]>")]
    pub fn devices(&self) -> Promise {
        request_promise(&self.inner, Ok(Call::Devices))
    }

    /// Revokes one of the account's devices: its tokens stop working at once, its live
    /// channel closes, and it is told `DEVICE_REVOKED` when it comes back.
    #[wasm_bindgen(js_name = revokeDevice, unchecked_return_type = "Promise<void>")]
    pub fn revoke_device(&self, id: f64) -> Promise {
        let call = if id.fract() == 0.0 && (1.0..=wire::MAX_VERSION as f64).contains(&id) {
            Ok(Call::RevokeDevice(id as u64))
        } else {
            Err(bad_input("a device id is a whole number from devices()"))
        };
        request_promise(&self.inner, call)
    }
}
