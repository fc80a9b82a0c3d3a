//! `status()`'s figures and `onStatus`: the last successful sync, the last error, pending
//! edits, whether a sync runs, the store entries refused at opening.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::http::to_js;
use crate::run::{Inner, read, write};
use vaultsync::code::Code;

#[wasm_bindgen(typescript_custom_section)]
const TS_DEVICE: &str = r#"
/** What `status()` reports (and `onStatus` receives). Times in Unix milliseconds. */
export interface SyncStatus {
  /** When the last sync (or other operation) succeeded, or null. */
  lastSyncAt: number | null;
  /** The last operation's error, or null once one succeeds. */
  lastError: { code: VaultsyncError["code"]; message: string } | null;
  /** Local edits not yet accepted by the server. */
  pending: number;
  /** A sync (or password change, rotation, re-seed) is running. */
  syncing: boolean;
  /** Store entries that did not open when the client was opened (left out; the next sync pulls them again). */
  refusedEntries: { entry: string; code: VaultsyncError["code"] }[];
  /** Records held from a mass deletion (`heldDeletions()`): still here until `confirmDeletions()` or `keepDeletions()`. */
  heldDeletions: number;
}
"#;

/// What `status()` reports.
#[derive(Default)]
pub(crate) struct Status {
    pub(crate) last_sync_at: Option<f64>,
    pub(crate) last_error: Option<(String, String)>,
    pub(crate) syncing: bool,
    pub(crate) refused: Vec<(String, Code)>,
}

pub(crate) fn status_json(inner: &Inner) -> serde_json::Value {
    let s = &inner.status;
    let refused: Vec<serde_json::Value> = s
        .refused
        .iter()
        .map(|(entry, code)| json!({ "entry": entry, "code": code.as_str() }))
        .collect();
    json!({
        "lastSyncAt": s.last_sync_at,
        "lastError": s.last_error.as_ref().map(|(code, message)| json!({ "code": code, "message": message })),
        "pending": inner.engine.pending_count(),
        "syncing": s.syncing,
        "refusedEntries": refused,
        "heldDeletions": inner.engine.held_deletions().len(),
    })
}

/// Tells `onStatus` (its errors are ignored).
pub(crate) fn announce(inner: &Rc<RefCell<Inner>>) {
    let (callback, value) = match read(inner) {
        Ok(i) => (i.on_status.clone(), status_json(&i)),
        Err(_) => return,
    };
    if let (Some(callback), Ok(value)) = (callback, to_js(&value)) {
        let _ = callback.call1(&JsValue::NULL, &value);
    }
}

pub(crate) fn set_syncing(inner: &Rc<RefCell<Inner>>, syncing: bool) {
    if let Ok(mut i) = write(inner) {
        i.status.syncing = syncing;
    }
    announce(inner);
}

/// An operation ended: its time, or its error.
pub(crate) fn finished(inner: &Rc<RefCell<Inner>>, error: Option<&JsValue>) {
    if let Ok(mut i) = write(inner) {
        i.status.syncing = false;
        match error {
            None => {
                i.status.last_sync_at = Some(js_sys::Date::now());
                i.status.last_error = None;
            }
            Some(e) => {
                let get = |name: &str| {
                    js_sys::Reflect::get(e, &name.into())
                        .ok()
                        .and_then(|v| v.as_string())
                        .unwrap_or_default()
                };
                i.status.last_error = Some((get("code"), get("message")));
            }
        }
    }
    announce(inner);
}
