//! Getting a `SyncClient`: register, login and recovery (the account flow of
//! [`vaultsync::sync::AccountRun`] driven over `fetch`), and resuming a saved session.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

use crate::client::SyncClient;
use crate::error::{bad_input, js};
use crate::http::{Remote, sync_error};
use crate::options::{Options, options};
use crate::run::{Inner, drive_account};
use vaultsync::crypto::{Password, RecoveryCode, UnlockedVault};
use vaultsync::sync::{Account, AccountOptions, AccountRun, Session};

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

#[wasm_bindgen]
impl SyncClient {
    /// Creates an account and its vault on `server`; returns the logged-in client and the
    /// recovery code to show once. Throws `USERNAME_TAKEN`, `RATE_LIMITED`, `NETWORK`, ….
    #[wasm_bindgen(unchecked_return_type = "Promise<Registered>")]
    pub fn register(
        server: String,
        username: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let password = Password::new(password);
        account_promise(server, options, true, move |options| {
            Ok(AccountRun::register(&username, password, options))
        })
    }

    /// Logs in to an existing account: prelogin, one PBKDF2, login, fetch and unlock the
    /// envelope. Call `sync()` next to fetch the records. Throws `INVALID_CREDENTIALS`,
    /// `RATE_LIMITED`, `KDF_TOO_WEAK` (the server offered weaker parameters than allowed),
    /// `KDF_MISMATCH`, `TAMPERED`, `NETWORK`, ….
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncClient>")]
    pub fn login(
        server: String,
        username: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let password = Password::new(password);
        account_promise(server, options, false, move |options| {
            Ok(AccountRun::login(&username, password, options))
        })
    }

    /// Recovers an account whose password is forgotten: logs in with the recovery code
    /// (shown at register), unlocks the vault with it and sets `newPassword` (with
    /// `options.iterations`, default 600,000, but never fewer than the vault's). Other
    /// devices get `envelopeChanged` on their next sync; the recovery code stays valid.
    /// Call `sync()` next. Throws `INVALID_CREDENTIALS` (unknown
    /// user or wrong code, not told apart), `BAD_INPUT` (not a recovery code),
    /// `WRONG_RECOVERY_CODE`, `TAMPERED`, `RATE_LIMITED`, `NETWORK`, ….
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncClient>")]
    pub fn recover(
        server: String,
        username: String,
        #[wasm_bindgen(js_name = "recoveryCode")] recovery_code: String,
        #[wasm_bindgen(js_name = "newPassword")] new_password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let new_password = Password::new(new_password);
        let code = RecoveryCode::parse(&recovery_code).map_err(js);
        account_promise(server, options, false, move |options| {
            Ok(AccountRun::recover(&username, code?, new_password, options))
        })
    }

    /// Reopens a session stored with `save()`: unlocks with the password (one PBKDF2, no
    /// server round trip) and restores records, pending edits and the token. Throws
    /// `WRONG_PASSWORD`, `STATE_TAMPERED` (the stored blob was modified), `BAD_INPUT`.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncClient>")]
    pub fn resume(
        server: String,
        saved: String,
        password: String,
        #[wasm_bindgen(unchecked_param_type = "SyncClientOptions")] options: Option<Object>,
    ) -> Promise {
        let password = Password::new(password);
        let ready = read_options(options).and_then(|options| {
            let server = Remote::new(&server, options.fetch.clone())?;
            let (envelope, blob) = Session::parse(&saved).map_err(sync_error)?;
            Ok((options, server, envelope, blob))
        });
        let (options, server, envelope, blob) = match ready {
            Ok(ready) => ready,
            Err(e) => return crate::rejected(e),
        };
        crate::promise(Box::pin(async move {
            let (master, _) = crate::webcrypto::pbkdf2(&password, envelope.kdf_params()).await;
            let vault = envelope.unlock_with_master(&master).map_err(js)?;
            let mut session = Session::open(&vault, &blob).map_err(sync_error)?;
            if let Some(policy) = options.policy {
                session.engine.set_policy(policy);
            }
            // With a store: the saved session moves into it (the migration from save()).
            let store = options.store.clone();
            let client = SyncClient::from_parts(server, session, vault, options);
            if let Some(kind) = store {
                crate::device::attach_store(&client, &kind).await?;
            }
            Ok(client.into())
        }))
    }
}

impl SyncClient {
    pub(crate) fn from_parts(
        server: Remote,
        session: Session,
        vault: UnlockedVault,
        options: Options,
    ) -> Self {
        let Session {
            username,
            token,
            mut engine,
        } = session;
        engine.set_mass_delete(options.mass_delete);
        let client = Self {
            inner: Rc::new(RefCell::new(Inner {
                server,
                username,
                token,
                vault,
                engine,
                on_conflict: options.on_conflict,
                on_progress: options.on_progress,
                running: None,
                store: None,
                status: Default::default(),
                on_status: options.on_status,
                auto_lock_ms: options.auto_lock_ms,
                session: None,
                last_use: js_sys::Date::now(),
                slot_written: 0.0,
                flush_queued: false,
                live: None,
                hints: Default::default(),
                web_keys: Vec::new(),
                locked: false,
            })),
        };
        crate::device::arm_auto_lock(&client.inner);
        client
    }
}

/// The options object (`undefined`: the defaults).
pub(crate) fn read_options(options: Option<Object>) -> Result<Options, JsValue> {
    self::options(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED))
}

/// Register, login or recovery as a promise of the client (or, with `registered`, of
/// `Registered` with the recovery code): one asynchronous body for the three.
fn account_promise(
    server: String,
    options: Option<Object>,
    registered: bool,
    run: impl FnOnce(AccountOptions) -> Result<AccountRun, JsValue>,
) -> Promise {
    let ready = read_options(options).and_then(|options| {
        let remote = Remote::new(&server, options.fetch.clone())?;
        let run = run(account_options(&options))?;
        Ok((options, remote, run))
    });
    match ready {
        Ok((options, server, run)) => account_task(options, server, run, registered, None),
        Err(e) => crate::rejected(e),
    }
}

/// The asynchronous body of [`account_promise`] and of linking (not generic: compiled
/// once); `cancelled` stops the flow at its next step.
pub(crate) fn account_task(
    options: Options,
    server: Remote,
    run: AccountRun,
    registered: bool,
    cancelled: Option<Rc<Cell<bool>>>,
) -> Promise {
    crate::promise(Box::pin(async move {
        let Account {
            username,
            token,
            vault,
            engine,
            recovery_code,
        } = drive_account(&server, run, cancelled.as_deref()).await?;
        let session = Session {
            username,
            token,
            engine,
        };
        let store = options.store.clone();
        let client = SyncClient::from_parts(server, session, vault, options);
        if let Some(kind) = store {
            crate::device::attach_store(&client, &kind).await?;
        }
        Ok(if registered {
            Registered {
                recovery_code: recovery_code
                    .map(|c| c.to_text().to_string())
                    .unwrap_or_default(),
                client: Some(client),
            }
            .into()
        } else {
            client.into()
        })
    }))
}

/// The account flow's options from `SyncClient`'s.
pub(crate) fn account_options(options: &Options) -> AccountOptions {
    AccountOptions {
        iterations: crate::iterations_arg(options.iterations),
        token_label: options.token_label.clone(),
        token_ttl_secs: None,
        policy: options.policy.unwrap_or_default(),
    }
}
