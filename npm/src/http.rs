//! `SyncClient`'s plumbing: the operations' requests through the runtime's `fetch`, JSON
//! in and out of JS, and coded errors.

use js_sys::{Function, JSON, Object, Promise, Reflect};
use serde_json::Value;
use vaultsync_wire::BearerToken;
use vaultsync_wire::json::ToJson;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use crate::error::{bad_input, js_error};
use vaultsync::code::Code;
use vaultsync::sync::{Bearer, Call, OpError, Reply, Send, SyncError};

/// Where requests go: the server's base URL, and the application's own `fetch` if it gave
/// one (the runtime's otherwise).
#[derive(Clone)]
pub(super) struct Remote {
    base: String,
    fetch: Option<Function>,
}

impl Remote {
    /// The server's URL without a trailing slash.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) fn new(server: &str, fetch: Option<Function>) -> Result<Self, JsValue> {
        let base = server.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(bad_input(
                "the server URL must start with http:// or https://",
            ));
        }
        Ok(Self {
            base: base.to_string(),
            fetch,
        })
    }
}

pub(super) fn sync_error(e: SyncError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

/// An operation's error as a coded JS error (with `status` when the server refused).
pub(super) fn op_error(e: OpError) -> JsValue {
    let error = js_error(e.code(), &e.to_string());
    if let OpError::Refused(refusal) = &e {
        let _ = Reflect::set(&error, &"status".into(), &f64::from(refusal.status).into());
    }
    error
}

/// Sends one request of an operation through `fetch` (with `session` for
/// [`Bearer::Session`]) and reads the answer: a reply of the expected shape or the
/// server's refusal. `NETWORK` when no answer came.
pub(super) async fn perform(
    server: &Remote,
    send: &Send,
    session: Option<&BearerToken>,
) -> Result<Reply, JsValue> {
    let started = start(server, send, session)?;
    answer(server, &send.call, started).await
}

/// Starts the request (`fetch` is called now; its answer is read by [`answer`]).
pub(super) fn start(
    server: &Remote,
    send: &Send,
    session: Option<&BearerToken>,
) -> Result<Promise, JsValue> {
    let token = match &send.bearer {
        Bearer::None => None,
        Bearer::Session => session,
        Bearer::Issued(token) => Some(token),
    };
    let call = &send.call;
    let global = js_sys::global();
    let fetch: Function = match &server.fetch {
        Some(fetch) => fetch.clone(),
        None => Reflect::get(&global, &"fetch".into())?
            .dyn_into()
            .map_err(|_| js_error(Code::Network, "this runtime has no fetch()"))?,
    };
    let init = Object::new();
    let headers = Object::new();
    Reflect::set(&init, &"method".into(), &call.method().into())?;
    if let Some(token) = token {
        let header = Zeroizing::new(format!("Bearer {}", token.expose()));
        Reflect::set(&headers, &"authorization".into(), &header.as_str().into())?;
    }
    if let Some(body) = call.body() {
        Reflect::set(&headers, &"content-type".into(), &"application/json".into())?;
        Reflect::set(&init, &"body".into(), &body.into())?;
    }
    Reflect::set(&init, &"headers".into(), &headers)?;
    let url = format!("{}{}", server.base, call.path());
    fetch
        .call2(&global, &url.into(), &init)
        .map_err(|e| js_error(Code::Network, &format!("fetch() threw: {}", describe(&e))))?
        .dyn_into()
        .map_err(|_| js_error(Code::Network, "fetch() did not return a promise"))
}

/// The answer to a request [`start`]ed for `call`: a reply of the expected shape or the
/// server's refusal; `NETWORK` when none came.
pub(super) async fn answer(
    server: &Remote,
    call: &Call,
    started: Promise,
) -> Result<Reply, JsValue> {
    let response = JsFuture::from(started).await.map_err(|e| {
        js_error(
            Code::Network,
            &format!("no answer from {}: {}", server.base, describe(&e)),
        )
    })?;
    let status = Reflect::get(&response, &"status".into())?
        .as_f64()
        .unwrap_or(0.0) as u16;
    let text: Function = Reflect::get(&response, &"text".into())?.dyn_into()?;
    let text = JsFuture::from(Promise::from(text.call0(&response)?))
        .await
        .map_err(|e| js_error(Code::Network, &describe(&e)))?
        .as_string()
        .unwrap_or_default();
    call.read_answer(status, &text).map_err(sync_error)
}

pub(super) fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

pub(super) fn to_js(value: &impl ToJson) -> Result<JsValue, JsValue> {
    JSON::parse(&vaultsync_wire::json::to_string(value))
}

pub(super) fn from_js(value: &JsValue) -> Result<Value, JsValue> {
    if value.is_undefined() {
        return Err(bad_input("a record value must be JSON (not undefined)"));
    }
    let text: String = JSON::stringify(value)
        .map_err(|_| bad_input("a record value must be JSON"))?
        .into();
    vaultsync_wire::json::parse(text.as_bytes())
        .ok_or_else(|| bad_input("a record value must be JSON"))
}
