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

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vaultsync_wire as wire;

use crate::crypto::kdf::{DEFAULT_ITERATIONS, derive_master};
use crate::crypto::{
    GenerateId, KdfError, KdfParams, OsEntropy, Password, RecordId, RecoveryCode, UnlockError,
    UnlockedVault,
};
use crate::sync::account::{self, LoginCheck};
use crate::sync::{
    ConflictPolicy, DEFAULT_PUSH_ITEMS, Engine, Event, Progress, Session, SyncError,
};

/// Options of register, login and resume.
#[derive(Clone, Debug)]
pub struct Options {
    /// PBKDF2 iterations of a new vault (register only).
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

/// Why a client operation failed. Local data is unchanged whenever one is returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the request with a code (PROTOCOL.md).
    Server {
        /// HTTP status.
        status: u16,
        /// The stable code.
        code: wire::ErrorCode,
        /// The server's message.
        message: String,
    },
    /// No answer from the server (unreachable, timed out).
    Network(String),
    /// The server answered something that is not the protocol.
    BadAnswer(String),
    /// The envelope did not unlock (wrong password, tampered, …).
    Unlock(UnlockError),
    /// The server offered KDF parameters outside the client's bounds.
    Kdf(KdfError),
    /// The envelope's KDF parameters differ from the ones prelogin answered.
    KdfMismatch,
    /// The engine refused an answer or the saved session.
    Sync(SyncError),
    /// The server URL is not `http://` or `https://`.
    BadServerUrl,
}

impl ClientError {
    /// A stable code, the same strings as the npm package's errors.
    pub fn code(&self) -> &str {
        match self {
            Self::Server { code, .. } => code.as_str(),
            Self::Network(_) => "NETWORK",
            Self::BadAnswer(_) => "BAD_ANSWER",
            Self::Unlock(e) => e.code(),
            Self::Kdf(e) => e.code(),
            Self::KdfMismatch => "KDF_MISMATCH",
            Self::Sync(e) => e.code(),
            Self::BadServerUrl => "BAD_INPUT",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server {
                status,
                code,
                message,
            } => write!(f, "the server refused ({status} {code}): {message}"),
            Self::Network(e) => write!(f, "no answer from the server: {e}"),
            Self::BadAnswer(e) => write!(f, "unexpected answer from the server: {e}"),
            Self::Unlock(e) => write!(f, "{e}"),
            Self::Kdf(e) => write!(f, "{e}"),
            Self::KdfMismatch => {
                f.write_str("the envelope's KDF parameters differ from the ones prelogin answered")
            }
            Self::Sync(e) => write!(f, "{e}"),
            Self::BadServerUrl => f.write_str("the server URL must start with http:// or https://"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

impl From<UnlockError> for ClientError {
    fn from(e: UnlockError) -> Self {
        Self::Unlock(e)
    }
}

/// A device's connection to one vault on a sync server.
pub struct Client {
    http: Http,
    vault: UnlockedVault,
    session: Session,
}

struct Http {
    agent: reqwest::blocking::Client,
    server: String,
}

impl Http {
    fn new(server: &str, timeout: Duration) -> Result<Self, ClientError> {
        let server = server.trim_end_matches('/');
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ClientError::BadServerUrl);
        }
        let agent = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError::Network(e.to_string()))?;
        Ok(Self {
            agent,
            server: server.to_string(),
        })
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<String, ClientError> {
        let mut request = self.agent.request(method, format!("{}{path}", self.server));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .map_err(|e| ClientError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .map_err(|e| ClientError::Network(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        match serde_json::from_str::<wire::ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Server {
                status,
                code: body.error.code,
                message: body.error.message,
            }),
            Err(_) => Err(ClientError::BadAnswer(format!("status {status}"))),
        }
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let text = self.send(method, path, token, body)?;
        serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
        let kdf = KdfParams::generate(options.iterations, &mut OsEntropy).map_err(|e| match e {
            crate::crypto::kdf::NewKdfError::Kdf(e) => ClientError::Kdf(e),
            crate::crypto::kdf::NewKdfError::Random(e) => ClientError::Sync(SyncError::Random(e)),
        })?;
        let master = derive_master(password, &kdf);
        let new = UnlockedVault::create_with_master(&master, kdf, &mut OsEntropy)?;
        let body = account::register_request(username, &master, &new, &options.token_label);
        let answer: wire::Session =
            http.call(reqwest::Method::POST, "/v1/accounts", None, Some(&body))?;
        let mut engine = Engine::new(new.vault.vault_id(), options.policy);
        engine.pin_envelope(answer.envelope_version, options.iterations);
        let session = Session {
            username: username.to_string(),
            token: answer.token.secret.clone(),
            engine,
        };
        Ok((
            Self {
                http,
                vault: new.vault,
                session,
            },
            new.recovery_code,
        ))
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
        let pre: wire::PreloginResponse = http.call(
            reqwest::Method::POST,
            "/v1/prelogin",
            None,
            Some(&wire::PreloginRequest {
                username: username.to_string(),
            }),
        )?;
        let kdf = KdfParams::new(pre.kdf.iterations, pre.kdf.salt.0).map_err(ClientError::Kdf)?;
        let master = derive_master(password, &kdf);
        let body = account::login_request(username, &master, &options.token_label);
        let answer: wire::Session =
            http.call(reqwest::Method::POST, "/v1/login", None, Some(&body))?;
        let doc: wire::EnvelopeDoc = http.call(
            reqwest::Method::GET,
            &format!("/v1/vaults/{}/envelope", answer.vault_id),
            Some(&answer.token.secret),
            None::<&()>,
        )?;
        let vault =
            account::open_login_envelope(&doc, &answer, &kdf, &master).map_err(|e| match e {
                LoginCheck::Unlock(e) => ClientError::Unlock(e),
                LoginCheck::KdfMismatch => ClientError::KdfMismatch,
                LoginCheck::OtherVault => ClientError::Unlock(UnlockError::Tampered),
            })?;
        let mut engine = Engine::new(vault.vault_id(), options.policy);
        engine.pin_envelope(doc.version, kdf.iterations());
        let session = Session {
            username: username.to_string(),
            token: answer.token.secret.clone(),
            engine,
        };
        Ok(Self {
            http,
            vault,
            session,
        })
    }

    /// Changes the password (same iterations as now unless given): re-wraps the vault's
    /// root key, uploads the envelope from the pinned version with the new auth key. Other
    /// devices learn it on their next sync. On any failure the local vault keeps the old
    /// password. A concurrent change elsewhere is `CONFLICT`: sync, then try again.
    pub fn change_password(
        &mut self,
        new_password: &Password,
        iterations: Option<u32>,
    ) -> Result<(), ClientError> {
        let iterations =
            iterations.unwrap_or_else(|| self.vault.envelope().kdf_params().iterations());
        let kdf = KdfParams::generate(iterations, &mut OsEntropy).map_err(|e| match e {
            crate::crypto::kdf::NewKdfError::Kdf(e) => ClientError::Kdf(e),
            crate::crypto::kdf::NewKdfError::Random(e) => ClientError::Sync(SyncError::Random(e)),
        })?;
        let master = derive_master(new_password, &kdf);
        let old = self.vault.envelope().clone();
        let envelope = self
            .vault
            .change_password_with_master(&master, kdf, &mut OsEntropy)?;
        let body = account::password_change_request(
            self.session.engine.envelope_version(),
            &envelope,
            &master,
        );
        let answer: Result<wire::PutEnvelopeResponse, ClientError> = self.http.call(
            reqwest::Method::PUT,
            &format!("/v1/vaults/{}/envelope", self.vault.vault_id()),
            Some(&self.session.token),
            Some(&body),
        );
        match answer {
            Ok(answer) => {
                self.session
                    .engine
                    .pin_envelope(answer.version, envelope.kdf_params().iterations());
                Ok(())
            }
            Err(e) => {
                self.vault.adopt_envelope(&old)?;
                Err(e)
            }
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
        let vault_id = self.vault.vault_id();
        let token = self.session.token.clone();
        let mut events = Vec::new();
        // Every batch, plus a few rounds for merged edits that conflicts leave behind
        // (bounded, in case another device keeps writing).
        let rounds = self.session.engine.pending_count() / DEFAULT_PUSH_ITEMS + 8;
        let (mut pushed, mut pulled) = (0, 0);
        for _ in 0..rounds {
            let Some(request) = self.session.engine.prepare_push(
                &self.vault,
                DEFAULT_PUSH_ITEMS,
                &mut OsEntropy,
            )?
            else {
                break;
            };
            let answer: wire::PushResponse = self.http.call(
                reqwest::Method::POST,
                &format!("/v1/vaults/{vault_id}/push"),
                Some(&token),
                Some(&request),
            )?;
            events.extend(self.session.engine.apply_push(&self.vault, &answer)?);
            pushed += answer.results.len();
            progress(Progress::Push {
                done: pushed,
                pending: self.session.engine.pending_count(),
            });
        }
        loop {
            let since = self.session.engine.cursor();
            let page: Result<wire::ChangesResponse, ClientError> = self.http.call(
                reqwest::Method::GET,
                &format!("/v1/vaults/{vault_id}/changes?since={since}"),
                Some(&token),
                None::<&()>,
            );
            let page = match page {
                Err(ClientError::Server {
                    code: wire::ErrorCode::ResyncRequired,
                    ..
                }) => {
                    self.session.engine.start_resync();
                    continue;
                }
                other => other?,
            };
            if page.envelope_version != self.session.engine.envelope_version() {
                // Another device changed the password or the keys: adopt the envelope
                // first (records may be sealed under a new key).
                let doc: wire::EnvelopeDoc = self.http.call(
                    reqwest::Method::GET,
                    &format!("/v1/vaults/{vault_id}/envelope"),
                    Some(&token),
                    None::<&()>,
                )?;
                events.extend(self.session.engine.check_envelope(&mut self.vault, &doc)?);
            }
            events.extend(self.session.engine.apply_changes(&self.vault, &page)?);
            pulled += page.changes.len();
            progress(Progress::Pull {
                done: pulled,
                more: page.more,
            });
            if !page.more {
                return Ok(events);
            }
        }
    }

    /// The account's device tokens.
    pub fn tokens(&self) -> Result<Vec<wire::TokenInfo>, ClientError> {
        let list: wire::TokenList = self.http.call(
            reqwest::Method::GET,
            "/v1/tokens",
            Some(&self.session.token),
            None::<&()>,
        )?;
        Ok(list.tokens)
    }

    /// Revokes one of the account's tokens.
    pub fn revoke_token(&self, id: u64) -> Result<(), ClientError> {
        self.http
            .send(
                reqwest::Method::DELETE,
                &format!("/v1/tokens/{id}"),
                Some(&self.session.token),
                None::<&()>,
            )
            .map(drop)
    }

    /// Logs out: revokes this device's token.
    pub fn logout(&self) -> Result<(), ClientError> {
        self.http
            .send(
                reqwest::Method::DELETE,
                "/v1/tokens/current",
                Some(&self.session.token),
                None::<&()>,
            )
            .map(drop)
    }
}
