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
use crate::crypto::{GenerateId, KdfParams, OsEntropy, Password, RecordId, UnlockedVault};
mod account;
mod error;
mod guard;
mod history;
mod http;
mod link;
mod live;
#[cfg(feature = "store")]
mod store;
mod tokens;

pub use error::ClientError;
use http::Http;
pub use link::{LinkOffer, LinkWait};
pub use live::Watched;

use crate::sync::{
    AccountOptions, AccountRun, ConflictPolicy, Ctx, Engine, Event, Input, MassDelete, Operation,
    PasswordRun, Progress, ReseedRun, RotateRun, Session, Step, SyncError, SyncRun,
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
    /// The mass-deletion guard (`None`: off): see [`Client::held_deletions`].
    pub mass_delete: Option<MassDelete>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
            token_label: "vaultsync-cli".into(),
            policy: ConflictPolicy::KeepLocal,
            timeout: Duration::from_secs(60),
            mass_delete: Some(MassDelete::default()),
        }
    }
}

impl Options {
    fn account(&self) -> AccountOptions {
        AccountOptions {
            iterations: self.iterations,
            token_label: self.token_label.clone(),
            token_ttl_secs: None,
            policy: self.policy,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A device's connection to one vault on a sync server.
pub struct Client {
    http: Http,
    vault: UnlockedVault,
    session: Session,
    /// The store file this client writes its changes to (feature `store`).
    #[cfg(feature = "store")]
    store: Option<store::FileStore>,
    /// Record entries that did not open when the store was opened.
    #[cfg(feature = "store")]
    refused: usize,
}

impl Client {
    fn new(http: Http, vault: UnlockedVault, session: Session) -> Self {
        Self {
            http,
            vault,
            session,
            #[cfg(feature = "store")]
            store: None,
            #[cfg(feature = "store")]
            refused: 0,
        }
    }

    /// Writes what changed to the store file, if the client keeps one.
    fn after_change(&mut self) -> Result<(), ClientError> {
        #[cfg(feature = "store")]
        self.persist()?;
        Ok(())
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
        self.after_change()?;
        Ok(id)
    }

    /// A record's value as this device sees it.
    pub fn get(&self, id: &RecordId) -> Option<&Value> {
        self.session.engine.get(id)
    }

    /// Deletes a record; works offline. False if there was no such record.
    pub fn delete(&mut self, id: &RecordId) -> Result<bool, ClientError> {
        let deleted = self.session.engine.delete(id, now_ms());
        self.after_change()?;
        Ok(deleted)
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

    /// Re-uploads this device's records to a server that has less than this device saw
    /// (it answered `SERVER_BEHIND` or an older vault head, `ROLLBACK`: restored from a
    /// backup). Deletes nothing the server has; other devices merge their own records in
    /// on their next sync. Ask the user first: a server that lies gets the same answer.
    pub fn reseed(&mut self) -> Result<Vec<Event>, ClientError> {
        let mut run = ReseedRun::new();
        self.drive(&mut run, &mut |_| {})
    }

    /// Whether the server answered with less than this device saw (see
    /// [`Client::reseed`]).
    pub fn server_behind(&self) -> bool {
        self.engine().server_behind()
    }

    /// The vault state code: the seq of the last verified vault head and four words, the
    /// same on every device at that head (compare two devices out of band).
    pub fn state_code(&self) -> Option<String> {
        self.engine()
            .state_code()
            .map(|(seq, words)| format!("{seq} {}", words.join(" ")))
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
        let kdf = KdfParams::generate(iterations, &mut OsEntropy)?;
        let mut run = PasswordRun::new(new_password.duplicate(), kdf);
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
        op: &mut dyn Operation,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Event>, ClientError> {
        let mut policy = self.session.engine.policy();
        loop {
            let mut ctx = Ctx {
                engine: &mut self.session.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            let step = op.next(&mut ctx);
            // What changed goes to the store before anything is sent, and after every
            // answer: a process killed mid-sync resumes from the store.
            self.after_change()?;
            let Some(step) = step? else {
                return Ok(op.take_events());
            };
            let input = perform(&self.http, step, Some(&self.session.token))?;
            let mut ctx = Ctx {
                engine: &mut self.session.engine,
                vault: &mut self.vault,
                resolver: &mut policy,
                entropy: &mut OsEntropy,
            };
            let answered = op.answer(&mut ctx, input);
            self.after_change()?;
            if let Some(p) = answered? {
                progress(p);
            }
        }
    }
}

/// Runs an account flow's steps until it is complete (`true`) or, with `pause`, until it
/// asks to wait (`false`; answer that step with [`Input::Waited`] later). On failure,
/// revokes the token it was issued.
fn advance(http: &Http, run: &mut AccountRun, pause: bool) -> Result<bool, ClientError> {
    let outcome = (|| {
        while let Some(step) = run.next(&mut OsEntropy)? {
            if pause && matches!(step, Step::Wait { .. }) {
                return Ok(false);
            }
            let input = perform(http, step, None)?;
            run.answer(input, &mut OsEntropy)?;
        }
        Ok::<bool, ClientError>(true)
    })();
    if outcome.is_err() {
        if let Some(logout) = run.abandon() {
            let _ = http.perform(&logout, None);
        }
    }
    outcome
}

/// Performs one step of an operation: a request over HTTP, or PBKDF2 natively.
fn perform(
    http: &Http,
    step: Step,
    session: Option<&wire::BearerToken>,
) -> Result<Input, ClientError> {
    Ok(match step {
        Step::Send(send) => Input::Reply(http.perform(&send, session)?),
        Step::Derive { password, kdf } => Input::Master(derive_master(&password, &kdf)),
        Step::Wait { ms } => {
            std::thread::sleep(std::time::Duration::from_millis(ms.into()));
            Input::Waited
        }
    })
}
