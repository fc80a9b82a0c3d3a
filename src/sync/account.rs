//! The account steps both clients (the npm package's `SyncClient` and the native
//! [`crate::client::Client`]) take around the server: request bodies and the checks on what
//! the server answers. No IO here either: the clients send and receive.

use vaultsync_wire as wire;

use crate::crypto::{
    Envelope, KdfParams, MasterKey, NewVault, RecoveryCode, UnlockError, UnlockedVault,
};

/// The KDF parameters as the server stores them.
pub fn kdf_wire(params: &KdfParams) -> wire::Kdf {
    wire::Kdf {
        algorithm: wire::KdfAlgorithm::Pbkdf2Sha256,
        iterations: params.iterations(),
        salt: wire::Blob(params.salt().to_vec()),
    }
}

/// The register request of a new vault (its master key derived with its KDF parameters).
pub fn register_request(
    username: &str,
    master: &MasterKey,
    new: &NewVault,
    token_label: &str,
) -> wire::RegisterRequest {
    wire::RegisterRequest {
        username: username.to_string(),
        auth_key: wire::Blob(master.auth_key().to_bytes().to_vec()),
        kdf: kdf_wire(new.envelope.kdf_params()),
        vault_id: new.vault.vault_id(),
        envelope: wire::Blob(new.envelope.to_bytes()),
        recovery_key: wire::Blob(new.recovery_code.auth_key().to_bytes().to_vec()),
        token_label: Some(token_label.to_string()),
    }
}

/// The recovery login request (the password is forgotten).
pub fn recover_request(
    username: &str,
    code: &RecoveryCode,
    token_label: &str,
) -> wire::RecoverRequest {
    wire::RecoverRequest {
        username: username.to_string(),
        recovery_key: wire::Blob(code.auth_key().to_bytes().to_vec()),
        token_label: Some(token_label.to_string()),
        token_ttl_secs: None,
    }
}

/// Checks the envelope fetched after a recovery login and unlocks it with the recovery
/// code.
pub fn open_recovery_envelope(
    doc: &wire::EnvelopeDoc,
    session: &wire::Session,
    code: &RecoveryCode,
) -> Result<UnlockedVault, LoginCheck> {
    let envelope = Envelope::parse(doc.envelope.as_bytes()).map_err(LoginCheck::Unlock)?;
    if envelope.vault_id() != session.vault_id {
        return Err(LoginCheck::OtherVault);
    }
    envelope
        .unlock_with_recovery_code(code)
        .map_err(LoginCheck::Unlock)
}

/// The login request once the master key is derived with the prelogin parameters.
pub fn login_request(username: &str, master: &MasterKey, token_label: &str) -> wire::LoginRequest {
    wire::LoginRequest {
        username: username.to_string(),
        auth_key: wire::Blob(master.auth_key().to_bytes().to_vec()),
        token_label: Some(token_label.to_string()),
        token_ttl_secs: None,
    }
}

/// Why a login's answers are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The envelope does not parse, opens with no key, or is of another vault.
    Unlock(UnlockError),
    /// The envelope was made with other KDF parameters than prelogin answered.
    KdfMismatch,
    /// The envelope names another vault than the login answer.
    OtherVault,
}

/// Checks the envelope fetched after login against what the login used, and unlocks it.
pub fn open_login_envelope(
    doc: &wire::EnvelopeDoc,
    session: &wire::Session,
    kdf: &KdfParams,
    master: &MasterKey,
) -> Result<UnlockedVault, LoginCheck> {
    let envelope = Envelope::parse(doc.envelope.as_bytes()).map_err(LoginCheck::Unlock)?;
    if envelope.kdf_params() != kdf {
        return Err(LoginCheck::KdfMismatch);
    }
    if envelope.vault_id() != session.vault_id {
        return Err(LoginCheck::OtherVault);
    }
    envelope
        .unlock_with_master(master)
        .map_err(LoginCheck::Unlock)
}
