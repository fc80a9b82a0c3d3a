//! The crypto-only API: [`Vault`] handles, creating, unlocking and recovering vaults,
//! and the keys a password derives for a server.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::error::{bad_input, js, js_error};
use crate::{derive_then, fresh_kdf, kdf_object, rejected, with_pool};
use vaultsync::code::Code;
use vaultsync::crypto::record::MAX_VERSION;
use vaultsync::crypto::{
    Envelope, GenerateId, KdfParams, OsEntropy, Password, RecordId, RecordMeta, RecoveryCode,
    UnlockedVault, from_base64url, to_base64url,
};

/// An unlocked vault. Holds its keys inside WASM memory; call `free()` to lock it (the
/// keys are zeroized).
#[wasm_bindgen]
pub struct Vault {
    inner: Rc<RefCell<UnlockedVault>>,
}

/// What `createVault` returns: the vault, its envelope and the recovery code to show once.
#[wasm_bindgen]
pub struct CreatedVault {
    vault: Rc<RefCell<UnlockedVault>>,
    envelope: String,
    recovery_code: String,
    auth_key: String,
}

#[wasm_bindgen]
impl CreatedVault {
    /// The unlocked vault.
    #[wasm_bindgen(getter)]
    pub fn vault(&self) -> Vault {
        Vault::shared(&self.vault)
    }

    /// The envelope (base64url) to store and upload.
    #[wasm_bindgen(getter)]
    pub fn envelope(&self) -> String {
        self.envelope.clone()
    }

    /// The recovery code, `XXXX-XXXX-…` (32 characters in 8 groups). Show it once; never store it.
    #[wasm_bindgen(getter, js_name = recoveryCode)]
    pub fn recovery_code(&self) -> String {
        self.recovery_code.clone()
    }

    /// The auth key (base64url) to register with the sync server: derived from the password,
    /// it proves the password to the server without revealing it or any vault key.
    #[wasm_bindgen(getter, js_name = authKey)]
    pub fn auth_key(&self) -> String {
        self.auth_key.clone()
    }
}

/// Keys derived from a password with given KDF parameters (one PBKDF2): the auth key to
/// log in with, and unlocking the envelope fetched after login without deriving again.
#[wasm_bindgen]
pub struct PasswordKeys {
    kdf: KdfParams,
    master: vaultsync::crypto::MasterKey,
}

/// Derives the keys of `password` under the KDF parameters a server answered (prelogin).
/// Refuses parameters below the client's floor (`KDF_TOO_WEAK`) or above its ceiling
/// (`KDF_TOO_EXPENSIVE`), whatever the server says.
#[wasm_bindgen(js_name = deriveKeys, unchecked_return_type = "Promise<PasswordKeys>")]
pub fn derive_keys(
    password: String,
    #[wasm_bindgen(unchecked_param_type = "VaultsyncKdf")] kdf: JsValue,
) -> Promise {
    let password = Password::new(password);
    match read_kdf(&kdf) {
        Ok(kdf) => derive_then(
            password,
            kdf,
            Box::new(|master, kdf| Ok(PasswordKeys { kdf, master }.into())),
        ),
        Err(e) => rejected(e),
    }
}

/// KDF parameters as the server answers them, checked against the client's bounds.
fn read_kdf(kdf: &JsValue) -> Result<KdfParams, JsValue> {
    let get = |name: &str| js_sys::Reflect::get(kdf, &name.into()).ok();
    if get("algorithm").and_then(|a| a.as_string()).as_deref() != Some("pbkdf2-sha256") {
        return Err(bad_input("kdf.algorithm must be \"pbkdf2-sha256\""));
    }
    let iterations = get("iterations")
        .and_then(|v| v.as_f64())
        .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX))
        .ok_or_else(|| bad_input("kdf.iterations must be a whole number"))?
        as u32;
    let salt = get("salt")
        .and_then(|v| v.as_string())
        .ok_or_else(|| bad_input("kdf.salt must be a base64url string"))?;
    let salt = from_base64url(&salt).map_err(js)?;
    KdfParams::new(iterations, salt).map_err(|e| js_error(e.code(), &e.to_string()))
}

#[wasm_bindgen]
impl PasswordKeys {
    /// The auth key (base64url) for `POST /v1/login`.
    #[wasm_bindgen(getter, js_name = authKey)]
    pub fn auth_key(&self) -> String {
        to_base64url(&self.master.auth_key().to_bytes()[..])
    }

    /// Unlocks the envelope. Throws `KDF_MISMATCH` when the envelope was made with other
    /// KDF parameters than these keys (the server answered stale or substituted ones), and
    /// otherwise as `unlock`.
    pub fn unlock(&self, envelope: String) -> Result<Vault, JsValue> {
        let envelope = Envelope::parse_text(&envelope).map_err(js)?;
        if envelope.kdf_params() != &self.kdf {
            return Err(js_error(
                Code::KdfMismatch,
                "the envelope's KDF parameters differ from the ones the keys were derived with",
            ));
        }
        let vault = envelope.unlock_with_master(&self.master).map_err(js)?;
        Ok(Vault::shared(&Rc::new(RefCell::new(vault))))
    }
}

/// Creates a new vault protected by `password`. `iterations` defaults to 600,000.
#[wasm_bindgen(js_name = createVault, unchecked_return_type = "Promise<CreatedVault>")]
pub fn create_vault(password: String, iterations: Option<u32>) -> Promise {
    let password = Password::new(password);
    match fresh_kdf(iterations) {
        Ok(kdf) => derive_then(
            password,
            kdf,
            Box::new(|master, kdf| {
                let new =
                    UnlockedVault::create_with_master(&master, kdf, &mut OsEntropy).map_err(js)?;
                Ok(CreatedVault {
                    auth_key: to_base64url(&master.auth_key().to_bytes()[..]),
                    envelope: new.envelope.to_text(),
                    recovery_code: new.recovery_code.to_text().to_string(),
                    vault: Rc::new(RefCell::new(new.vault)),
                }
                .into())
            }),
        ),
        Err(e) => rejected(e),
    }
}

/// Unlocks an envelope with a password. Throws `WRONG_PASSWORD`, `TAMPERED`,
/// `KDF_TOO_WEAK`, `KDF_TOO_EXPENSIVE`, `UNSUPPORTED_FORMAT` or `BAD_INPUT`.
#[wasm_bindgen(unchecked_return_type = "Promise<Vault>")]
pub fn unlock(envelope: String, password: String) -> Promise {
    let password = Password::new(password);
    match Envelope::parse_text(&envelope) {
        Ok(envelope) => derive_then(
            password,
            envelope.kdf_params().clone(),
            Box::new(move |master, _| {
                let vault = envelope.unlock_with_master(&master).map_err(js)?;
                Ok(Vault::shared(&Rc::new(RefCell::new(vault))).into())
            }),
        ),
        Err(e) => rejected(js(e)),
    }
}

/// What `recover` returns: the unlocked vault and the new envelope (new password) to upload.
#[wasm_bindgen]
pub struct RecoveredVault {
    vault: Rc<RefCell<UnlockedVault>>,
    envelope: String,
}

#[wasm_bindgen]
impl RecoveredVault {
    /// The unlocked vault.
    #[wasm_bindgen(getter)]
    pub fn vault(&self) -> Vault {
        Vault::shared(&self.vault)
    }

    /// The new envelope, protected by the new password.
    #[wasm_bindgen(getter)]
    pub fn envelope(&self) -> String {
        self.envelope.clone()
    }
}

/// Opens an envelope with its recovery code and sets a new password. The recovery code
/// stays valid. Throws `WRONG_RECOVERY_CODE`, `BAD_INPUT` (malformed code), `TAMPERED`, ….
#[wasm_bindgen(unchecked_return_type = "Promise<RecoveredVault>")]
pub fn recover(
    envelope: String,
    #[wasm_bindgen(js_name = "recoveryCode")] recovery_code: String,
    #[wasm_bindgen(js_name = "newPassword")] new_password: String,
    iterations: Option<u32>,
) -> Promise {
    let new_password = Password::new(new_password);
    let opened = RecoveryCode::parse(&recovery_code)
        .and_then(|code| Envelope::parse_text(&envelope)?.unlock_with_recovery_code(&code))
        .map_err(js)
        .and_then(|vault| Ok((vault, fresh_kdf(iterations)?)));
    drop(recovery_code);
    match opened {
        Ok((mut vault, kdf)) => derive_then(
            new_password,
            kdf,
            Box::new(move |master, kdf| {
                let envelope = vault
                    .change_password_with_master(&master, kdf, &mut OsEntropy)
                    .map_err(js)?;
                Ok(RecoveredVault {
                    vault: Rc::new(RefCell::new(vault)),
                    envelope: envelope.to_text(),
                }
                .into())
            }),
        ),
        Err(e) => rejected(e),
    }
}

fn meta(record_id: &str, version: f64, deleted: bool) -> Result<RecordMeta, JsValue> {
    let id = RecordId::parse(record_id).map_err(|_| {
        bad_input("recordId must be 22 characters of base64url (use vault.newRecordId())")
    })?;
    if !(version.fract() == 0.0 && version >= 1.0 && version <= MAX_VERSION as f64) {
        return Err(bad_input(
            "version must be an integer from 1 to Number.MAX_SAFE_INTEGER",
        ));
    }
    RecordMeta::new(id, version as u64, deleted).map_err(js)
}

impl Vault {
    /// Another handle on the same unlocked vault.
    fn shared(inner: &Rc<RefCell<UnlockedVault>>) -> Self {
        Self {
            inner: inner.clone(),
        }
    }
}

#[wasm_bindgen]
impl Vault {
    /// The vault id (base64url).
    #[wasm_bindgen(getter, js_name = vaultId)]
    pub fn vault_id(&self) -> String {
        self.inner.borrow().vault_id().to_string()
    }

    /// The key id new records are sealed under.
    #[wasm_bindgen(getter, js_name = currentKeyId)]
    pub fn current_key_id(&self) -> u32 {
        self.inner.borrow().current_key_id()
    }

    /// Every key id in the keyring, ascending.
    #[wasm_bindgen(js_name = keyIds)]
    pub fn key_ids(&self) -> Vec<u32> {
        self.inner.borrow().key_ids()
    }

    /// The KDF parameters of the current envelope, as the server wants them at register.
    #[wasm_bindgen(getter, unchecked_return_type = "VaultsyncKdf")]
    pub fn kdf(&self) -> JsValue {
        kdf_object(self.inner.borrow().envelope().kdf_params())
    }

    /// The current envelope (base64url): store it after `changePassword`, `rotate` or `retireKey`.
    #[wasm_bindgen(getter)]
    pub fn envelope(&self) -> String {
        self.inner.borrow().envelope().to_text()
    }

    /// A fresh random record id (base64url, 22 characters).
    #[wasm_bindgen(js_name = newRecordId)]
    pub fn new_record_id(&self) -> Result<String, JsValue> {
        with_pool(RecordId::generate)
            .map(|id| id.to_string())
            .map_err(|e| js_error(e.code(), &e.to_string()))
    }

    /// Seals bytes as record `recordId` at `version`; a tombstone has `deleted = true`.
    /// Returns the sealed record (base64url).
    pub fn seal(
        &self,
        #[wasm_bindgen(js_name = "recordId")] record_id: &str,
        version: f64,
        deleted: bool,
        plaintext: &[u8],
    ) -> Result<String, JsValue> {
        let meta = meta(record_id, version, deleted)?;
        let vault = self.inner.borrow();
        let sealed = with_pool(|pool| vault.seal(&meta, plaintext, pool)).map_err(js)?;
        Ok(to_base64url(&sealed))
    }

    /// Opens a sealed record, checking it belongs to this vault, `recordId`, `version` and
    /// `deleted`. Throws `TAMPERED`, `UNKNOWN_KEY`, `UNSUPPORTED_FORMAT` or `BAD_INPUT`.
    pub fn open(
        &self,
        #[wasm_bindgen(js_name = "recordId")] record_id: &str,
        version: f64,
        deleted: bool,
        sealed: &str,
    ) -> Result<Vec<u8>, JsValue> {
        let meta = meta(record_id, version, deleted)?;
        let bytes = from_base64url(sealed).map_err(js)?;
        self.inner.borrow().open_owned(&meta, bytes).map_err(js)
    }

    /// `seal` for a string (UTF-8), e.g. `JSON.stringify(value)`.
    #[wasm_bindgen(js_name = sealText)]
    pub fn seal_text(
        &self,
        #[wasm_bindgen(js_name = "recordId")] record_id: &str,
        version: f64,
        deleted: bool,
        text: &str,
    ) -> Result<String, JsValue> {
        self.seal(record_id, version, deleted, text.as_bytes())
    }

    /// `open` for a record sealed with `sealText`.
    #[wasm_bindgen(js_name = openText)]
    pub fn open_text(
        &self,
        #[wasm_bindgen(js_name = "recordId")] record_id: &str,
        version: f64,
        deleted: bool,
        sealed: &str,
    ) -> Result<String, JsValue> {
        String::from_utf8(self.open(record_id, version, deleted, sealed)?)
            .map_err(|_| bad_input("the record is not UTF-8 text; use open()"))
    }

    /// True when a sealed record is under an older key and should be re-sealed after a rotation.
    #[wasm_bindgen(js_name = needsReseal)]
    pub fn needs_reseal(&self, sealed: &str) -> Result<bool, JsValue> {
        let bytes = from_base64url(sealed).map_err(js)?;
        self.inner.borrow().needs_reseal(&bytes).map_err(js)
    }

    /// Re-wraps the vault under a new password (fresh salt). Returns the new envelope.
    #[wasm_bindgen(js_name = changePassword, unchecked_return_type = "Promise<string>")]
    pub fn change_password(
        &self,
        #[wasm_bindgen(js_name = "newPassword")] new_password: String,
        iterations: Option<u32>,
    ) -> Promise {
        let new_password = Password::new(new_password);
        let inner = self.inner.clone();
        match fresh_kdf(iterations) {
            Ok(kdf) => derive_then(
                new_password,
                kdf,
                Box::new(move |master, kdf| {
                    let envelope = inner
                        .borrow_mut()
                        .change_password_with_master(&master, kdf, &mut OsEntropy)
                        .map_err(js)?;
                    Ok(envelope.to_text().into())
                }),
            ),
            Err(e) => rejected(e),
        }
    }

    /// Starts a key rotation: a new current key. Returns the new envelope; re-seal records
    /// for which `needsReseal` is true, then `retireKey` the old key id.
    pub fn rotate(&self) -> Result<String, JsValue> {
        let mut vault = self.inner.borrow_mut();
        vault.rotate(&mut OsEntropy).map_err(js)?;
        Ok(vault.envelope().to_text())
    }

    /// Removes a key no record uses any more. Returns the new envelope.
    #[wasm_bindgen(js_name = retireKey)]
    pub fn retire_key(
        &self,
        #[wasm_bindgen(js_name = "keyId")] key_id: u32,
    ) -> Result<String, JsValue> {
        let envelope = self
            .inner
            .borrow_mut()
            .retire_key(key_id, &mut OsEntropy)
            .map_err(js)?;
        Ok(envelope.to_text())
    }
}
