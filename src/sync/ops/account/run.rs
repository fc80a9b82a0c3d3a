//! The state machine of [`AccountRun`]: register, login or recovery step by step.

use vaultsync_wire::{self as wire, BearerToken, SecretBlob};

use super::{Account, AccountOptions, kdf_wire};
use crate::crypto::rand::Entropy;
use crate::crypto::{
    KdfParams, MasterKey, NewVault, Password, RecoveryCode, UnlockError, UnlockedVault,
};
use crate::sync::engine::Engine;
use crate::sync::ops::call::{Bearer, Call, Input, Reply, Send, Step};
use crate::sync::ops::link::{LinkAsk, Opened};
use crate::sync::ops::password::PasswordRun;
use crate::sync::ops::{Ctx, OpError, Operation, bad_answer};

/// How the envelope fetched after a login is opened.
pub(super) enum Opening {
    /// With the password's master key; the envelope must be made with `kdf`.
    Password { kdf: KdfParams, master: MasterKey },
    /// With the recovery code; then the new password is set.
    Recovery {
        code: RecoveryCode,
        new_password: Password,
    },
    /// With the root key an approving device sealed to this one (linking).
    Link(Box<Opened>),
}

// One flow lives per login, for a moment: boxing its states would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum State {
    /// Register: derive the new vault's master key.
    RegisterDerive {
        password: Option<Password>,
        kdf: Option<KdfParams>,
    },
    /// Register: send the new vault.
    Register {
        new: NewVault,
        iterations: u32,
        auth_key: SecretBlob,
    },
    /// Login: ask for the KDF parameters.
    Prelogin {
        password: Password,
    },
    /// Login: derive the master key with the prelogin parameters.
    LoginDerive {
        password: Option<Password>,
        kdf: KdfParams,
    },
    /// Login: exchange the auth key for a token.
    Login {
        kdf: KdfParams,
        master: MasterKey,
    },
    /// Recovery login.
    Recover {
        code: RecoveryCode,
        new_password: Password,
    },
    /// Fetch and open the envelope with the token just issued.
    Fetch {
        session: wire::Session,
        opening: Opening,
    },
    /// Recovery: set the new password.
    NewPassword {
        token: BearerToken,
        vault: UnlockedVault,
        engine: Engine,
        run: PasswordRun,
    },
    /// Linking: send the request, then claim its answer (`claims` so far) after a wait.
    LinkSend {
        ask: Box<LinkAsk>,
        request: wire::LinkRequest,
    },
    LinkWait {
        ask: Box<LinkAsk>,
        claims: u32,
    },
    LinkClaim {
        ask: Box<LinkAsk>,
        claims: u32,
    },
    Done(Box<Account>),
    /// Failed or taken.
    Over,
}

/// Register, login or recovery, run by a driver like the other operations:
///
/// ```text
/// let mut run = AccountRun::login(username, password, options);
/// while let Some(step) = run.next(&mut entropy)? { run.answer(perform(step)?, &mut entropy)?; }
/// let account = run.into_account();
/// ```
///
/// On failure after the server issued a token, [`AccountRun::abandon`] gives the request
/// that revokes it, so no token is left behind that nobody holds.
pub struct AccountRun {
    pub(super) username: String,
    pub(super) options: AccountOptions,
    pub(super) state: State,
    pub(super) issued: Option<BearerToken>,
}

impl AccountRun {
    /// Creates an account and its vault (a fresh vault id, keys and recovery code).
    pub fn register(username: &str, password: Password, options: AccountOptions) -> Self {
        Self::start(
            username,
            options,
            State::RegisterDerive {
                password: Some(password),
                kdf: None,
            },
        )
    }

    /// Logs in with the password: prelogin, PBKDF2, login, fetch and open the envelope.
    pub fn login(username: &str, password: Password, options: AccountOptions) -> Self {
        Self::start(username, options, State::Prelogin { password })
    }

    /// Logs in with the recovery code (the password is forgotten), opens the envelope with
    /// it and sets `new_password` (with `options.iterations`, never fewer than the
    /// vault's).
    pub fn recover(
        username: &str,
        code: RecoveryCode,
        new_password: Password,
        options: AccountOptions,
    ) -> Self {
        Self::start(username, options, State::Recover { code, new_password })
    }

    pub(super) fn start(username: &str, options: AccountOptions, state: State) -> Self {
        Self {
            username: username.to_string(),
            options,
            state,
            issued: None,
        }
    }

    /// What the flow needs next, or `None` when it is complete.
    #[inline(never)]
    pub fn next(&mut self, entropy: &mut dyn Entropy) -> Result<Option<Step>, OpError> {
        let plain = |call| {
            Some(Step::Send(Send {
                call,
                bearer: Bearer::None,
            }))
        };
        Ok(match &mut self.state {
            State::RegisterDerive { password, kdf } => {
                let Some(password) = password.take() else {
                    return Err(bad_answer("the password was already derived"));
                };
                let fresh = KdfParams::generate(self.options.iterations, entropy)
                    .map_err(UnlockError::from)?;
                *kdf = Some(fresh.clone());
                Some(Step::Derive {
                    password,
                    kdf: fresh,
                })
            }
            State::Register { new, auth_key, .. } => plain(Call::Register(wire::RegisterRequest {
                username: self.username.clone(),
                auth_key: auth_key.clone(),
                kdf: kdf_wire(new.envelope.kdf_params()),
                vault_id: new.vault.vault_id(),
                envelope: wire::Blob(new.envelope.to_bytes()),
                recovery_key: SecretBlob::new(new.recovery_code.auth_key().to_bytes().to_vec()),
                token_label: Some(self.options.token_label.clone()),
            })),
            State::Prelogin { .. } => plain(Call::Prelogin(wire::PreloginRequest {
                username: self.username.clone(),
            })),
            State::LoginDerive { password, kdf } => match password.take() {
                Some(password) => Some(Step::Derive {
                    password,
                    kdf: kdf.clone(),
                }),
                None => return Err(bad_answer("the password was already derived")),
            },
            State::Login { master, .. } => plain(Call::Login(wire::LoginRequest {
                username: self.username.clone(),
                auth_key: secret(master),
                token_label: Some(self.options.token_label.clone()),
                token_ttl_secs: self.options.token_ttl_secs,
            })),
            State::Recover { code, .. } => plain(Call::Recover(wire::RecoverRequest {
                username: self.username.clone(),
                recovery_key: SecretBlob::new(code.auth_key().to_bytes().to_vec()),
                token_label: Some(self.options.token_label.clone()),
                token_ttl_secs: self.options.token_ttl_secs,
            })),
            State::Fetch { session, .. } => Some(Step::Send(Send {
                call: Call::GetEnvelope(session.vault_id),
                bearer: Bearer::Issued(session.token.secret.clone()),
            })),
            State::NewPassword {
                token,
                vault,
                engine,
                run,
            } => {
                let mut policy = self.options.policy;
                let mut ctx = Ctx {
                    engine,
                    vault,
                    resolver: &mut policy,
                    entropy,
                };
                match run.next(&mut ctx)? {
                    // The new password goes with the token of this recovery login.
                    Some(Step::Send(send)) => Some(Step::Send(Send {
                        call: send.call,
                        bearer: Bearer::Issued(token.clone()),
                    })),
                    Some(step) => Some(step),
                    None => {
                        self.finish_recovery();
                        None
                    }
                }
            }
            State::LinkSend { .. } | State::LinkWait { .. } | State::LinkClaim { .. } => {
                self.link_next()
            }
            State::Done(_) | State::Over => None,
        })
    }

    /// Takes the result of the step [`AccountRun::next`] returned.
    #[inline(never)]
    pub fn answer(&mut self, input: Input, entropy: &mut dyn Entropy) -> Result<(), OpError> {
        let state = core::mem::replace(&mut self.state, State::Over);
        self.state = match (state, input) {
            (State::RegisterDerive { kdf: Some(kdf), .. }, Input::Master(master)) => {
                let iterations = kdf.iterations();
                let new = UnlockedVault::create_with_master(&master, kdf, entropy)?;
                State::Register {
                    new,
                    iterations,
                    auth_key: secret(&master),
                }
            }
            (
                State::Register {
                    new, iterations, ..
                },
                Input::Reply(Reply::Session(session)),
            ) => {
                if session.vault_id != new.vault.vault_id() {
                    return Err(bad_answer("a session for another vault than registered"));
                }
                self.issued = Some(session.token.secret.clone());
                let mut engine = Engine::new(new.vault.vault_id(), self.options.policy);
                engine.pin_envelope(session.envelope_version, iterations);
                let NewVault {
                    vault,
                    recovery_code,
                    ..
                } = new;
                State::Done(Box::new(Account {
                    username: self.username.clone(),
                    token: session.token.secret,
                    vault,
                    engine,
                    recovery_code: Some(recovery_code),
                }))
            }
            (State::Prelogin { password }, Input::Reply(Reply::Prelogin(answer))) => {
                let kdf = KdfParams::new(answer.kdf.iterations, answer.kdf.salt.0)
                    .map_err(UnlockError::Kdf)?;
                State::LoginDerive {
                    password: Some(password),
                    kdf,
                }
            }
            (State::LoginDerive { kdf, .. }, Input::Master(master)) => State::Login { kdf, master },
            (State::Login { kdf, master }, Input::Reply(Reply::Session(session))) => {
                self.issued = Some(session.token.secret.clone());
                State::Fetch {
                    session,
                    opening: Opening::Password { kdf, master },
                }
            }
            (State::Recover { code, new_password }, Input::Reply(Reply::Session(session))) => {
                self.issued = Some(session.token.secret.clone());
                State::Fetch {
                    session,
                    opening: Opening::Recovery { code, new_password },
                }
            }
            (
                state @ (State::LinkSend { .. } | State::LinkWait { .. } | State::LinkClaim { .. }),
                input,
            ) => self.link_answer(state, input)?,
            (State::Fetch { session, opening }, Input::Reply(Reply::Envelope(doc))) => {
                self.opened(session, opening, &doc, entropy)?
            }
            (
                State::NewPassword {
                    token,
                    mut vault,
                    mut engine,
                    mut run,
                },
                input,
            ) => {
                let mut policy = self.options.policy;
                run.answer(
                    &mut Ctx {
                        engine: &mut engine,
                        vault: &mut vault,
                        resolver: &mut policy,
                        entropy,
                    },
                    input,
                )?;
                State::NewPassword {
                    token,
                    vault,
                    engine,
                    run,
                }
            }
            (_, Input::Reply(Reply::Refused(refusal))) => return Err(OpError::Refused(refusal)),
            _ => return Err(bad_answer("an answer to another request")),
        };
        Ok(())
    }

    fn finish_recovery(&mut self) {
        if let State::NewPassword {
            token,
            vault,
            engine,
            ..
        } = core::mem::replace(&mut self.state, State::Over)
        {
            self.state = State::Done(Box::new(Account {
                username: self.username.clone(),
                token,
                vault,
                engine,
                recovery_code: None,
            }));
        }
    }

    /// The logged-in device, once [`AccountRun::next`] returned `None`.
    pub fn into_account(self) -> Option<Account> {
        match self.state {
            State::Done(account) => Some(*account),
            _ => None,
        }
    }

    /// After a failure: the request that revokes the token the server issued to this
    /// flow, if it issued one (best effort: the driver sends it and ignores the answer).
    pub fn abandon(&mut self) -> Option<Send> {
        if matches!(self.state, State::Done(_)) {
            return None;
        }
        self.issued.take().map(|token| Send {
            call: Call::Logout,
            bearer: Bearer::Issued(token),
        })
    }
}

/// The auth key of a master key, as sent.
fn secret(master: &MasterKey) -> SecretBlob {
    SecretBlob::new(master.auth_key().to_bytes().to_vec())
}
