//! `SyncClient`: the sync engine ([`vaultsync::sync`]) with its HTTP done by `fetch`, so it works
//! in a page, an MV3 service worker and Node >= 18. Requests and answers are the
//! `vaultsync-wire` types, written and read by its JSON codec: one definition shared with
//! the server. Creating a client (register, login, recover, resume) is in `account.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::error::{bad_input, js_error};
use crate::http::{from_js, op_error, perform, sync_error, to_js};
use crate::run::{Inner, drive, read, write};
use crate::{fresh_kdf, with_pool};
use vaultsync::crypto::{GenerateId, Password, RecordId};
use vaultsync::sync::ops::link;
use vaultsync::sync::{
    Bearer, Call, OpError, Operation, PasswordRun, Reply, ReseedRun, RotateRun, Send, Session,
    SyncRun,
};
use vaultsync_wire as wire;

#[wasm_bindgen(typescript_custom_section)]
const TS_CLIENT: &str = r#"
/** Options of `SyncClient.register`, `login`, `recover` and `resume`. */
export interface SyncClientOptions {
  /** PBKDF2 iterations of a new vault (register) or of the new password (`recover`; never fewer than the vault's); default 600,000. */
  iterations?: number;
  /** Label of the device token (default "vaultsync"). */
  tokenLabel?: string;
  /** Who wins a field both devices changed (default "keep-local"; the other value is kept in `conflicts(id)`). */
  conflictPolicy?: "keep-local" | "server-wins" | "client-wins";
  /**
   * Decides a field both devices changed instead of `conflictPolicy`: return the value to
   * keep (`undefined`, a throw or a non-JSON value keeps the local one). Both values are
   * still kept in `conflicts(id)`. Absent values (a removed field) are `undefined`.
   */
  onConflict?: (conflict: { path: string; local?: unknown; remote?: unknown }) => unknown;
  /** Called after every push batch and pulled page of a sync (a first sync of a large vault) and every re-sealed batch of a key rotation. */
  onProgress?: (progress: SyncProgress) => void;
  /**
   * The `fetch` to reach the server with (default: the runtime's `globalThis.fetch`): to add
   * headers, go through a proxy, or observe the requests. A throw or a rejection is `NETWORK`.
   */
  fetch?: (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<Response>;
  /**
   * Keeps the vault in a device store (encrypted; FORMAT.md, "Device store") and writes each
   * change as it happens: "indexeddb" (pages, MV3 service workers), "memory" (tests; lives
   * as long as the JS realm), or your own adapter. One store per server URL and username.
   * Register, login and resume write every entry; `SyncClient.open`/`openSession` read it.
   */
  store?: "indexeddb" | "memory" | VaultStore;
  /** Lock after this many milliseconds without use (at least 1000); the session secret stops working too. */
  autoLockMs?: number;
  /** Called with `status()` whenever it changes (a sync starts or ends), and with `{ locked: true }` on auto-lock. */
  onStatus?: (status: SyncStatus | { locked: true }) => void;
  /**
   * The mass-deletion guard: a sync that would delete more than `min` records **and** more
   * than `percent` % of this device's records holds those deletions (event `deletionsHeld`);
   * `deleteMany` refuses as many with `MASS_DELETE`. Default `{ min: 20, percent: 50 }`;
   * `false` turns it off.
   */
  massDelete?: false | { min?: number; percent?: number };
}
/** A device-store adapter: entries by name, bytes sealed by the package. `write` applies puts and deletes in one transaction. */
export interface VaultStore {
  get(name: string): Promise<Uint8Array | undefined>;
  list(prefix: string): Promise<[string, Uint8Array][]>;
  write(puts: [string, Uint8Array][], deletes: string[]): Promise<void>;
}
/** Progress of a sync. */
export type SyncProgress =
  | { phase: "push"; done: number; pending: number }
  | { phase: "pull"; done: number; more: boolean }
  | { phase: "rotate"; done: number; total: number };
/** What a sync changed. */
export type SyncEvent =
  | { type: "changed"; id: string; value: unknown }
  | { type: "deleted"; id: string }
  | { type: "conflict"; id: string; conflicts: FieldConflict[] }
  /** Another device changed the password (the next resume needs the new one) or rotated keys. */
  | { type: "envelopeChanged"; password: boolean; keys: boolean }
  /** The vault head's check failed (the server hid or lost something) and a full pull put it right. */
  | { type: "integrity"; code: "OMISSION" | "FORK" | "ROLLBACK"; recovered: boolean }
  /** The server lacked records this device holds (restored from a backup, or re-seeded by another device): they go out again. */
  | { type: "reuploaded"; count: number }
  /**
   * Another device (or a faulty sync) deleted more records than `massDelete` allows: they
   * stay here, held, until `confirmDeletions()` or `keepDeletions()` (`heldDeletions()`
   * lists them). Everything else the sync brought is applied.
   */
  | { type: "deletionsHeld"; count: number };
/** A field both devices changed: both values and the one kept (absent = undefined). */
export interface FieldConflict { path: string; local?: unknown; remote?: unknown; kept?: unknown }
/** A device token as listed (times in Unix milliseconds). */
export interface TokenInfo {
  id: number; indicator: string; label: string; created_at: number;
  last_used_at: number | null; expires_at: number | null; current: boolean;
}
"#;

/// A device's connection to one vault on a sync server: local records (usable offline),
/// `sync()` to exchange changes, and the account's tokens. Everything is encrypted before
/// it leaves; the server sees ciphertext only.
#[wasm_bindgen]
pub struct SyncClient {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

impl SyncClient {
    /// A local edit: written to the device store at once (in the background; `flush()`
    /// awaits it), and the auto-lock time starts again.
    pub(crate) fn edited(&self) {
        crate::device::note_use(&self.inner);
        let pending = read(&self.inner).is_ok_and(|i| i.store.is_some() && !i.flush_queued);
        if pending {
            if let Ok(mut i) = write(&self.inner) {
                i.flush_queued = true;
            }
            let inner = self.inner.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(mut i) = write(&inner) {
                    i.flush_queued = false;
                }
                if let Err(e) = crate::store::flush(&inner).await {
                    crate::status::finished(&inner, Some(&e));
                }
            });
        }
    }
}

pub(crate) fn record_id(text: &str) -> Result<RecordId, JsValue> {
    RecordId::parse(text).map_err(|_| bad_input("a record id is 22 characters of base64url"))
}

#[wasm_bindgen]
impl SyncClient {
    /// The whole session (envelope, records, pending edits, token) as one string to store
    /// (chrome.storage, IndexedDB, a file): the token and records are sealed under the
    /// vault's state key; `resume(server, saved, password)` reopens it.
    pub fn save(&self) -> Result<String, JsValue> {
        let inner = read(&self.inner)?;
        let session = Session {
            username: inner.username.clone(),
            token: inner.token.clone(),
            engine: inner.engine.clone(),
        };
        with_pool(|pool| session.save(&inner.vault, pool)).map_err(sync_error)
    }

    /// The vault id.
    #[wasm_bindgen(getter, js_name = vaultId)]
    pub fn vault_id(&self) -> Result<String, JsValue> {
        Ok(read(&self.inner)?.vault.vault_id().to_string())
    }

    /// The account's username.
    #[wasm_bindgen(getter)]
    pub fn username(&self) -> Result<String, JsValue> {
        Ok(read(&self.inner)?.username.clone())
    }

    /// Local edits not yet accepted by the server.
    #[wasm_bindgen(getter, js_name = pendingCount)]
    pub fn pending_count(&self) -> Result<usize, JsValue> {
        Ok(read(&self.inner)?.engine.pending_count())
    }

    /// Creates (without `id`) or replaces a record; works offline. Returns its id.
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        id: Option<String>,
    ) -> Result<String, JsValue> {
        let value = from_js(&value)?;
        let id = match id {
            Some(text) => record_id(&text)?,
            None => {
                with_pool(RecordId::generate).map_err(|e| js_error(e.code(), &e.to_string()))?
            }
        };
        let now = js_sys::Date::now() as u64;
        write(&self.inner)?.engine.put(id, value, now);
        self.edited();
        Ok(id.to_string())
    }

    /// Deletes a record; works offline. False if there was no such record.
    pub fn delete(&self, id: &str) -> Result<bool, JsValue> {
        let id = record_id(id)?;
        let now = js_sys::Date::now() as u64;
        let deleted = write(&self.inner)?.engine.delete(&id, now);
        self.edited();
        Ok(deleted)
    }

    /// Conflicts met on a record (both values of each field) and not yet dismissed.
    #[wasm_bindgen(unchecked_return_type = "FieldConflict[]")]
    pub fn conflicts(&self, id: &str) -> Result<JsValue, JsValue> {
        let id = record_id(id)?;
        to_js(&read(&self.inner)?.engine.conflicts(&id).to_vec())
    }

    /// Forgets the conflicts of a record.
    #[wasm_bindgen(js_name = dismissConflicts)]
    pub fn dismiss_conflicts(&self, id: &str) -> Result<(), JsValue> {
        let id = record_id(id)?;
        write(&self.inner)?.engine.dismiss_conflicts(&id);
        self.edited();
        Ok(())
    }

    /// Pushes local edits and pulls what other devices changed. Returns what changed here.
    /// On `NETWORK` errors nothing is lost: unanswered pushes are resent as they were, so
    /// the server recognises them. A server that sends anything that fails authentication
    /// or goes back in version is refused (`TAMPERED`, `ROLLBACK`) and nothing local
    /// changes. When another device changed the password or the keys, its envelope is
    /// adopted first (`envelopeChanged`).
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncEvent[]>")]
    pub fn sync(&self) -> Promise {
        sync_promise(self.inner.clone())
    }

    /// Changes the password (same iterations as now unless given): re-wraps the vault's
    /// root key, uploads the envelope with the new auth key, and adopts it once the server
    /// stored it; other devices learn it on their next sync (`envelopeChanged` with
    /// `password: true`). On any failure the local vault keeps the old password;
    /// `CONFLICT` means another device changed the password first (this device adopted
    /// that envelope): change it again to set yours.
    #[wasm_bindgen(js_name = changePassword, unchecked_return_type = "Promise<void>")]
    pub fn change_password(
        &self,
        #[wasm_bindgen(js_name = "newPassword")] new_password: String,
        iterations: Option<u32>,
    ) -> Promise {
        let new_password = Password::new(new_password);
        let run = read(&self.inner).and_then(|inner| {
            let current = inner.vault.envelope().kdf_params().iterations();
            let kdf = fresh_kdf(Some(iterations.unwrap_or(current)))?;
            Ok(Box::new(PasswordRun::new(new_password, kdf)) as Box<dyn Operation>)
        });
        op_promise(self.inner.clone(), run, false)
    }

    /// Rotates the vault key: a new key for everything written from now on, every record
    /// re-sealed under it in batches (`onProgress` reports `{phase: "rotate", done,
    /// total}`), then the old key retired. The vault stays readable throughout.
    /// Resumable: if it was interrupted (`NETWORK`, a closed page), call it again, on this
    /// or another device (`rotationPending` says one is under way). Returns what its
    /// catch-up syncs changed here.
    #[wasm_bindgen(js_name = rotateKeys, unchecked_return_type = "Promise<SyncEvent[]>")]
    pub fn rotate_keys(&self) -> Promise {
        op_promise(self.inner.clone(), Ok(Box::new(RotateRun::new())), true)
    }

    /// Re-uploads this device's records to a server that has less than this device saw:
    /// after `sync()` failed with `SERVER_BEHIND` or `ROLLBACK` (`serverBehind` is true),
    /// typically a server restored from a backup. Ask the user first. Deletes nothing on
    /// the server; other devices merge their own records in on their next sync.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncEvent[]>")]
    pub fn reseed(&self) -> Promise {
        op_promise(self.inner.clone(), Ok(Box::new(ReseedRun::new())), true)
    }

    /// The server answered with less than this device saw (see `reseed()`).
    #[wasm_bindgen(getter, js_name = serverBehind)]
    pub fn server_behind(&self) -> Result<bool, JsValue> {
        Ok(read(&self.inner)?.engine.server_behind())
    }

    /// The vault state code: the seq of the last verified vault head and four words
    /// (`"12 apple river ocean tiger"`), the same on every device at that head: show it
    /// so that a user can compare two devices. `null` before the first sync.
    #[wasm_bindgen(getter, js_name = stateCode)]
    pub fn state_code(&self) -> Result<Option<String>, JsValue> {
        let inner = read(&self.inner)?;
        Ok(inner
            .engine
            .state_code()
            .map(|(seq, words)| format!("{seq} {}", words.join(" "))))
    }

    /// A key rotation is under way (the keyring still holds an old key): `rotateKeys()`
    /// finishes it.
    #[wasm_bindgen(getter, js_name = rotationPending)]
    pub fn rotation_pending(&self) -> Result<bool, JsValue> {
        Ok(!read(&self.inner)?.vault.old_key_ids().is_empty())
    }

    /// The account's device tokens.
    #[wasm_bindgen(unchecked_return_type = "Promise<TokenInfo[]>")]
    pub fn tokens(&self) -> Promise {
        request_promise(&self.inner, Ok(Call::Tokens))
    }

    /// Revokes one of the account's tokens (another device is logged out at once). Throws
    /// `BAD_INPUT` for an id that is not a whole number, `NOT_FOUND` for one the account
    /// has no live token with.
    #[wasm_bindgen(js_name = revokeToken, unchecked_return_type = "Promise<void>")]
    pub fn revoke_token(&self, id: f64) -> Promise {
        let call = if id.fract() == 0.0 && (1.0..=wire::MAX_VERSION as f64).contains(&id) {
            Ok(Call::RevokeToken(id as u64))
        } else {
            Err(bad_input(
                "a token id is a whole number from the token list",
            ))
        };
        request_promise(&self.inner, call)
    }

    /// Logs out: revokes this device's token. The local keys stay until `free()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(&self) -> Promise {
        request_promise(&self.inner, Ok(Call::Logout))
    }
}

/// An operation (sync, password change, rotation) as a promise of its events (or of
/// `undefined` without `events`): one asynchronous body for every operation.
pub(crate) fn op_promise(
    inner: Rc<RefCell<Inner>>,
    op: Result<Box<dyn Operation>, JsValue>,
    events: bool,
) -> Promise {
    crate::device::note_use(&inner);
    crate::promise(Box::pin(async move {
        let mut op = op?;
        let happened = drive(&inner, op.as_mut()).await?;
        if events {
            // One at a time, each dropped once converted: a first sync's events carry
            // every value, and one JSON text of them all took 32 MiB of WASM memory.
            let list = js_sys::Array::new();
            for event in happened {
                list.push(&to_js(&event)?);
            }
            Ok(list.into())
        } else {
            Ok(JsValue::UNDEFINED)
        }
    }))
}

/// A request outside the operations (tokens), with this device's token, as a promise of
/// its answer: the token list, or `undefined`.
/// A sync as a promise of its events; it covers every live hint received so far
/// (`Hints::started`), and a failed one leaves them wanted.
pub(crate) fn sync_promise(inner: Rc<RefCell<Inner>>) -> Promise {
    let now = js_sys::Date::now() as u64;
    if let Ok(mut i) = write(&inner) {
        i.hints.started(now);
    }
    let run = op_promise(inner.clone(), Ok(Box::new(SyncRun::new())), true);
    crate::promise(Box::pin(async move {
        let done = wasm_bindgen_futures::JsFuture::from(run).await;
        if let Ok(mut i) = inner.try_borrow_mut() {
            i.hints.finished(done.is_ok());
        }
        done
    }))
}

pub(crate) fn request_promise(inner: &Rc<RefCell<Inner>>, call: Result<Call, JsValue>) -> Promise {
    let endpoint = read(inner).map(|i| (i.server.clone(), i.token.clone()));
    crate::promise(Box::pin(async move {
        let (server, token) = endpoint?;
        let send = Send {
            call: call?,
            bearer: Bearer::Session,
        };
        match perform(&server, &send, Some(&token)).await? {
            Reply::Refused(refusal) => Err(op_error(OpError::Refused(refusal))),
            Reply::Tokens(list) => to_js(&list.tokens),
            Reply::Ticket(live) => Ok(live.ticket.expose().into()),
            Reply::Devices(list) => to_js(&list.devices),
            Reply::Links(list) => to_js(&link::offers(list).map_err(op_error)?),
            // A long-poll's answer: the hinted cursor, 0 when nothing changed.
            Reply::Page(page) => {
                let hinted = if page.changes.is_empty() {
                    0
                } else {
                    page.cursor
                };
                Ok(JsValue::from(hinted as f64))
            }
            _ => Ok(JsValue::UNDEFINED),
        }
    }))
}
