//! Reading records: one value (`get`) or all of them (`records`), loaded from the device
//! store when they are away there (a store opens with its index only), so that opening a
//! large vault is quick and listing it does not hold every value in WASM memory at once.

use js_sys::Promise;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::client::{SyncClient, record_id};
use crate::error::js_error;
use crate::http::to_js;
use crate::run::{read, write};
use vaultsync::code::Code;
use vaultsync::sync::Lookup;
use vaultsync::sync::store::{VALUE_PREFIX, open_value, value_entry};

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
            crate::store::load(&inner, &[id]).await?;
            match read(&inner)?.engine.lookup(&id) {
                Lookup::Value(value) => to_js(value),
                Lookup::Absent => Ok(JsValue::UNDEFINED),
                Lookup::Away => Err(js_error(
                    Code::StateTampered,
                    "the record's entry was refused",
                )),
            }
        }))
    }

    /// Every record: `[{ id, value }]`; works offline. Values not in memory are read
    /// from the device store in one pass and opened one at a time (none is kept). A value
    /// whose entry is refused is left out (until the next sync brings it back) and
    /// reported in `status().refusedEntries`.
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
            // Filled by insert: collecting into a map sorts first, and the sort's code costs
            // the .wasm 30 KB.
            let mut by_name = std::collections::BTreeMap::new();
            for (name, bytes) in stored {
                by_name.insert(name, bytes);
            }
            let stored = by_name;
            let i = read(&inner)?;
            let list = js_sys::Array::new();
            let mut refused = Vec::new();
            for id in i.engine.live_ids() {
                let value = match i.engine.lookup(&id) {
                    Lookup::Value(value) => to_js(value)?,
                    Lookup::Absent => continue,
                    Lookup::Away => {
                        let opened = stored
                            .get(&value_entry(&id))
                            .and_then(|bytes| open_value(&i.vault, &id, bytes).ok())
                            .filter(|(version, _)| Some(*version) == i.engine.away_version(&id));
                        match opened {
                            Some((_, value)) => to_js(&value)?,
                            None => {
                                refused.push(id);
                                continue;
                            }
                        }
                    }
                };
                let item: Value = json!({ "id": id.to_string() });
                let item = to_js(&item)?;
                js_sys::Reflect::set(&item, &"value".into(), &value)?;
                list.push(&item);
            }
            drop(i);
            if !refused.is_empty() {
                let mut i = write(&inner)?;
                for id in refused {
                    i.engine.refuse_value(&id);
                    i.status
                        .refused
                        .push((value_entry(&id), Code::StateTampered));
                }
            }
            Ok(list.into())
        }))
    }
}
