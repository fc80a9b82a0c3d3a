//! Reading records: one value (`get`) or all of them (`records`), loaded from the device
//! store when they are away there (a store opens with its index only), so that opening a
//! large vault is quick and listing it does not hold every value in WASM memory at once.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::{SyncClient, record_id};
use crate::error::js_error;
use crate::http::to_js;
use crate::run::{read, write};
use vaultsync::code::Code;
use vaultsync::crypto::RecordId;
use vaultsync::sync::Lookup;
use vaultsync::sync::SyncError;
use vaultsync::sync::store::{VALUE_PREFIX, bucket_of, open_item, value_bucket, value_items};

#[wasm_bindgen]
impl SyncClient {
    /// A record's value as this device sees it, or `undefined`; works offline. Read from
    /// the device store if it is not in memory (`STATE_TAMPERED` if its entry is refused:
    /// the next sync brings the record back).
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn get(&self, id: &str) -> Promise {
        crate::device::note_use(&self.inner);
        let inner = self.inner.clone();
        let id = record_id(id);
        crate::promise(Box::pin(async move {
            let id = id?;
            if let Some(refused) = crate::store::load(&inner, &[id]).await? {
                return Err(refused);
            }
            match read(&inner)?.engine.lookup(&id) {
                Lookup::Value(value) => to_js(value),
                Lookup::Absent => Ok(JsValue::UNDEFINED),
                // Not refused, and still away: under a key the vault retired since.
                Lookup::Away => Err(js_error(
                    Code::UnknownKey,
                    "the record's stored value is under a key retired since: sync to fetch it again",
                )),
            }
        }))
    }

    /// Every record: `[{ id, value }]`; works offline. Values not in memory are read
    /// from the device store in one pass and opened one at a time (none is kept in WASM
    /// memory). A value that is refused is left out (until the next sync brings it back)
    /// and reported in `status().refusedEntries`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Array<{ id: string; value: unknown }>>")]
    pub fn records(&self) -> Promise {
        crate::device::note_use(&self.inner);
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            let (js, any_away) = {
                let i = read(&inner)?;
                let js = i.store.as_ref().map(|s| s.js.clone());
                (js, !i.engine.away_ids().is_empty())
            };
            let stored = match (js, any_away) {
                (Some(js), true) => crate::store::read_all(&js, VALUE_PREFIX).await?,
                _ => Vec::new(),
            };
            // Each value bucket's items, by bucket number.
            let mut buckets: Vec<Vec<(RecordId, &[u8])>> = vec![Vec::new(); 256];
            for (name, bytes) in &stored {
                let number = name
                    .strip_prefix(VALUE_PREFIX)
                    .and_then(|b| u8::from_str_radix(b, 16).ok());
                if let (Some(b), Ok(items)) = (number, value_items(bytes)) {
                    buckets[usize::from(b)] = items;
                }
            }
            let i = read(&inner)?;
            let list = js_sys::Array::new();
            let mut refused = Vec::new();
            for id in i.engine.live_ids() {
                let value = match i.engine.lookup(&id) {
                    Lookup::Value(value) => to_js(value)?,
                    Lookup::Absent => continue,
                    Lookup::Away => {
                        let version = i.engine.away_version(&id).unwrap_or_default();
                        let bucket = &buckets[usize::from(bucket_of(&id))];
                        let stored = bucket.iter().find(|(item, _)| *item == id);
                        let opened = match i.engine.held(&id).or(stored.map(|(_, b)| *b)) {
                            Some(bytes) => open_item(&i.vault, &id, version, bytes),
                            None => Err(SyncError::StateCorrupt),
                        };
                        match opened {
                            Ok(value) => to_js(&value)?,
                            Err(e) => {
                                refused.push((id, e));
                                continue;
                            }
                        }
                    }
                };
                let item = js_sys::Object::new();
                js_sys::Reflect::set(&item, &"id".into(), &id.to_string().into())?;
                js_sys::Reflect::set(&item, &"value".into(), &value)?;
                list.push(&item);
            }
            drop(i);
            if !refused.is_empty() {
                let mut i = write(&inner)?;
                for (id, e) in refused {
                    if let SyncError::KeyRetired = e {
                        i.engine.value_unreadable(&id);
                        continue;
                    }
                    i.engine.refuse_value(&id);
                    let name = format!("{}:{id}", value_bucket(bucket_of(&id)));
                    i.status.refused.push((name, e.code()));
                }
            }
            Ok(list.into())
        }))
    }
}
