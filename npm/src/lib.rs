//! # vaultsync-npm
//!
//! The npm package `vaultsync`: the JS API of the [`vaultsync`] crate (wasm-bindgen), and
//! the only crate that mentions JS. It converts arguments, calls the core crate's crypto
//! and sync operations, runs them over `fetch` and WebCrypto, and maps errors to coded JS
//! errors. JS receives opaque handles ([`Vault`], `SyncClient`) and sealed values, never
//! key bytes.
//!
//! A crate of its own so that it can be optimised for size (`opt-level = "z"` in the
//! workspace's release profile: glue, promises and the account flows, none of them on a
//! sync's hot path) while the engine and the crypto it calls stay at `opt-level = 3`
//! (BENCHMARKS.md, ".wasm size"). It compiles to nothing on other targets.
#![cfg(target_arch = "wasm32")]

mod account;
mod client;
mod device;
mod error;
mod guard;
mod history;
mod http;
mod large;
mod link;
mod live;
mod options;
mod records;
mod run;
mod status;
mod store;
#[cfg(test)]
mod tests;
mod vault;
mod webcrypto;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use error::js;
use vaultsync::crypto::kdf::{DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS};
use vaultsync::crypto::record::MAX_VERSION;
use vaultsync::crypto::{KdfParams, MasterKey, OsEntropy, Password, to_base64url};

pub use vault::{
    CreatedVault, PasswordKeys, RecoveredVault, Vault, create_vault, derive_keys, recover, unlock,
};

thread_local! {
    /// Randomness for record nonces and record ids: one `getRandomValues` call per 4 KiB
    /// instead of one per record. Keys and salts come straight from `OsEntropy`.
    static POOL: RefCell<vaultsync::crypto::EntropyPool> = RefCell::default();
}

/// Runs `f` with the thread's entropy pool.
fn with_pool<T>(f: impl FnOnce(&mut vaultsync::crypto::EntropyPool) -> T) -> T {
    POOL.with(|pool| f(&mut pool.borrow_mut()))
}

/// An asynchronous export's work.
type Task = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// Runs a task as a JS promise. Every asynchronous export goes through here with the same
/// boxed future type, so the promise machinery is compiled once, not once per export
/// (BENCHMARKS.md, ".wasm size").
fn promise(task: Task) -> Promise {
    wasm_bindgen_futures::future_to_promise(task)
}

/// What to do with the PBKDF2 output of [`derive_then`].
type Then = Box<dyn FnOnce(MasterKey, KdfParams) -> Result<JsValue, JsValue>>;

/// PBKDF2 of `password` with `kdf` (WebCrypto when present), then `then`, as a promise:
/// the one asynchronous shape of the functions that unlock or make a vault.
fn derive_then(password: Password, kdf: KdfParams, then: Then) -> Promise {
    promise(Box::pin(async move {
        let (master, _) = webcrypto::pbkdf2(&password, &kdf).await;
        then(master, kdf)
    }))
}

/// A promise rejected with `error` (a check that failed before any asynchronous work).
fn rejected(error: JsValue) -> Promise {
    Promise::reject(&error)
}

#[wasm_bindgen(typescript_custom_section)]
const TS_LIMITS: &str = r#"
/** Limits and defaults of this version of the package. */
export interface VaultsyncLimits {
  defaultIterations: number;
  minIterations: number;
  maxIterations: number;
  maxVersion: number;
  maxPlaintextBytes: number;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const TS_KDF: &str = r#"
/** KDF parameters as the sync server stores and answers them (prelogin, envelope). */
export interface VaultsyncKdf {
  algorithm: "pbkdf2-sha256";
  iterations: number;
  /** Unpadded base64url. */
  salt: string;
}
"#;

/// `{algorithm, iterations, salt}` for the server.
fn kdf_object(params: &KdfParams) -> JsValue {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"algorithm".into(), &"pbkdf2-sha256".into());
    let _ = js_sys::Reflect::set(
        &o,
        &"iterations".into(),
        &f64::from(params.iterations()).into(),
    );
    let _ = js_sys::Reflect::set(&o, &"salt".into(), &to_base64url(params.salt()).into());
    o.into()
}

/// Limits and defaults of this version of the package.
#[wasm_bindgen(js_name = limits, unchecked_return_type = "VaultsyncLimits")]
pub fn limits() -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: f64| {
        let _ = js_sys::Reflect::set(&o, &k.into(), &v.into());
    };
    set("defaultIterations", f64::from(DEFAULT_ITERATIONS));
    set("minIterations", f64::from(MIN_ITERATIONS));
    set("maxIterations", f64::from(MAX_ITERATIONS));
    set("maxVersion", MAX_VERSION as f64);
    set(
        "maxPlaintextBytes",
        vaultsync::crypto::record::MAX_PLAINTEXT_LEN as f64,
    );
    o.into()
}

fn iterations_arg(iterations: Option<u32>) -> u32 {
    iterations.unwrap_or(DEFAULT_ITERATIONS)
}

fn fresh_kdf(iterations: Option<u32>) -> Result<KdfParams, JsValue> {
    KdfParams::generate(iterations_arg(iterations), &mut OsEntropy).map_err(js)
}
