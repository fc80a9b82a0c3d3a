//! The native client (feature `http`): the sync engine with blocking HTTP (reqwest), for
//! the CLI, scripts, ops and load tools. Same engine, same wire types and the same saved
//! session format as the npm package's `SyncClient`.
//!
//! ```no_run
//! use vaultsync::client::{Client, Options};
//! use vaultsync::crypto::Password;
//! let password = Password::from("correct horse");
//! let (mut laptop, recovery) =
//!     Client::register("http://127.0.0.1:8787", "alice", &password, &Options::default())?;
//! let id = laptop.put(None, serde_json::json!({"url": "https://example.com"}))?;
//! laptop.sync()?;
//! let mut phone = Client::login("http://127.0.0.1:8787", "alice", &password, &Options::default())?;
//! phone.sync()?;
//! assert_eq!(phone.get(&id), laptop.get(&id));
//! # drop(recovery);
//! # Ok::<(), vaultsync::client::ClientError>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vaultsync_wire as wire;

use crate::crypto::kdf::{DEFAULT_ITERATIONS, derive_master};
use crate::crypto::{
    GenerateId, KdfParams, OsEntropy, Password, RecordId, RecoveryCode, UnlockedVault,
};
use crate::sync::account;
mod error;
mod http;

pub use error::ClientError;
use http::Http;

use crate::sync::{
    ConflictPolicy, Ctx, Engine, Event, Operation, PasswordRun, Progress, RotateRun, Session,
    SyncError, SyncRun,
};

/// Options of register, login, recover and resume.
#[derive(Clone, Debug)]
pub struct Options {
    /// PBKDF2 iterations of a new vault (register), or of the new password after a
    /// recovery (never fewer than the vault's: other devices would refuse a weaker KDF).
    pub iterations: u32,
    /// Label of the device token.
    pub token_label: String,
    /// Who wins a field both devices changed.
    pub policy: ConflictPolicy,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
            token_label: "vaultsync-cli".into(),
            policy: ConflictPolicy::KeepLocal,
            timeout: Duration::from_secs(60),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn new_kdf(iterations: u32) -> Result<KdfParams, ClientError> {
    KdfParams::generate(iterations, &mut OsEntropy).map_err(|e| match e {
        crate::crypto::kdf::NewKdfError::Kdf(e) => ClientError::Kdf(e),
        crate::crypto::kdf::NewKdfError::Random(e) => ClientError::Sync(SyncError::Random(e)),
    })
}

/// A device's connection to one vault on a sync server.
pub struct Client {
    http: Http,
    vault: UnlockedVault,
    session: Session,
}

impl Client {
    /// Creates an account and its vault; returns the logged-in client and the recovery
    /// code to show once.
    pub fn register(
        server: &str,
        username: &str,
        password: &Password,
        options: &Options,
    ) -> Result<(Self, RecoveryCode), ClientError> {
        let http = Http::new(server, options.timeout)?;
        let kdf = new_kdf(options.iterations)?;
        let master = derive_master(password, &kdf);
        let new = UnlockedVault::create_with_master(&master, kdf, &mut OsEntropy)?;
        let body = account::register_request(username, &master, &new, &options.token_label);
        let answer: wire::Session = http.call("POST", "/v1/accounts", None, Some(&body))?;
        let mut engine = Engine::new(new.vault.vault_id(), options.policy);
        engine.pin_envelope(answer.envelope_version, options.iterations);
        let client = Self::from_parts(http, username, &answer, new.vault, engine);
        Ok((client, new.recovery_code))
    }

    /// Logs in: prelogin, one PBKDF2, login, fetch and unlock the envelope. Call
    /// [`Client::sync`] next.
    pub fn login(
        server: &str,
        username: &str,
        password: &Password,
        options: &Options,
    ) -> Result<Self, ClientError> {
        let http = Http::new(server, options.timeout)?;
        let prelogin = wire::PreloginRequest {
            username: username.to_string(),
        };
        let pre: wire::PreloginResponse =
            http.call("POST", "/v1/prelogin", None, Some(&prelogin))?;
        let kdf = KdfParams::new(pre.kdf.iterations, pre.kdf.salt.0).map_err(ClientError::Kdf)?;
        let master = derive_master(password, &kdf);
        let body = account::login_request(username, &master, &options.token_label);
        let answer: wire::Session = http.call("POST", "/v1/login", None, Some(&body))?;
        let doc = http.envelope(&answer)?;
        let vault = account::open_login_envelope(&doc, &answer, &kdf, &master)?;
        let mut engine = Engine::new(vault.vault_id(), options.policy);
        engine.pin_envelope(doc.version, kdf.iterations());
        Ok(Self::from_parts(http, username, &answer, vault, engine))
    }

    /// Recovers an account whose password is forgotten: logs in with the recovery code,
    /// unlocks the envelope with it and sets `new_password` (at least the vault's
    /// iterations). Other devices learn the new password on their next sync; the recovery
    /// code stays valid. Call [`Client::sync`] next.
    pub fn recover(
        server: &str,
        username: &str,
        code: &RecoveryCode,
        new_password: &Password,
        options: &Options,
    ) -> Result<Self, ClientError> {
        let http = Http::new(server, options.timeout)?;
        let body = account::recover_request(username, code, &options.token_label);
        let answer: wire::Session = http.call("POST", "/v1/recover", None, Some(&body))?;
        let doc = http.envelope(&answer)?;
        let vault = account::open_recovery_envelope(&doc, &answer, code)?;
        let iterations = vault.envelope().kdf_params().iterations();
        let mut engine = Engine::new(vault.vault_id(), options.policy);
        engine.pin_envelope(doc.version, iterations);
        let mut client = Self::from_parts(http, username, &answer, vault, engine);
        if let Err(e) =
            client.change_password(new_password, Some(options.iterations.max(iterations)))
        {
            // Do not leave a token behind that nobody holds.
            let _ = client.logout();
            return Err(e);
        }
        Ok(client)
    }

    fn from_parts(
        http: Http,
        username: &str,
        answer: &wire::Session,
        vault: UnlockedVault,
        engine: Engine,
    ) -> Self {
        let session = Session {
            username: username.to_string(),
            token: answer.token.secret.clone(),
            engine,
        };
        Self {
            http,
            vault,
            session,
        }
    }

    /// Reopens a session saved with [`Client::save`] (or the npm package's `save()`).
    pub fn resume(
        server: &str,
        saved: &str,
        password: &Password,
        options: &Options,
    ) -> Result<Self, ClientError> {
        let http = Http::new(server, options.timeout)?;
        let (envelope, blob) = Session::parse(saved)?;
        let vault = envelope.unlock(password)?;
        let session = Session::open(&vault, &blob)?;
        Ok(Self {
            http,
            vault,
            session,
        })
    }

    /// The whole session as one string to store; see [`Session::save`].
    pub fn save(&self) -> Result<String, ClientError> {
        Ok(self.session.save(&self.vault, &mut OsEntropy)?)
    }

    /// The vault's id.
    pub fn vault_id(&self) -> crate::crypto::VaultId {
        self.vault.vault_id()
    }

    /// The engine (records, pending edits, conflicts).
    pub fn engine(&self) -> &Engine {
        &self.session.engine
    }

    /// The unlocked vault (its envelope and key ids).
    pub fn vault(&self) -> &UnlockedVault {
        &self.vault
    }

    /// A key rotation is under way (the keyring still holds an old key):
    /// [`Client::rotate`] finishes it.
    pub fn rotation_pending(&self) -> bool {
        !self.vault.old_key_ids().is_empty()
    }

    /// Creates (`id: None`) or replaces a record; works offline.
    pub fn put(&mut self, id: Option<RecordId>, value: Value) -> Result<RecordId, ClientError> {
        let id = match id {
            Some(id) => id,
            None => RecordId::generate(&mut OsEntropy).map_err(SyncError::Random)?,
        };
        self.session.engine.put(id, value, now_ms());
        Ok(id)
    }

    /// A record's value as this device sees it.
    pub fn get(&self, id: &RecordId) -> Option<&Value> {
        self.session.engine.get(id)
    }

    /// Deletes a record; works offline.
    pub fn delete(&mut self, id: &RecordId) -> bool {
        self.session.engine.delete(id, now_ms())
    }

    /// Pushes local edits and pulls everyone else's; returns what changed here.
    pub fn sync(&mut self) -> Result<Vec<Event>, ClientError> {
        self.sync_with_progress(&mut |_| {})
    }

    /// [`Client::sync`], reporting progress after every batch and page.
    pub fn sync_with_progress(
        &mut self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Event>, ClientError> {
        let mut run = SyncRun::new();
        self.drive(&mut run, progress)
    }

    /// Changes the password (same iterations as now unless given): re-wraps the vault's
    /// root key, uploads the envelope from the pinned version with the new auth key, and
    /// adopts it once stored. Other devices learn it on their next sync. On any failure
    /// the local vault keeps the old password; `CONFLICT` means another device changed
    /// the password first (this device adopted that envelope): change it again to set
    /// yours.
    pub fn change_password(
        &mut self,
        new_password: &Password,
        iterations: Option<u32>,
    ) -> Result<(), ClientError> {
        let iterations =
            iterations.unwrap_or_else(|| self.vault.envelope().kdf_params().iterations());
        let kdf = new_kdf(iterations)?;
        let master = derive_master(new_password, &kdf);
        let mut run = PasswordRun::new(master, kdf);
        self.drive(&mut run, &mut |_| {}).map(drop)
    }

    /// Rotates the vault key: a new key for everything written from now on, every record
    /// re-sealed under it in batches, then the old key retired (see
    /// [`crate::sync::RotateRun`]). Resumable: after an interruption (or on another device,
    /// if one started a rotation) call it again to finish. Returns what the catch-up syncs
    /// changed here.
    pub fn rotate(
        &mut self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Event>, ClientError> {
        let mut run = RotateRun::new();
        self.drive(&mut run, progress)
    }

    /// Runs an operation to completion over HTTP.
    fn drive(
        &mut self,
        op: &mut impl Operation,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Event>, ClientError> {
        let vault_id = self.vault.vault_id();
        loop {
            let mut policy = self.session.engine.policy();
            let mut ctx = Ctx {
                engine: &mut self.session.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            let Some(call) = op.next(&mut ctx)? else {
                return Ok(op.take_events());
            };
            let (status, body) = self.http.exchange(
                call.method(),
                &call.path(&vault_id),
                Some(&self.session.token),
                call.body(),
            )?;
            let reply = call.read_answer(status, &body)?;
            let mut ctx = Ctx {
                engine: &mut self.session.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            if let Some(p) = op.answer(&mut ctx, reply)? {
                progress(p);
            }
        }
    }

    /// The account's device tokens.
    pub fn tokens(&self) -> Result<Vec<wire::TokenInfo>, ClientError> {
        let list: wire::TokenList =
            self.http
                .call("GET", "/v1/tokens", Some(&self.session.token), None::<&()>)?;
        Ok(list.tokens)
    }

    /// Revokes one of the account's tokens.
    pub fn revoke_token(&self, id: u64) -> Result<(), ClientError> {
        self.http
            .no_content("DELETE", &format!("/v1/tokens/{id}"), &self.session.token)
    }

    /// Logs out: revokes this device's token.
    pub fn logout(&self) -> Result<(), ClientError> {
        self.http
            .no_content("DELETE", "/v1/tokens/current", &self.session.token)
    }
}
