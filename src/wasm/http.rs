//! `SyncClient`'s plumbing: HTTP through the runtime's `fetch`, JSON in and out of JS, and
//! coded errors for the server's answers.

use js_sys::{Function, JSON, Object, Promise, Reflect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vaultsync_wire as wire;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::{bad_input, js_error};
use crate::sync::{OpError, SyncError};

/// Where requests go: the server's base URL, and the application's own `fetch` if it gave
/// one (the runtime's otherwise).
#[derive(Clone)]
pub(super) struct Remote {
    base: String,
    fetch: Option<Function>,
}

impl Remote {
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

/// A request to the server through `fetch`. Errors: the server's own `{error: {code,
/// message}}` as a coded error (with `status`), `NETWORK` when no answer came,
/// `BAD_ANSWER` when the answer is not the expected JSON.
pub(super) async fn request(
    server: &Remote,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(u16, String), JsValue> {
    let global = js_sys::global();
    let fetch: Function = match &server.fetch {
        Some(fetch) => fetch.clone(),
        None => Reflect::get(&global, &"fetch".into())?
            .dyn_into()
            .map_err(|_| js_error("NETWORK", "this runtime has no fetch()"))?,
    };
    let init = Object::new();
    let headers = Object::new();
    Reflect::set(&init, &"method".into(), &method.into())?;
    if let Some(token) = token {
        Reflect::set(
            &headers,
            &"authorization".into(),
            &format!("Bearer {token}").into(),
        )?;
    }
    if let Some(body) = body {
        Reflect::set(&headers, &"content-type".into(), &"application/json".into())?;
        Reflect::set(&init, &"body".into(), &body.into())?;
    }
    Reflect::set(&init, &"headers".into(), &headers)?;
    let url = format!("{}{path}", server.base);
    let promise: Promise = fetch
        .call2(&global, &url.into(), &init)
        .map_err(|e| js_error("NETWORK", &format!("fetch() threw: {}", describe(&e))))?
        .dyn_into()
        .map_err(|_| js_error("NETWORK", "fetch() did not return a promise"))?;
    let response = JsFuture::from(promise).await.map_err(|e| {
        js_error(
            "NETWORK",
            &format!("no answer from {}: {}", server.base, describe(&e)),
        )
    })?;
    let status = Reflect::get(&response, &"status".into())?
        .as_f64()
        .unwrap_or(0.0) as u16;
    let text: Function = Reflect::get(&response, &"text".into())?.dyn_into()?;
    let text = JsFuture::from(Promise::from(text.call0(&response)?))
        .await
        .map_err(|e| js_error("NETWORK", &describe(&e)))?
        .as_string()
        .unwrap_or_default();
    Ok((status, text))
}

pub(super) fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// A JSON request whose successful answer parses as `T`.
pub(super) async fn call<T: DeserializeOwned>(
    server: &Remote,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&impl Serialize>,
) -> Result<T, JsValue> {
    let body = body
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| bad_input("the request cannot be written as JSON"))?;
    let (status, text) = request(server, method, path, token, body).await?;
    if !(200..300).contains(&status) {
        return Err(server_error(status, &text));
    }
    serde_json::from_str(&text).map_err(|e| {
        js_error(
            "BAD_ANSWER",
            &format!("unexpected answer from the server: {e}"),
        )
    })
}

/// The server's error answer as a coded JS error with its `status`.
pub(super) fn server_error(status: u16, text: &str) -> JsValue {
    let error = match serde_json::from_str::<wire::ErrorBody>(text) {
        Ok(body) => js_error(body.error.code.as_str(), &body.error.message),
        Err(_) => js_error("BAD_ANSWER", &format!("the server answered {status}")),
    };
    let _ = Reflect::set(&error, &"status".into(), &f64::from(status).into());
    error
}

pub(super) fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|_| bad_input("not JSON"))?;
    JSON::parse(&text)
}

pub(super) fn from_js(value: &JsValue) -> Result<Value, JsValue> {
    if value.is_undefined() {
        return Err(bad_input("a record value must be JSON (not undefined)"));
    }
    let text: String = JSON::stringify(value)
        .map_err(|_| bad_input("a record value must be JSON"))?
        .into();
    serde_json::from_str(&text).map_err(|_| bad_input("a record value must be JSON"))
}

pub(super) async fn expect_no_content(
    server: &Remote,
    method: &str,
    path: &str,
    token: &str,
) -> Result<(), JsValue> {
    let (status, text) = request(server, method, path, Some(token), None).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(server_error(status, &text))
    }
}
