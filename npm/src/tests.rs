//! Tests of the JS facade, run by `wasm-pack test --node` and `--headless --chrome`.
#![allow(clippy::unwrap_used)]

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use crate::*;
use vaultsync::crypto::kdf::derive_master;

const ITER: Option<u32> = Some(MIN_ITERATIONS);

/// The value of an export's promise, as the Rust type it returns.
async fn awaited<T: wasm_bindgen::convert::TryFromJsValue>(promise: Promise) -> Result<T, JsValue> {
    let value = wasm_bindgen_futures::JsFuture::from(promise).await?;
    T::try_from_js_value(value)
}

async fn awaited_string(promise: Promise) -> Result<String, JsValue> {
    let value = wasm_bindgen_futures::JsFuture::from(promise).await?;
    value.as_string().ok_or(value)
}

fn code_of(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &"code".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
async fn webcrypto_and_wasm_pbkdf2_give_identical_bits() {
    let subtle = webcrypto::subtle().expect("this runtime has WebCrypto");
    for (pw, salt, iterations) in [
        ("", vec![0u8; 16], MIN_ITERATIONS),
        (
            "pässwörd ✓",
            (0..64).collect::<Vec<u8>>(),
            MIN_ITERATIONS + 1,
        ),
    ] {
        let params = KdfParams::new(iterations, salt).unwrap();
        let password = Password::from(pw);
        let native = webcrypto::pbkdf2_webcrypto(&subtle, &password, &params)
            .await
            .unwrap();
        let wasm = derive_master(&password, &params);
        assert!(bool::from(subtle::ConstantTimeEq::ct_eq(&native, &wasm)));
    }
    let (_, path) = webcrypto::pbkdf2(
        &Password::from("x"),
        &KdfParams::new(MIN_ITERATIONS, vec![1; 16]).unwrap(),
    )
    .await;
    assert_eq!(path, webcrypto::KdfPath::WebCrypto);
}

#[wasm_bindgen_test]
async fn create_unlock_seal_open() {
    let created = awaited::<CreatedVault>(create_vault("pw".into(), ITER))
        .await
        .unwrap();
    let vault = awaited::<Vault>(unlock(created.envelope(), "pw".into()))
        .await
        .unwrap();
    assert_eq!(vault.vault_id(), created.vault().vault_id());
    let id = vault.new_record_id().unwrap();
    let sealed = created
        .vault()
        .seal_text(&id, 1.0, false, "{\"a\":1}")
        .unwrap();
    assert_eq!(
        vault.open_text(&id, 1.0, false, &sealed).unwrap(),
        "{\"a\":1}"
    );
    let e = vault.open_text(&id, 2.0, false, &sealed).unwrap_err();
    assert_eq!(code_of(e.clone()), "TAMPERED");
    assert!(e.dyn_ref::<js_sys::Error>().is_some());
}

#[wasm_bindgen_test]
async fn errors_carry_stable_codes() {
    let created = awaited::<CreatedVault>(create_vault("pw".into(), ITER))
        .await
        .unwrap();
    assert_eq!(
        code_of(
            awaited::<Vault>(unlock(created.envelope(), "nope".into()))
                .await
                .err()
                .unwrap()
        ),
        "WRONG_PASSWORD"
    );
    assert_eq!(
        code_of(
            awaited::<Vault>(unlock("AAAA".into(), "pw".into()))
                .await
                .err()
                .unwrap()
        ),
        "UNSUPPORTED_FORMAT"
    );
    assert_eq!(
        code_of(
            awaited::<Vault>(unlock("!!".into(), "pw".into()))
                .await
                .err()
                .unwrap()
        ),
        "BAD_INPUT"
    );
    assert_eq!(
        code_of(
            awaited::<CreatedVault>(create_vault("pw".into(), Some(1000)))
                .await
                .err()
                .unwrap()
        ),
        "KDF_TOO_WEAK"
    );
    let vault = created.vault();
    assert_eq!(
        code_of(vault.seal("short", 1.0, false, b"").unwrap_err()),
        "BAD_INPUT"
    );
    let id = vault.new_record_id().unwrap();
    assert_eq!(
        code_of(vault.seal(&id, 1.5, false, b"").unwrap_err()),
        "BAD_INPUT"
    );
    assert_eq!(
        code_of(vault.seal(&id, 0.0, false, b"").unwrap_err()),
        "BAD_INPUT"
    );
    assert_eq!(
        code_of(vault.seal(&id, 9007199254740992.0, false, b"").unwrap_err()),
        "BAD_INPUT"
    );
}

#[wasm_bindgen_test]
async fn recovery_password_change_and_rotation() {
    let created = awaited::<CreatedVault>(create_vault("pw".into(), ITER))
        .await
        .unwrap();
    let vault = created.vault();
    let id = vault.new_record_id().unwrap();
    let sealed = vault.seal(&id, 1.0, false, b"data").unwrap();

    let changed = awaited_string(vault.change_password("pw2".into(), ITER))
        .await
        .unwrap();
    assert_eq!(
        code_of(
            awaited::<Vault>(unlock(changed.clone(), "pw".into()))
                .await
                .err()
                .unwrap()
        ),
        "WRONG_PASSWORD"
    );
    let recovered = awaited::<RecoveredVault>(recover(
        changed,
        created.recovery_code(),
        "pw3".into(),
        ITER,
    ))
    .await
    .unwrap();
    let again = awaited::<Vault>(unlock(recovered.envelope(), "pw3".into()))
        .await
        .unwrap();
    assert_eq!(again.open(&id, 1.0, false, &sealed).unwrap(), b"data");

    let rotated = again.rotate().unwrap();
    assert_eq!(again.current_key_id(), 2);
    assert!(again.needs_reseal(&sealed).unwrap());
    let other = awaited::<Vault>(unlock(rotated, "pw3".into()))
        .await
        .unwrap();
    assert_eq!(other.key_ids(), vec![1, 2]);
    assert_eq!(other.open(&id, 1.0, false, &sealed).unwrap(), b"data");
    assert_eq!(code_of(other.retire_key(2).unwrap_err()), "BAD_INPUT");
    other.retire_key(1).unwrap();
    assert_eq!(
        code_of(other.open(&id, 1.0, false, &sealed).unwrap_err()),
        "UNKNOWN_KEY"
    );
    assert_eq!(
        code_of(
            awaited::<RecoveredVault>(recover(created.envelope(), "0000".into(), "x".into(), ITER))
                .await
                .err()
                .unwrap()
        ),
        "BAD_INPUT"
    );
}

#[wasm_bindgen_test]
async fn login_keys_match_registration_and_refuse_other_parameters() {
    let created = awaited::<CreatedVault>(create_vault("pw".into(), ITER))
        .await
        .unwrap();
    let kdf = created.vault().kdf();
    let keys = awaited::<PasswordKeys>(derive_keys("pw".into(), kdf.clone()))
        .await
        .unwrap();
    assert_eq!(keys.auth_key(), created.auth_key());
    assert_eq!(keys.auth_key().len(), 43);
    let vault = keys.unlock(created.envelope()).unwrap();
    assert_eq!(vault.vault_id(), created.vault().vault_id());
    // Another password: another auth key, and the envelope does not open.
    let wrong = awaited::<PasswordKeys>(derive_keys("other".into(), kdf.clone()))
        .await
        .unwrap();
    assert_ne!(wrong.auth_key(), created.auth_key());
    assert_eq!(
        code_of(wrong.unlock(created.envelope()).err().unwrap()),
        "WRONG_PASSWORD"
    );
    // Parameters that are not the envelope's, or below the floor, are refused.
    let other = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&other, &k.into(), &v).unwrap();
    set("algorithm", "pbkdf2-sha256".into());
    set("iterations", f64::from(MIN_ITERATIONS).into());
    set("salt", to_base64url(&[9u8; 16]).into());
    let keys = awaited::<PasswordKeys>(derive_keys("pw".into(), other.clone().into()))
        .await
        .unwrap();
    assert_eq!(
        code_of(keys.unlock(created.envelope()).err().unwrap()),
        "KDF_MISMATCH"
    );
    set("iterations", f64::from(MIN_ITERATIONS - 1).into());
    let e = awaited::<PasswordKeys>(derive_keys("pw".into(), other.clone().into()))
        .await
        .err()
        .unwrap();
    assert_eq!(code_of(e), "KDF_TOO_WEAK");
    set("algorithm", "scrypt".into());
    let e = awaited::<PasswordKeys>(derive_keys("pw".into(), other.into()))
        .await
        .err()
        .unwrap();
    assert_eq!(code_of(e), "BAD_INPUT");
}
