//! PBKDF2 through the platform's WebCrypto (`crypto.subtle.deriveBits`), which runs native
//! code with SHA instructions. Falls back to the pure-WASM PBKDF2 where WebCrypto is absent.
//! Both give identical bits (tested in `crate::tests`).

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use vaultsync::crypto::kdf::derive_master;
use vaultsync::crypto::secret::KEY_LEN;
use vaultsync::crypto::{KdfParams, MasterKey, Password};

#[wasm_bindgen]
extern "C" {
    /// WebCrypto's `SubtleCrypto`.
    pub(crate) type SubtleCrypto;

    #[wasm_bindgen(method, catch, js_name = importKey)]
    pub(crate) fn import_key(
        this: &SubtleCrypto,
        format: &str,
        key_data: &Uint8Array,
        algorithm: &str,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = deriveBits)]
    fn derive_bits(
        this: &SubtleCrypto,
        algorithm: &Object,
        base_key: &JsValue,
        length: u32,
    ) -> Result<Promise, JsValue>;
}

/// `globalThis.crypto.subtle`, if this runtime has it.
pub(crate) fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    if crypto.is_undefined() || crypto.is_null() {
        return None;
    }
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    Some(subtle.unchecked_into())
}

/// PBKDF2-HMAC-SHA256 with WebCrypto; `Err` when WebCrypto refused or failed.
pub(crate) async fn pbkdf2_webcrypto(
    subtle: &SubtleCrypto,
    password: &Password,
    params: &KdfParams,
) -> Result<MasterKey, JsValue> {
    let pw = Uint8Array::from(password.expose());
    let usages = Array::of1(&JsValue::from_str("deriveBits"));
    let key = JsFuture::from(subtle.import_key("raw", &pw, "PBKDF2", false, &usages)?).await;
    pw.fill(0, 0, pw.length());
    let key = key?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"PBKDF2".into())?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into())?;
    Reflect::set(&algorithm, &"salt".into(), &Uint8Array::from(params.salt()))?;
    Reflect::set(
        &algorithm,
        &"iterations".into(),
        &params.iterations().into(),
    )?;
    let bits = JsFuture::from(subtle.derive_bits(&algorithm, &key, (KEY_LEN * 8) as u32)?).await?;
    let view = Uint8Array::new(&bits);
    if view.length() as usize != KEY_LEN {
        return Err(JsValue::from_str("deriveBits returned the wrong length"));
    }
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    view.copy_to(&mut out[..]);
    view.fill(0, 0, view.length());
    Ok(MasterKey::danger_from_pbkdf2_output(*out))
}

/// Which PBKDF2 implementation produced a master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KdfPath {
    WebCrypto,
    Wasm,
}

/// PBKDF2 by the fastest path available: WebCrypto, else pure WASM.
pub(crate) async fn pbkdf2(password: &Password, params: &KdfParams) -> (MasterKey, KdfPath) {
    if let Some(subtle) = subtle() {
        if let Ok(master) = pbkdf2_webcrypto(&subtle, password, params).await {
            return (master, KdfPath::WebCrypto);
        }
    }
    (derive_master(password, params), KdfPath::Wasm)
}
