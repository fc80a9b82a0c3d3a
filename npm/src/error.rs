//! Errors at the JS boundary: an `Error` whose `name` is `VaultsyncError` and whose `code`
//! is a stable string TypeScript can switch on.

use wasm_bindgen::prelude::*;

use vaultsync::code::Code;
use vaultsync::crypto::error::RandomError;
use vaultsync::crypto::{FormatError, KeyringError, NewKdfError, RecordError, UnlockError};

#[wasm_bindgen(typescript_custom_section)]
const TS_ERROR: &str = r#"
/** Every error thrown by vaultsync is an `Error` with `name === "VaultsyncError"` and a stable `code`. */
export interface VaultsyncError extends Error {
  name: "VaultsyncError";
  code:
    | "WRONG_PASSWORD"
    | "WRONG_RECOVERY_CODE"
    | "TAMPERED"
    | "KDF_TOO_WEAK"
    | "KDF_TOO_EXPENSIVE"
    | "UNSUPPORTED_FORMAT"
    | "BAD_INPUT"
    | "UNKNOWN_KEY"
    | "KEYRING_FULL"
    | "RANDOM_UNAVAILABLE"
    | "KDF_MISMATCH"
    // sync engine
    | "ROLLBACK"
    | "OMISSION"
    | "FORK"
    | "BAD_ANSWER"
    | "STATE_TAMPERED"
    | "WRONG_VAULT"
    | "NETWORK"
    | "KDF_DOWNGRADE"
    | "ROTATION_INCOMPLETE"
    | "BUSY"
    // the device store and sessions
    | "SESSION_INVALID"
    | "LOCKED"
    | "NO_STORE"
    | "STORE_FAILED"
    | "LINK_REFUSED"
    | "MASS_DELETE"
    // the server's codes (PROTOCOL.md), with `status` set
    | "MALFORMED_JSON" | "INVALID_FIELD" | "INVALID_CURSOR" | "DUPLICATE_RECORD"
    | "UNAUTHENTICATED" | "INVALID_TOKEN" | "DEVICE_REVOKED" | "INVALID_TICKET" | "INVALID_CREDENTIALS" | "NOT_FOUND"
    | "METHOD_NOT_ALLOWED" | "USERNAME_TAKEN" | "VAULT_EXISTS" | "CONFLICT" | "ENVELOPE_CHANGED"
    | "HEAD_STALE" | "RESYNC_REQUIRED" | "SERVER_BEHIND" | "PAYLOAD_TOO_LARGE" | "TOO_MANY_ITEMS"
    | "UNSUPPORTED_MEDIA_TYPE" | "RATE_LIMITED" | "TOO_MANY_SOCKETS" | "STORAGE_UNAVAILABLE";
  /** The HTTP status, on errors answered by the server. */
  status?: number;
}
"#;

/// Builds the JS error value.
pub(crate) fn js_error(code: Code, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("VaultsyncError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(
        &error,
        &JsValue::from_str("code"),
        &JsValue::from_str(code.as_str()),
    );
    error.into()
}

/// A value that converts into a coded JS error.
pub(crate) trait ToJsError {
    fn to_js(&self) -> JsValue;
}

macro_rules! coded {
    ($($t:ty),*) => {$(
        impl ToJsError for $t {
            fn to_js(&self) -> JsValue {
                js_error(self.code(), &self.to_string())
            }
        }
    )*};
}
coded!(
    UnlockError,
    RecordError,
    KeyringError,
    FormatError,
    NewKdfError,
    RandomError
);

/// `map_err` helper: `result.map_err(js)?`.
pub(crate) fn js<E: ToJsError>(error: E) -> JsValue {
    error.to_js()
}

/// A `BAD_INPUT` error about one argument.
pub(crate) fn bad_input(message: &str) -> JsValue {
    js_error(Code::BadInput, message)
}
