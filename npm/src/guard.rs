//! The mass-deletion failsafe in the npm package (`sync/engine/guard.rs`): the deletions a
//! sync held, confirmed or refused, and `deleteMany` checked against the same guard.

use wasm_bindgen::prelude::*;

use crate::client::{SyncClient, record_id};
use crate::error::bad_input;
use crate::http::{sync_error, to_js};
use crate::run::{read, write};

#[wasm_bindgen(typescript_custom_section)]
const TS_GUARD: &str = r#"
/** Options of `deleteMany`. */
export interface DeleteManyOptions {
  /** Delete even past the mass-deletion guard (the user said yes). */
  confirmed?: boolean;
}
"#;

#[wasm_bindgen]
impl SyncClient {
    /// The ids of the records held from a mass deletion (a sync's `deletionsHeld` event):
    /// still readable with `get` and listed by `records()` until `confirmDeletions()` or
    /// `keepDeletions()`.
    #[wasm_bindgen(js_name = heldDeletions, unchecked_return_type = "string[]")]
    pub fn held_deletions(&self) -> Result<js_sys::Array, JsValue> {
        let list = js_sys::Array::new();
        for id in read(&self.inner)?.engine.held_deletions() {
            list.push(&id.to_string().into());
        }
        Ok(list)
    }

    /// Applies the held deletions on this device (the server has them already); returns a
    /// `deleted` event per record, to apply like a sync's.
    #[wasm_bindgen(js_name = confirmDeletions, unchecked_return_type = "SyncEvent[]")]
    pub fn confirm_deletions(&self) -> Result<JsValue, JsValue> {
        let events = write(&self.inner)?.engine.confirm_deletions();
        self.edited();
        crate::status::announce(&self.inner);
        to_js(&events)
    }

    /// Refuses the held deletions: the records are written again from this device by the
    /// next `sync()` (every device gets them back). Returns how many.
    #[wasm_bindgen(js_name = keepDeletions)]
    pub fn keep_deletions(&self) -> Result<usize, JsValue> {
        let now = js_sys::Date::now() as u64;
        let kept = write(&self.inner)?.engine.keep_deletions(now);
        self.edited();
        crate::status::announce(&self.inner);
        Ok(kept)
    }

    /// Deletes these records (works offline); returns how many there were. Unless
    /// `options.confirmed`, a delete past the `massDelete` guard throws `MASS_DELETE` and
    /// deletes nothing: ask the user, then call again with `{ confirmed: true }`.
    #[wasm_bindgen(js_name = deleteMany)]
    pub fn delete_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: js_sys::Array,
        #[wasm_bindgen(unchecked_param_type = "DeleteManyOptions")] options: Option<js_sys::Object>,
    ) -> Result<usize, JsValue> {
        let mut parsed = Vec::new();
        for id in ids.iter() {
            let text = id
                .as_string()
                .ok_or_else(|| bad_input("ids must be strings"))?;
            parsed.push(record_id(&text)?);
        }
        let ids = parsed;
        let confirmed = options
            .and_then(|o| js_sys::Reflect::get(&o, &"confirmed".into()).ok())
            .is_some_and(|v| v.is_truthy());
        let now = js_sys::Date::now() as u64;
        let deleted = {
            let mut i = write(&self.inner)?;
            if !confirmed {
                i.engine.check_bulk_delete(&ids).map_err(sync_error)?;
            }
            ids.iter().filter(|id| i.engine.delete(id, now)).count()
        };
        self.edited();
        Ok(deleted)
    }
}
