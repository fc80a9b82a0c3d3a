//! The device store from JS: the adapters of `js/store.js` (IndexedDB, memory, or the
//! application's own object), and writing what changed after every edit and every step of
//! a sync (`vaultsync::sync::store` makes the entries; this module hands them over).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::error::js_error;
use crate::run::{Inner, read, write};
use crate::with_pool;
use vaultsync::code::Code;
use vaultsync::crypto::RecordId;
use vaultsync::sync::store::{Read, StoreWriter, bucket_of, load_values, value_bucket};

#[wasm_bindgen(module = "/js/store.js")]
extern "C" {
    /// A store adapter: `get`, `list`, `write` (see `js/store.js`).
    #[derive(Clone)]
    pub(crate) type JsStore;

    #[wasm_bindgen(js_name = openStore, catch)]
    async fn open_store(kind: &JsValue, name: &str) -> Result<JsValue, JsValue>;

    /// Several entries read at once (an `Array` of `Uint8Array` or `undefined`).
    #[wasm_bindgen(js_name = readMany, catch)]
    async fn read_many(store: &JsStore, keys: Array) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    async fn get(this: &JsStore, key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    async fn list(this: &JsStore, prefix: &str) -> Result<JsValue, JsValue>;

    /// Deletes every entry of the store.
    #[wasm_bindgen(js_name = eraseAll, catch)]
    async fn erase_all(store: &JsStore) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = write)]
    async fn write_entries(this: &JsStore, puts: Array, deletes: Array)
    -> Result<JsValue, JsValue>;
}

/// A client's store: the adapter and what it last wrote.
pub(crate) struct Store {
    pub(crate) js: JsStore,
    pub(crate) writer: StoreWriter,
    /// Values stay in memory after a write (set while a key rotation or a re-seed, which
    /// need every value, runs).
    pub(crate) keep_values: bool,
}

impl Store {
    pub(crate) fn new(js: JsStore, writer: StoreWriter) -> Self {
        Self {
            js,
            writer,
            keep_values: false,
        }
    }
}

/// The namespace of an account's store: one per server and username, so that accounts
/// and servers in one browser profile never share entries.
pub(crate) fn namespace(server: &str, username: &str) -> String {
    format!("vaultsync/{server}/{username}")
}

fn store_error(what: &str, e: JsValue) -> JsValue {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_default();
    js_error(
        Code::StoreFailed,
        &format!("the device store {what}: {detail}"),
    )
}

/// Opens the store `kind` (`"indexeddb"`, `"memory"` or an adapter object) for `name`.
pub(crate) async fn open(kind: &JsValue, name: &str) -> Result<JsStore, JsValue> {
    let store = open_store(kind, name)
        .await
        .map_err(|e| store_error("did not open", e))?;
    Ok(store.unchecked_into())
}

/// One entry's bytes, or `None`.
pub(crate) async fn read_entry(store: &JsStore, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
    let value = store
        .get(key)
        .await
        .map_err(|e| store_error("could not be read", e))?;
    Ok(value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec))
}

/// Every entry whose name starts with `prefix`.
pub(crate) async fn read_all(
    store: &JsStore,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, JsValue> {
    let list = store
        .list(prefix)
        .await
        .map_err(|e| store_error("could not be read", e))?;
    let list: Array = list.dyn_into().map_err(|_| bad_list())?;
    let mut out = Vec::with_capacity(list.length() as usize);
    for pair in list.iter() {
        let pair: Array = pair.dyn_into().map_err(|_| bad_list())?;
        let key = pair.get(0).as_string().ok_or_else(bad_list)?;
        let bytes = pair
            .get(1)
            .dyn_into::<Uint8Array>()
            .map_err(|_| bad_list())?;
        out.push((key, bytes.to_vec()));
    }
    Ok(out)
}

fn bad_list() -> JsValue {
    js_error(
        Code::StoreFailed,
        "the device store's list() must give [name, Uint8Array] pairs",
    )
}

/// Writes `puts` and deletes `deletes` in one transaction.
/// Deletes every entry of `store` (`erase()`).
pub(crate) async fn erase(store: &JsStore) -> Result<(), JsValue> {
    erase_all(store).await.map(drop)
}

pub(crate) async fn apply(
    store: &JsStore,
    puts: Vec<(String, Vec<u8>)>,
    deletes: &[String],
) -> Result<(), JsValue> {
    let array = Array::new();
    for (key, bytes) in puts {
        array.push(&pair(key, &bytes));
    }
    apply_array(store, array, deletes).await
}

/// One entry to put, as the adapter's `write` takes it (the bytes copied out of WASM).
fn pair(key: String, bytes: &[u8]) -> Array {
    let pair = Array::new();
    pair.push(&JsValue::from(key));
    pair.push(&Uint8Array::from(bytes));
    pair
}

/// [`apply`] with the puts already in JS.
async fn apply_array(store: &JsStore, array: Array, deletes: &[String]) -> Result<(), JsValue> {
    let gone = Array::new();
    for key in deletes {
        gone.push(&JsValue::from(key.as_str()));
    }
    store
        .write_entries(array, gone)
        .await
        .map_err(|e| store_error("refused a write", e))?;
    Ok(())
}

/// Reads the named entries (value buckets: at most 256, most writes name none or one).
async fn read_named(js: &JsStore, names: &[String]) -> Result<Read, JsValue> {
    let keys: Array = names
        .iter()
        .map(|name| JsValue::from(name.as_str()))
        .collect();
    let read = read_many(js, keys)
        .await
        .map_err(|e| store_error("could not be read", e))?;
    let read: Array = read.unchecked_into();
    let mut out = Read::new();
    for (name, value) in names.iter().zip(read.iter()) {
        out.insert(
            name.clone(),
            value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec),
        );
    }
    Ok(out)
}

/// Writes what changed since the last flush (nothing without a store): the value buckets
/// it rewrites are read first (again if another write came between). A write the store
/// refuses (`STORE_FAILED`) makes the next flush write every entry again, so the store
/// never stays behind silently.
pub(crate) async fn flush(inner: &Rc<RefCell<Inner>>) -> Result<(), JsValue> {
    let (js, puts, deletes) = loop {
        let (js, plan) = {
            let i = read(inner)?;
            let Some(store) = i.store.as_ref() else {
                return Ok(());
            };
            (store.js.clone(), store.writer.plan(&i.engine))
        };
        let old = read_named(&js, &plan.names).await?;
        let mut guard = write(inner)?;
        let Inner {
            store,
            username,
            token,
            engine,
            vault,
            ..
        } = &mut *guard;
        let Some(store) = store.as_mut() else {
            return Ok(());
        };
        // Each entry goes to JS as soon as it is made (one value bucket at a time).
        let puts = Array::new();
        let deletes = with_pool(|pool| {
            store.writer.write_into(
                username,
                token,
                engine,
                vault,
                &plan,
                &old,
                pool,
                &mut |name, bytes| {
                    puts.push(&pair(name, &bytes));
                },
            )
        })
        .map_err(crate::http::sync_error)?;
        match deletes {
            Some(deletes) if puts.length() == 0 && deletes.is_empty() => return Ok(()),
            Some(deletes) => break (js, puts, deletes),
            None => continue,
        }
    };
    let written = apply_array(&js, puts, &deletes).await;
    if let Ok(mut guard) = write(inner) {
        let Inner { store, engine, .. } = &mut *guard;
        if let Some(store) = store.as_mut() {
            match &written {
                // Written: the values leave memory (the store has them).
                Ok(()) if !store.keep_values => engine.evict(),
                Ok(()) => {}
                Err(_) => store.writer.failed(engine),
            }
        }
    }
    written
}

/// Loads these records' values from the store into the engine (those away; nothing
/// without a store). A value refused (corrupted, replayed, missing) is left out until the
/// next full pull and reported in `status().refusedEntries`; the first one refused is
/// returned, for a caller that asked for that value. `Err`: the store failed.
pub(crate) async fn load(
    inner: &Rc<RefCell<Inner>>,
    ids: &[RecordId],
) -> Result<Option<JsValue>, JsValue> {
    let Some(js) = read(inner)?.store.as_ref().map(|s| s.js.clone()) else {
        return Ok(None);
    };
    let names: Vec<String> = {
        let i = read(inner)?;
        let mut wanted = [false; 256];
        for id in ids.iter().filter(|id| i.engine.is_away(id)) {
            wanted[usize::from(bucket_of(id))] = true;
        }
        (0..=255u8)
            .filter(|b| wanted[usize::from(*b)])
            .map(value_bucket)
            .collect()
    };
    if names.is_empty() {
        return Ok(None);
    }
    let read_buckets = read_named(&js, &names).await?;
    let mut guard = write(inner)?;
    let Inner {
        engine,
        vault,
        status,
        ..
    } = &mut *guard;
    let refused = load_values(engine, vault, ids, |name| {
        Ok::<_, ()>(read_buckets.get(name).flatten().map(<[u8]>::to_vec))
    })
    .unwrap_or_default();
    let first = refused.first().map(|(name, code)| {
        js_error(
            *code,
            &format!(
                "the device store's entry {name} was refused: the next sync brings the record back"
            ),
        )
    });
    status.refused.extend(refused);
    Ok(first)
}
