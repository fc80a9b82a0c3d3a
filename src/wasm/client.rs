//! `SyncClient`: the sync engine ([`crate::sync`]) with its HTTP done by `fetch`, so it works
//! in a page, an MV3 service worker and Node >= 18. Requests and answers are the
//! `vaultsync-wire` types, serialised with serde: one definition shared with the server.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Object;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use super::error::{bad_input, js, js_error};
use super::http::{Remote, call, expect_no_content, from_js, sync_error, to_js};
use super::options::{Options, options};
use super::run::{Inner, drive, read, write};
use super::{fresh_kdf, webcrypto, with_pool};
use crate::crypto::{
    GenerateId, KdfParams, OsEntropy, Password, RecordId, RecoveryCode, UnlockedVault,
};
use crate::sync::{Engine, PasswordRun, RotateRun, Session, SyncRun, account};
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
  | { type: "envelopeChanged"; password: boolean; keys: boolean };
/** A field both devices changed: both values and the one kept (absent = undefined). */
export interface FieldConflict { path: string; local?: unknown; remote?: unknown; kept?: unknown }
/** A device token as listed (times in Unix milliseconds). */
export interface TokenInfo {
  id: number; indicator: string; label: string; created_at: number;
  last_used_at: number | null; expires_at: number | null; current: boolean;
}
"#;

/// The envelope of the vault a login (or recovery login) answered, with its new token.
async fn envelope_of(
    server: &Remote,
    session: &wire::Session,
) -> Result<wire::EnvelopeDoc, JsValue> {
    let path = format!("/v1/vaults/{}/envelope", session.vault_id);
    call(
        server,
        "GET",
        &path,
        Some(&session.token.secret),
        None::<&()>,
    )
    .await
}

fn login_check(e: account::LoginCheck) -> JsValue {
    match e {
        account::LoginCheck::Unlock(e) => js(e),
        account::LoginCheck::KdfMismatch => js_error(
            "KDF_MISMATCH",
            "the envelope's KDF parameters differ from the ones prelogin answered",
        ),
        account::LoginCheck::OtherVault => {
            js_error("TAMPERED", "the envelope belongs to another vault")
        }
    }
}

/// A device's connection to one vault on a sync server: local records (usable offline),
/// `sync()` to exchange changes, and the account's tokens. Everything is encrypted before
/// it leaves; the server sees ciphertext only.
#[wasm_bindgen]
pub struct SyncClient {
    inner: Rc<RefCell<Inner>>,
}

/// What `SyncClient.register` returns.
#[wasm_bindgen]
pub struct Registered {
    client: Option<SyncClient>,
    recovery_code: String,
}

#[wasm_bindgen]
impl Registered {
    /// The client, logged in on the new account (take it once).
    #[wasm_bindgen(getter)]
    pub fn client(&mut self) -> Result<SyncClient, JsValue> {
        self.client
            .take()
            .ok_or_else(|| bad_input("the client was already taken"))
    }

    /// The recovery code: show it to the user once; never store it.
    #[wasm_bindgen(getter, js_name = recoveryCode)]
    pub fn recovery_code(&self) -> String {
        self.recovery_code.clone()
    }
}

fn record_id(text: &str) -> Result<RecordId, JsValue> {
    RecordId::parse(text).map_err(|_| bad_input("a record id is 22 characters of base64url"))
}

#[wasm_bindgen]
impl SyncClient {
    /// Creates an account and its vault on `server`; returns the logged-in client and the
    /// recovery code to show once. Throws `USERNAME_TAKEN`, `RATE_LIMITED`, `NETWORK`, ….
    pub async fn register(
        server: String,
        username: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Result<Registered, JsValue> {
        let options = self::options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
        let server = Remote::new(&server, options.fetch.clone())?;
        let password = Password::new(password);
        let kdf = fresh_kdf(options.iterations)?;
        let (master, _) = webcrypto::pbkdf2(&password, &kdf).await;
        let new =
            UnlockedVault::create_with_master(&master, kdf.clone(), &mut OsEntropy).map_err(js)?;
        let body = account::register_request(&username, &master, &new, &options.token_label);
        let session: wire::Session =
            call(&server, "POST", "/v1/accounts", None, Some(&body)).await?;
        let mut engine = Engine::new(new.vault.vault_id(), options.policy.unwrap_or_default());
        engine.pin_envelope(
            session.envelope_version,
            new.envelope.kdf_params().iterations(),
        );
        Ok(Registered {
            recovery_code: new.recovery_code.to_text().to_string(),
            client: Some(SyncClient::from_parts(
                server,
                username,
                session.token.secret,
                new.vault,
                engine,
                options,
            )),
        })
    }

    /// Logs in to an existing account: prelogin, one PBKDF2, login, fetch and unlock the
    /// envelope. Call `sync()` next to fetch the records. Throws `INVALID_CREDENTIALS`,
    /// `RATE_LIMITED`, `KDF_TOO_WEAK` (the server offered weaker parameters than allowed),
    /// `KDF_MISMATCH`, `TAMPERED`, `NETWORK`, ….
    pub async fn login(
        server: String,
        username: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Result<SyncClient, JsValue> {
        let options = self::options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
        let server = Remote::new(&server, options.fetch.clone())?;
        let password = Password::new(password);
        let pre: wire::PreloginResponse = call(
            &server,
            "POST",
            "/v1/prelogin",
            None,
            Some(&wire::PreloginRequest {
                username: username.clone(),
            }),
        )
        .await?;
        let kdf = KdfParams::new(pre.kdf.iterations, pre.kdf.salt.0)
            .map_err(|e| js_error(e.code(), &e.to_string()))?;
        let (master, _) = webcrypto::pbkdf2(&password, &kdf).await;
        let body = account::login_request(&username, &master, &options.token_label);
        let session: wire::Session = call(&server, "POST", "/v1/login", None, Some(&body)).await?;
        let token = session.token.secret.clone();
        let doc = envelope_of(&server, &session).await?;
        let vault =
            account::open_login_envelope(&doc, &session, &kdf, &master).map_err(login_check)?;
        let mut engine = Engine::new(vault.vault_id(), options.policy.unwrap_or_default());
        engine.pin_envelope(doc.version, kdf.iterations());
        Ok(SyncClient::from_parts(
            server, username, token, vault, engine, options,
        ))
    }

    /// Recovers an account whose password is forgotten: logs in with the recovery code
    /// (shown at register), unlocks the vault with it and sets `newPassword` (with
    /// `options.iterations`, default 600,000, but never fewer than the vault's). Other
    /// devices get `envelopeChanged` on their next sync; the recovery code stays valid.
    /// Call `sync()` next. Throws `INVALID_CREDENTIALS` (unknown
    /// user or wrong code, not told apart), `BAD_INPUT` (not a recovery code),
    /// `WRONG_RECOVERY_CODE`, `TAMPERED`, `RATE_LIMITED`, `NETWORK`, ….
    pub async fn recover(
        server: String,
        username: String,
        #[wasm_bindgen(js_name = "recoveryCode")] recovery_code: String,
        #[wasm_bindgen(js_name = "newPassword")] new_password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Result<SyncClient, JsValue> {
        let options = self::options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
        let server = Remote::new(&server, options.fetch.clone())?;
        let code = RecoveryCode::parse(&recovery_code).map_err(js)?;
        let body = account::recover_request(&username, &code, &options.token_label);
        let session: wire::Session =
            call(&server, "POST", "/v1/recover", None, Some(&body)).await?;
        let token = session.token.secret.clone();
        let doc = envelope_of(&server, &session).await?;
        let vault = account::open_recovery_envelope(&doc, &session, &code).map_err(login_check)?;
        let pinned = vault.envelope().kdf_params().iterations();
        // The new password gets today's default (or the given) iterations, never fewer
        // than the vault's: other devices refuse a weaker KDF.
        let iterations = super::iterations_arg(options.iterations).max(pinned);
        let mut engine = Engine::new(vault.vault_id(), options.policy.unwrap_or_default());
        engine.pin_envelope(doc.version, pinned);
        let client = SyncClient::from_parts(server, username, token, vault, engine, options);
        if let Err(e) = client.change_password(new_password, Some(iterations)).await {
            // Do not leave a token behind that nobody holds.
            let _ = client.logout().await;
            return Err(e);
        }
        Ok(client)
    }

    /// Reopens a session stored with `save()`: unlocks with the password (one PBKDF2, no
    /// server round trip) and restores records, pending edits and the token. Throws
    /// `WRONG_PASSWORD`, `STATE_TAMPERED` (the stored blob was modified), `BAD_INPUT`.
    pub async fn resume(
        server: String,
        saved: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Result<SyncClient, JsValue> {
        let options = self::options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))?;
        let server = Remote::new(&server, options.fetch.clone())?;
        let (envelope, blob) = Session::parse(&saved).map_err(sync_error)?;
        let password = Password::new(password);
        let (master, _) = webcrypto::pbkdf2(&password, envelope.kdf_params()).await;
        let vault = envelope.unlock_with_master(&master).map_err(js)?;
        let session = Session::open(&vault, &blob).map_err(sync_error)?;
        let mut engine = session.engine.clone();
        if let Some(policy) = options.policy {
            engine.set_policy(policy);
        }
        Ok(SyncClient::from_parts(
            server,
            session.username.clone(),
            session.token.clone(),
            vault,
            engine,
            options,
        ))
    }

    fn from_parts(
        server: Remote,
        username: String,
        token: String,
        vault: UnlockedVault,
        engine: Engine,
        options: Options,
    ) -> Self {
        Self {
            inner: Rc::new(RefCell::new(Inner {
                server,
                username,
                token: Zeroizing::new(token),
                vault,
                engine,
                on_conflict: options.on_conflict,
                on_progress: options.on_progress,
                running: None,
            })),
        }
    }

    /// The whole session (envelope, records, pending edits, token) as one string to store
    /// (chrome.storage, IndexedDB, a file): the token and records are sealed under the
    /// vault's state key; `resume(server, saved, password)` reopens it.
    pub fn save(&self) -> Result<String, JsValue> {
        let inner = read(&self.inner)?;
        let session = Session {
            username: inner.username.clone(),
            token: inner.token.to_string(),
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
            None => with_pool(RecordId::generate)
                .map_err(|e| js_error("RANDOM_UNAVAILABLE", &e.to_string()))?,
        };
        let now = js_sys::Date::now() as u64;
        write(&self.inner)?.engine.put(id, value, now);
        Ok(id.to_string())
    }

    /// A record's value as this device sees it, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "unknown")]
    pub fn get(&self, id: &str) -> Result<JsValue, JsValue> {
        let id = record_id(id)?;
        match read(&self.inner)?.engine.get(&id) {
            Some(value) => to_js(value),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Deletes a record; works offline. False if there was no such record.
    pub fn delete(&self, id: &str) -> Result<bool, JsValue> {
        let id = record_id(id)?;
        let now = js_sys::Date::now() as u64;
        Ok(write(&self.inner)?.engine.delete(&id, now))
    }

    /// Every record: `[{ id, value }]`.
    #[wasm_bindgen(unchecked_return_type = "Array<{ id: string; value: unknown }>")]
    pub fn records(&self) -> Result<JsValue, JsValue> {
        let inner = read(&self.inner)?;
        let list: Vec<Value> = inner
            .engine
            .records()
            .map(|(id, value)| json!({ "id": id.to_string(), "value": value }))
            .collect();
        to_js(&list)
    }

    /// Conflicts met on a record (both values of each field) and not yet dismissed.
    #[wasm_bindgen(unchecked_return_type = "FieldConflict[]")]
    pub fn conflicts(&self, id: &str) -> Result<JsValue, JsValue> {
        let id = record_id(id)?;
        to_js(&read(&self.inner)?.engine.conflicts(&id))
    }

    /// Forgets the conflicts of a record.
    #[wasm_bindgen(js_name = dismissConflicts)]
    pub fn dismiss_conflicts(&self, id: &str) -> Result<(), JsValue> {
        let id = record_id(id)?;
        write(&self.inner)?.engine.dismiss_conflicts(&id);
        Ok(())
    }

    /// Pushes local edits and pulls what other devices changed. Returns what changed here.
    /// On `NETWORK` errors nothing is lost: unanswered pushes are resent as they were, so
    /// the server recognises them. A server that sends anything that fails authentication
    /// or goes back in version is refused (`TAMPERED`, `ROLLBACK`) and nothing local
    /// changes. When another device changed the password or the keys, its envelope is
    /// adopted first (`envelopeChanged`).
    #[wasm_bindgen(unchecked_return_type = "SyncEvent[]")]
    pub async fn sync(&self) -> Result<JsValue, JsValue> {
        let mut run = SyncRun::new();
        to_js(&drive(&self.inner, &mut run).await?)
    }

    /// Changes the password (same iterations as now unless given): re-wraps the vault's
    /// root key, uploads the envelope with the new auth key, and adopts it once the server
    /// stored it; other devices learn it on their next sync (`envelopeChanged` with
    /// `password: true`). On any failure the local vault keeps the old password;
    /// `CONFLICT` means another device changed the password first (this device adopted
    /// that envelope): change it again to set yours.
    #[wasm_bindgen(js_name = changePassword)]
    pub async fn change_password(
        &self,
        #[wasm_bindgen(js_name = "newPassword")] new_password: String,
        iterations: Option<u32>,
    ) -> Result<(), JsValue> {
        let new_password = Password::new(new_password);
        let current = read(&self.inner)?
            .vault
            .envelope()
            .kdf_params()
            .iterations();
        let iterations = iterations.unwrap_or(current);
        let kdf = fresh_kdf(Some(iterations))?;
        let (master, _) = webcrypto::pbkdf2(&new_password, &kdf).await;
        let mut run = PasswordRun::new(master, kdf);
        drive(&self.inner, &mut run).await.map(drop)
    }

    /// Rotates the vault key: a new key for everything written from now on, every record
    /// re-sealed under it in batches (`onProgress` reports `{phase: "rotate", done,
    /// total}`), then the old key retired. The vault stays readable throughout.
    /// Resumable: if it was interrupted (`NETWORK`, a closed page), call it again, on this
    /// or another device (`rotationPending` says one is under way). Returns what its
    /// catch-up syncs changed here.
    #[wasm_bindgen(js_name = rotateKeys, unchecked_return_type = "SyncEvent[]")]
    pub async fn rotate_keys(&self) -> Result<JsValue, JsValue> {
        to_js(&drive(&self.inner, &mut RotateRun::new()).await?)
    }

    /// A key rotation is under way (the keyring still holds an old key): `rotateKeys()`
    /// finishes it.
    #[wasm_bindgen(getter, js_name = rotationPending)]
    pub fn rotation_pending(&self) -> Result<bool, JsValue> {
        Ok(!read(&self.inner)?.vault.old_key_ids().is_empty())
    }

    /// The account's device tokens.
    #[wasm_bindgen(unchecked_return_type = "TokenInfo[]")]
    pub async fn tokens(&self) -> Result<JsValue, JsValue> {
        let (server, token) = self.endpoint()?;
        let list: wire::TokenList =
            call(&server, "GET", "/v1/tokens", Some(&token), None::<&()>).await?;
        to_js(&list.tokens)
    }

    /// Revokes one of the account's tokens (another device is logged out at once). Throws
    /// `BAD_INPUT` for an id that is not a whole number, `NOT_FOUND` for one the account
    /// has no live token with.
    #[wasm_bindgen(js_name = revokeToken)]
    pub async fn revoke_token(&self, id: f64) -> Result<(), JsValue> {
        if !(id.fract() == 0.0 && (1.0..=wire::MAX_VERSION as f64).contains(&id)) {
            return Err(bad_input(
                "a token id is a whole number from the token list",
            ));
        }
        let (server, token) = self.endpoint()?;
        let path = format!("/v1/tokens/{}", id as u64);
        expect_no_content(&server, "DELETE", &path, &token).await
    }

    /// Logs out: revokes this device's token. The local keys stay until `free()`.
    pub async fn logout(&self) -> Result<(), JsValue> {
        let (server, token) = self.endpoint()?;
        expect_no_content(&server, "DELETE", "/v1/tokens/current", &token).await
    }

    fn endpoint(&self) -> Result<(Remote, Zeroizing<String>), JsValue> {
        let i = read(&self.inner)?;
        Ok((i.server.clone(), i.token.clone()))
    }
}
