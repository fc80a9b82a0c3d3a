//! A client's life on a device: opening it from the device store (with the password, or
//! with a session secret and no PBKDF2), the session secret itself, `lock()` and auto-lock,
//! and `status()`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Promise};
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::client::SyncClient;
use crate::error::js_error;
use crate::http::{Remote, sync_error, to_js};
use crate::run::{Inner, read, write};
use crate::store::{self, Store};
use crate::{webcrypto, with_pool};
use vaultsync::code::Code;
use vaultsync::crypto::store::SessionSecret;
use vaultsync::crypto::{Envelope, Password, UnlockedVault};
use vaultsync::sync::store::{ENVELOPE, INDEX_PREFIX, META, SESSION};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &JsValue, ms: f64) -> JsValue;
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep(ms: u32) {
    let timer = Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms.into());
    });
    let _ = wasm_bindgen_futures::JsFuture::from(timer).await;
}

/// The client was used: its auto-lock time starts again, and the session slot's deadline
/// moves with it (rewritten at most once a minute).
pub(crate) fn note_use(inner: &Rc<RefCell<Inner>>) {
    let rewrite = {
        let Ok(mut i) = inner.try_borrow_mut() else {
            return;
        };
        if i.locked || i.auto_lock_ms.is_none() {
            return;
        }
        let now = js_sys::Date::now();
        i.last_use = now;
        if i.session.is_none() || now - i.slot_written < 60_000.0 {
            return;
        }
        i.slot_written = now;
        let slot = match (&i.session, &i.store) {
            (Some(secret), Some(_)) => {
                with_pool(|pool| i.vault.session_slot(secret, deadline(&i), pool)).ok()
            }
            _ => None,
        };
        slot.zip(i.store.as_ref().map(|s| s.js.clone()))
    };
    if let Some((slot, js)) = rewrite {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = store::apply(&js, vec![(SESSION.to_string(), slot)], &[]).await;
        });
    }
}

/// Locks the client once it has not been used for its auto-lock time.
pub(crate) fn arm_auto_lock(inner: &Rc<RefCell<Inner>>) {
    let Some(wait) = inner.try_borrow().ok().and_then(|i| {
        let ms = i.auto_lock_ms?;
        (!i.locked).then(|| (i.last_use + ms - js_sys::Date::now()).max(0.0))
    }) else {
        return;
    };
    let weak = Rc::downgrade(inner);
    let check = Closure::once_into_js(move || {
        let Some(inner) = weak.upgrade() else { return };
        let due = inner
            .try_borrow()
            .ok()
            .and_then(|i| Some(js_sys::Date::now() >= i.last_use + i.auto_lock_ms?));
        match due {
            Some(true) => wasm_bindgen_futures::spawn_local(async move {
                let _ = lock(&inner, false).await;
                announce_locked(&inner);
            }),
            _ => arm_auto_lock(&inner),
        }
    });
    set_timeout(&check, wait + 1.0);
}

/// Tells `onStatus` that the client locked itself.
fn announce_locked(inner: &Rc<RefCell<Inner>>) {
    let callback = inner.try_borrow().ok().and_then(|i| i.on_status.clone());
    if let Some(callback) = callback {
        let value = json!({ "locked": true });
        if let Ok(value) = to_js(&value) {
            let _ = callback.call1(&JsValue::NULL, &value);
        }
    }
}

#[wasm_bindgen]
impl SyncClient {
    /// Opens the vault this device stored for `username` on `server` (`options.store`,
    /// default `"indexeddb"`): one PBKDF2 of the password, then the metadata and records
    /// read from the store; no server round trip. Throws `NO_STORE` (nothing stored: log
    /// in), `WRONG_PASSWORD`, `STATE_TAMPERED` (the store's metadata was modified),
    /// `UNSUPPORTED_FORMAT` (a store written by a newer version), `STORE_FAILED`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncClient>")]
    pub fn open(
        server: String,
        username: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let password = Password::new(password);
        opened(server, username, options, Unlock::Password(password))
    }

    /// Opens the stored vault with a session secret from `sessionSecret()` (kept in
    /// `chrome.storage.session`): no password, no PBKDF2. Throws `SESSION_INVALID` (locked,
    /// past the auto-lock time, or another secret: ask for the password and use `open`),
    /// `NO_STORE`, `STATE_TAMPERED`, `STORE_FAILED`.
    #[wasm_bindgen(js_name = openSession, unchecked_return_type = "Promise<SyncClient>")]
    pub fn open_session(
        server: String,
        username: String,
        secret: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let secret = SessionSecret::parse_text(&secret).map_err(|_| {
            js_error(
                Code::SessionInvalid,
                "not a session secret from sessionSecret()",
            )
        });
        match secret {
            Ok(secret) => opened(server, username, options, Unlock::Session(secret)),
            Err(e) => crate::rejected(e),
        }
    }

    /// A session secret for memory-only storage (`chrome.storage.session`): with it,
    /// `openSession` reopens this vault after a service-worker restart without the
    /// password. Writes the session slot to the store (the root key sealed under the
    /// secret); `lock()` deletes it. Throws `NO_STORE` for a client without a store.
    #[wasm_bindgen(js_name = sessionSecret, unchecked_return_type = "Promise<string>")]
    pub fn session_secret(&self) -> Promise {
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            let (js, slot, text) = {
                let mut i = write(&inner)?;
                let js = i
                    .store
                    .as_ref()
                    .map(|s| s.js.clone())
                    .ok_or_else(no_store)?;
                let secret = SessionSecret::generate(&mut vaultsync::crypto::OsEntropy)
                    .map_err(crate::error::js)?;
                let slot = with_pool(|pool| i.vault.session_slot(&secret, deadline(&i), pool))
                    .map_err(crate::error::js)?;
                let text = secret.to_text().to_string();
                i.session = Some(secret);
                i.slot_written = js_sys::Date::now();
                (js, slot, text)
            };
            store::apply(&js, vec![(SESSION.to_string(), slot)], &[]).await?;
            Ok(JsValue::from(text))
        }))
    }

    /// Locks: the session slot is deleted from the store, the keys, records and token are
    /// forgotten (zeroized), and every later call fails with `LOCKED`. The store stays
    /// encrypted; the next use needs the password (`open`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn lock(&self) -> Promise {
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            lock(&inner, false).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Locks and erases this account's data on this device: every entry of its device
    /// store (records, pending edits, the session slot, the envelope). For a device told
    /// `DEVICE_REVOKED`, once the user agrees: edits it never pushed are lost. Best effort:
    /// what the browser already wrote to disk is gone only once it compacts its storage.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn erase(&self) -> Promise {
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            lock(&inner, true).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Whether `lock()` (or auto-lock) forgot this client's keys.
    #[wasm_bindgen(getter)]
    pub fn locked(&self) -> bool {
        self.inner.try_borrow().is_ok_and(|i| i.locked)
    }

    /// Last successful sync, last error, pending edits, whether a sync is running.
    #[wasm_bindgen(unchecked_return_type = "SyncStatus")]
    pub fn status(&self) -> Result<JsValue, JsValue> {
        let inner = read(&self.inner)?;
        to_js(&crate::status::status_json(&inner))
    }

    /// Resolves once every local change is written to the device store (at once without
    /// a store). Edits are written right after `put`/`delete` anyway; await this where an
    /// edit must be on disk before going on (a service worker about to stop).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            store::flush(&inner).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }
}

fn no_store() -> JsValue {
    js_error(
        Code::NoStore,
        "this client keeps no device store (options.store)",
    )
}

/// The session slot's deadline: now plus the auto-lock time (0: none).
fn deadline(inner: &Inner) -> u64 {
    inner
        .auto_lock_ms
        .map_or(0, |ms| (js_sys::Date::now() + ms) as u64)
}

async fn lock(inner: &Rc<RefCell<Inner>>, erase: bool) -> Result<(), JsValue> {
    crate::live::stop(inner);
    let js = {
        let Ok(mut i) = inner.try_borrow_mut() else {
            return Err(js_error(Code::Busy, "the client is busy; lock again"));
        };
        if i.locked && !erase {
            return Ok(());
        }
        i.locked = true;
        i.vault.forget_keys();
        let empty = vaultsync::sync::Engine::new(i.engine.vault_id(), i.engine.policy());
        i.engine = empty;
        i.token = vaultsync_wire::BearerToken::new(String::new());
        i.session = None;
        i.web_keys.clear();
        i.store.as_ref().map(|s| s.js.clone())
    };
    match js {
        Some(js) if erase => store::erase(&js).await,
        Some(js) => store::apply(&js, Vec::new(), &[SESSION.to_string()]).await,
        None => Ok(()),
    }
}

enum Unlock {
    Password(Password),
    Session(SessionSecret),
}

fn opened(server: String, username: String, options: Option<Object>, unlock: Unlock) -> Promise {
    let ready = crate::account::read_options(options).and_then(|options| {
        let remote = Remote::new(&server, options.fetch.clone())?;
        Ok((options, remote))
    });
    let (options, remote) = match ready {
        Ok(ready) => ready,
        Err(e) => return crate::rejected(e),
    };
    crate::promise(Box::pin(async move {
        let kind = options
            .store
            .clone()
            .unwrap_or_else(|| JsValue::from("indexeddb"));
        let js = store::open(&kind, &store::namespace(remote.base(), &username)).await?;
        let envelope = store::read_entry(&js, ENVELOPE).await?.ok_or_else(|| {
            js_error(
                Code::NoStore,
                "this device has no stored vault for this server and username",
            )
        })?;
        let envelope = Envelope::parse(&envelope).map_err(crate::error::js)?;
        let vault: UnlockedVault = match unlock {
            Unlock::Password(password) => {
                let (master, _) = webcrypto::pbkdf2(&password, envelope.kdf_params()).await;
                envelope
                    .unlock_with_master(&master)
                    .map_err(crate::error::js)?
            }
            Unlock::Session(secret) => {
                let slot = store::read_entry(&js, SESSION).await?.ok_or_else(|| {
                    js_error(
                        Code::SessionInvalid,
                        "no session on this device (locked): use the password",
                    )
                })?;
                envelope
                    .unlock_with_session(&secret, &slot, js_sys::Date::now() as u64)
                    .map_err(crate::error::js)?
            }
        };
        let meta = store::read_entry(&js, META).await?.ok_or_else(|| {
            js_error(
                Code::StateTampered,
                "the device store has no metadata entry",
            )
        })?;
        // The metadata and the index only: values are read when used.
        let index = store::read_all(&js, INDEX_PREFIX).await?;
        let opened = vaultsync::sync::store::open(&vault, &meta, index).map_err(sync_error)?;
        let mut session = opened.session;
        if let Some(policy) = options.policy {
            session.engine.set_policy(policy);
        }
        let client = SyncClient::from_parts(remote, session, vault, options);
        {
            let mut i = write(&client.inner)?;
            i.status.refused = opened.refused;
            i.store = Some(Store::new(js, opened.writer));
            i.engine.lend_values();
        }
        Ok(client.into())
    }))
}

/// Gives a client logged in afresh (or resumed from `save()`) its store: every entry is
/// written in one transaction that also deletes whatever the namespace held before (an
/// earlier login of the same account on this device).
pub(crate) async fn attach_store(client: &SyncClient, kind: &JsValue) -> Result<(), JsValue> {
    let name = {
        let i = read(&client.inner)?;
        store::namespace(i.server.base(), &i.username)
    };
    let js = store::open(kind, &name).await?;
    let old: Vec<String> = store::read_all(&js, "")
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let writes = {
        let mut guard = write(&client.inner)?;
        let Inner {
            username,
            token,
            engine,
            vault,
            ..
        } = &mut *guard;
        let mut writer = vaultsync::sync::store::StoreWriter::new_store();
        // A new store: no value bucket to read.
        let writes = with_pool(|pool| {
            vaultsync::sync::store::write_now(
                &mut writer,
                username,
                token,
                engine,
                vault,
                pool,
                |_| Ok::<_, vaultsync::sync::SyncError>(None),
            )
        })
        .map_err(sync_error)?;
        guard.store = Some(Store::new(js.clone(), writer));
        guard.engine.lend_values();
        writes
    };
    let kept: std::collections::BTreeSet<&str> =
        writes.puts.iter().map(|(k, _)| k.as_str()).collect();
    let stale: Vec<String> = old
        .into_iter()
        .filter(|k| !kept.contains(k.as_str()))
        .collect();
    let written = store::apply(&js, writes.puts, &stale).await;
    if written.is_ok() {
        write(&client.inner)?.engine.evict();
    }
    written
}
