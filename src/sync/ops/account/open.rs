//! The last step of every account flow: the envelope fetched with the token just issued,
//! checked against what the flow used (the password's KDF parameters, the recovery code,
//! or a linked device's grant) and opened.

use vaultsync_wire as wire;

use super::Account;
use super::run::{AccountRun, Opening, State};
use crate::crypto::rand::Entropy;
use crate::crypto::{Envelope, KdfParams, UnlockError};
use crate::sync::engine::Engine;
use crate::sync::ops::OpError;
use crate::sync::ops::password::PasswordRun;

impl AccountRun {
    /// The envelope fetched with the new token, checked and opened.
    pub(super) fn opened(
        &self,
        session: wire::Session,
        opening: Opening,
        doc: &wire::EnvelopeDoc,
        entropy: &mut dyn Entropy,
    ) -> Result<State, OpError> {
        let envelope = Envelope::parse(doc.envelope.as_bytes())?;
        if envelope.vault_id() != session.vault_id {
            return Err(UnlockError::Tampered.into());
        }
        let token = session.token.secret;
        match opening {
            Opening::Password { kdf, master } => {
                if envelope.kdf_params() != &kdf {
                    return Err(OpError::KdfMismatch);
                }
                let vault = envelope.unlock_with_master(&master)?;
                let mut engine = Engine::new(vault.vault_id(), self.options.policy);
                engine.pin_envelope(doc.version, kdf.iterations());
                Ok(State::Done(Box::new(Account {
                    username: self.username.clone(),
                    token,
                    vault,
                    engine,
                    recovery_code: None,
                })))
            }
            Opening::Recovery { code, new_password } => {
                let vault = envelope.unlock_with_recovery_code(&code)?;
                let pinned = envelope.kdf_params().iterations();
                let mut engine = Engine::new(vault.vault_id(), self.options.policy);
                engine.pin_envelope(doc.version, pinned);
                // The new password gets the asked (or today's default) iterations, never
                // fewer than the vault's: other devices refuse a weaker KDF.
                let iterations = self.options.iterations.max(pinned);
                let kdf = KdfParams::generate(iterations, entropy).map_err(UnlockError::from)?;
                Ok(State::NewPassword {
                    token,
                    vault,
                    engine,
                    run: PasswordRun::new(new_password, kdf),
                })
            }
            Opening::Link(opened) => {
                let (vault, engine) = opened.unlock(doc, self.options.policy)?;
                Ok(State::Done(Box::new(Account {
                    username: self.username.clone(),
                    token,
                    vault,
                    engine,
                    recovery_code: None,
                })))
            }
        }
    }
}
