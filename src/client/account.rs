//! The native client's ways in: an account flow (register, log in, recover) run to
//! completion, or a saved session reopened.

use super::http::Http;
use super::{Client, ClientError, Options, advance};
use crate::crypto::{Password, RecoveryCode};
use crate::sync::{Account, AccountRun, OpError, Session, SyncError};

impl Client {
    /// Creates an account and its vault; returns the logged-in client and the recovery
    /// code to show once.
    pub fn register(
        server: &str,
        username: &str,
        password: &Password,
        options: &Options,
    ) -> Result<(Self, RecoveryCode), ClientError> {
        let run = AccountRun::register(username, password.duplicate(), options.account());
        let (client, code) = Self::account(server, run, options)?;
        let code = code.ok_or(ClientError::Op(OpError::Sync(SyncError::BadAnswer {
            reason: "a registration without a recovery code",
        })))?;
        Ok((client, code))
    }

    /// Logs in: prelogin, one PBKDF2, login, fetch and unlock the envelope. Call
    /// [`Client::sync`] next.
    pub fn login(
        server: &str,
        username: &str,
        password: &Password,
        options: &Options,
    ) -> Result<Self, ClientError> {
        let run = AccountRun::login(username, password.duplicate(), options.account());
        Ok(Self::account(server, run, options)?.0)
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
        let code = code.duplicate();
        let run = AccountRun::recover(username, code, new_password.duplicate(), options.account());
        Ok(Self::account(server, run, options)?.0)
    }

    /// Runs an account flow to completion; on failure, revokes the token it was issued.
    fn account(
        server: &str,
        mut run: AccountRun,
        options: &Options,
    ) -> Result<(Self, Option<RecoveryCode>), ClientError> {
        let http = Http::new(server, options.timeout)?;
        advance(&http, &mut run, false)?;
        let (mut client, code) = Self::finish(http, run)?;
        client.set_mass_delete(options.mass_delete);
        Ok((client, code))
    }

    /// The client of an account flow that is complete.
    pub(super) fn finish(
        http: Http,
        run: AccountRun,
    ) -> Result<(Self, Option<RecoveryCode>), ClientError> {
        let Some(Account {
            username,
            token,
            vault,
            engine,
            recovery_code,
        }) = run.into_account()
        else {
            return Err(OpError::Sync(SyncError::BadAnswer {
                reason: "an account flow that did not finish",
            })
            .into());
        };
        let session = Session {
            username,
            token,
            engine,
        };
        Ok((Self::new(http, vault, session), recovery_code))
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
        let mut client = Self::new(http, vault, session);
        client.set_mass_delete(options.mass_delete);
        Ok(client)
    }
}
