//! Large records opened with WebCrypto: AES-GCM in WASM is software (no AES instructions),
//! 31 times slower than the platform's at 64 KiB (BENCHMARKS.md). A page of changes is
//! fetched asynchronously anyway, so before the engine takes it, its records of at least
//! [`LARGE`] bytes are decrypted by `crypto.subtle` under the same key, nonce and
//! associated data (`FORMAT.md`), all at once; the engine takes those plaintexts instead of
//! opening the records itself. A record WebCrypto refuses is left to the engine, which
//! reports it (`TAMPERED`). The vault keys go to WebCrypto non-extractable, for decryption
//! only; the copy passed to it is zeroized, and `lock()` forgets the handles.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::run::{Inner, read, write};
use crate::webcrypto::{SubtleCrypto, subtle};
use vaultsync::crypto::record::{RECORD_HEADER_LEN, record_ad};
use vaultsync::crypto::{RecordId, RecordMeta, SealedRecord};
use vaultsync_wire::ChangesResponse;

/// Records at least this large (sealed bytes) are opened with WebCrypto.
pub(crate) const LARGE: usize = 8 * 1024;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(method, catch)]
    fn decrypt(
        this: &SubtleCrypto,
        algorithm: &Object,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// One record for WebCrypto.
struct Job {
    record_id: RecordId,
    version: u64,
    key_id: u32,
    nonce: Uint8Array,
    aad: Uint8Array,
    data: Uint8Array,
}

/// Opens the page's large records with WebCrypto and hands their plaintexts to the engine.
/// Without WebCrypto, or for small records, nothing happens (the engine opens them).
pub(crate) async fn open_large(
    inner: &Rc<RefCell<Inner>>,
    page: &ChangesResponse,
) -> Result<(), JsValue> {
    let Some(subtle) = subtle() else {
        return Ok(());
    };
    let (jobs, imports) = {
        let i = read(inner)?;
        let mut jobs = Vec::new();
        let mut imports = Vec::new();
        for change in &page.changes {
            let sealed = change.ciphertext.as_bytes();
            if change.deleted || sealed.len() < LARGE {
                continue;
            }
            let (Ok(parsed), Ok(meta)) = (
                SealedRecord::parse(sealed),
                RecordMeta::new(change.record_id, change.version, false),
            ) else {
                continue;
            };
            let known = |id: u32| {
                i.web_keys.iter().any(|(k, _)| *k == id) || imports.iter().any(|(k, _)| *k == id)
            };
            if !known(parsed.key_id) {
                match i.vault.danger_vault_key(parsed.key_id) {
                    Some(raw) => imports.push((parsed.key_id, raw)),
                    None => continue,
                }
            }
            let aad = record_ad(&i.vault.vault_id(), &meta, parsed.key_id);
            jobs.push(Job {
                record_id: change.record_id,
                version: change.version,
                key_id: parsed.key_id,
                nonce: Uint8Array::from(&parsed.nonce[..]),
                aad: Uint8Array::from(&aad[..]),
                data: Uint8Array::from(&sealed[RECORD_HEADER_LEN..]),
            });
        }
        (jobs, imports)
    };
    if jobs.is_empty() {
        return Ok(());
    }
    let usages = Array::of1(&JsValue::from_str("decrypt"));
    for (key_id, raw) in imports {
        let bytes = Uint8Array::from(&raw[..]);
        let key =
            JsFuture::from(subtle.import_key("raw", &bytes, "AES-GCM", false, &usages)?).await;
        bytes.fill(0, 0, bytes.length());
        write(inner)?.web_keys.push((key_id, key?));
    }
    let promises = Array::new();
    {
        let i = read(inner)?;
        for job in &jobs {
            let Some((_, key)) = i.web_keys.iter().find(|(k, _)| *k == job.key_id) else {
                promises.push(&Promise::reject(&JsValue::NULL));
                continue;
            };
            let algorithm = Object::new();
            Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())?;
            Reflect::set(&algorithm, &"iv".into(), &job.nonce)?;
            Reflect::set(&algorithm, &"additionalData".into(), &job.aad)?;
            let decrypted = subtle
                .decrypt(&algorithm, key, &job.data)
                .unwrap_or_else(|e| Promise::reject(&e));
            promises.push(&decrypted);
        }
    }
    let results: Array = JsFuture::from(Promise::all_settled(&promises))
        .await?
        .unchecked_into();
    let mut i = write(inner)?;
    for (job, result) in jobs.iter().zip(results.iter()) {
        let status = Reflect::get(&result, &"status".into())?;
        if status.as_string().as_deref() != Some("fulfilled") {
            continue;
        }
        let plaintext = Uint8Array::new(&Reflect::get(&result, &"value".into())?);
        i.engine
            .provide_opened(job.record_id, job.version, plaintext.to_vec());
    }
    Ok(())
}
