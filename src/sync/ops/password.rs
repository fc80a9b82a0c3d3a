//! A password change, made again on top of a concurrent key change.

use core::fmt;

use vaultsync_wire::{self as wire, ErrorCode};

use super::{
    Ctx, Input, OpError, Operation, Reply, Step, adopt_current, bad_answer, put_envelope, reply,
    send,
};
use crate::crypto::{Envelope, KdfParams, MasterKey, Password};
use crate::sync::event::{Event, Progress};

/// How many times a password change takes the envelope of a concurrent key change and
/// tries again before giving up.
const ENVELOPE_RETRIES: u32 = 4;

/// A password change: the new password derived with fresh KDF parameters (the driver runs
/// PBKDF2), the vault's root key wrapped under it (records untouched), uploaded with the
/// new auth key from the pinned envelope version, and adopted once the server stored it. If
/// another device changed the envelope first (`CONFLICT`), its envelope is adopted; when it
/// changed only the keys the change is made again on top, when it changed the password too
/// the operation stops with `CONFLICT` (this device now uses that password; change it again
/// to set yours).
pub struct PasswordRun {
    password: Option<Password>,
    master: Option<MasterKey>,
    kdf: KdfParams,
    proposed: Option<Envelope>,
    tries: u32,
    done: bool,
    events: Vec<Event>,
}

impl fmt::Debug for PasswordRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRun")
            .field("tries", &self.tries)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl PasswordRun {
    /// A change to `password`, derived with `kdf` (fresh parameters: see
    /// [`KdfParams::generate`]).
    pub fn new(password: Password, kdf: KdfParams) -> Self {
        Self {
            password: Some(password),
            master: None,
            kdf,
            proposed: None,
            tries: 0,
            done: false,
            events: Vec::new(),
        }
    }
}

impl Operation for PasswordRun {
    fn next(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<Step>, OpError> {
        if self.done {
            return Ok(None);
        }
        let Some(master) = &self.master else {
            return match self.password.take() {
                Some(password) => Ok(Some(Step::Derive {
                    password,
                    kdf: self.kdf.clone(),
                })),
                None => Err(bad_answer("the new password was not derived")),
            };
        };
        let envelope = ctx
            .vault
            .propose_password(master, self.kdf.clone(), &mut *ctx.entropy)?;
        let auth_key = wire::SecretBlob::new(master.auth_key().to_bytes().to_vec());
        let call = put_envelope(ctx.engine, &envelope, Some(auth_key));
        self.proposed = Some(envelope);
        Ok(Some(send(call)))
    }

    fn answer(&mut self, ctx: &mut Ctx<'_>, input: Input) -> Result<Option<Progress>, OpError> {
        if self.master.is_none() {
            return match input {
                Input::Master(master) => {
                    self.master = Some(master);
                    Ok(None)
                }
                _ => Err(bad_answer("no derived key where one was expected")),
            };
        }
        let proposed = self
            .proposed
            .take()
            .ok_or_else(|| bad_answer("an answer to another request"))?;
        match reply(input)? {
            Reply::Stored(stored) => {
                ctx.engine
                    .envelope_stored(ctx.vault, &proposed, stored.version)?;
                self.done = true;
                Ok(None)
            }
            Reply::Refused(refusal) if refusal.code == ErrorCode::Conflict => {
                let event = adopt_current(ctx, &refusal)?;
                let password_changed =
                    matches!(event, Some(Event::EnvelopeChanged { password: true, .. }));
                self.events.extend(event);
                self.tries += 1;
                if password_changed || self.tries > ENVELOPE_RETRIES {
                    return Err(OpError::Refused(refusal));
                }
                Ok(None)
            }
            Reply::Refused(refusal) => Err(OpError::Refused(refusal)),
            _ => Err(bad_answer("an answer to another request")),
        }
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}
