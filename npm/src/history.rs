//! Record history from JS (PROTOCOL.md, "History"): `history(id)` (the past versions the
//! server keeps, each opened and checked like a current record: `sync::ops::history`) and
//! `restore(id, version)` (that value as a new local edit).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

use crate::client::{SyncClient, record_id};
use crate::http::{op_error, perform, sync_error, to_js};
use crate::run::{Inner, read, write};
use vaultsync::crypto::RecordId;
use vaultsync::sync::ops::history::{PastValue, open_page};
use vaultsync::sync::{Bearer, Call, OpError, Reply, Send, SyncError};
use vaultsync_wire::MAX_VERSION;

#[wasm_bindgen(typescript_custom_section)]
const TS_HISTORY: &str = r#"
/** A past version of a record (`history(id)`), newest first. */
export interface PastVersion {
  version: number;
  /** Its value; absent when the record was deleted at that version. */
  value?: unknown;
  /** When a newer version replaced it (Unix milliseconds). */
  replacedAt: number;
}
/** A deleted record whose past versions are still kept (`deletedRecords()`). */
export interface DeletedRecord {
  record_id: string;
  /** Its newest kept version: `restore(record_id, version)` brings that value back. */
  version: number;
  /** When it was deleted (Unix milliseconds). */
  replaced_at: number;
}
"#;

/// Every page of `id`'s history, opened.
async fn past_values(inner: &Rc<RefCell<Inner>>, id: RecordId) -> Result<Vec<PastValue>, JsValue> {
    let (server, token, vault) = {
        let i = read(inner)?;
        (i.server.clone(), i.token.clone(), i.engine.vault_id())
    };
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let send = Send {
            call: Call::History {
                vault,
                record: id,
                before,
            },
            bearer: Bearer::Session,
        };
        let page = match perform(&server, &send, Some(&token)).await? {
            Reply::History(page) => page,
            Reply::Refused(refusal) => return Err(op_error(OpError::Refused(refusal))),
            _ => {
                let reason = "an answer to another request";
                return Err(sync_error(SyncError::BadAnswer { reason }));
            }
        };
        let below = before.unwrap_or(MAX_VERSION + 1);
        let opened = open_page(&read(inner)?.vault, &id, below, &page).map_err(sync_error)?;
        let last = page.versions.last().map(|p| p.version);
        all.extend(opened);
        match (page.more, last) {
            (true, Some(last)) => before = Some(last),
            _ => return Ok(all),
        }
    }
}

#[wasm_bindgen]
impl SyncClient {
    /// The past versions of a record the server keeps (by default its last 10 for 30
    /// days, deletions included), newest first, each checked like a current record: a
    /// version the server forged or altered is refused (`TAMPERED`).
    #[wasm_bindgen(unchecked_return_type = "Promise<PastVersion[]>")]
    pub fn history(&self, id: &str) -> Promise {
        let (inner, id) = (self.inner.clone(), record_id(id));
        crate::promise(Box::pin(async move {
            let list = Array::new();
            for past in past_values(&inner, id?).await? {
                list.push(&to_js(&past)?);
            }
            Ok(list.into())
        }))
    }

    /// The deleted records whose past versions the server still keeps, in record id
    /// order: `restore(record_id, version)` brings one back.
    #[wasm_bindgen(js_name = deletedRecords, unchecked_return_type = "Promise<DeletedRecord[]>")]
    pub fn deleted_records(&self) -> Promise {
        let inner = self.inner.clone();
        crate::promise(Box::pin(async move {
            let (server, token, vault) = {
                let i = read(&inner)?;
                (i.server.clone(), i.token.clone(), i.engine.vault_id())
            };
            let list = Array::new();
            let mut after = None;
            loop {
                let send = Send {
                    call: Call::Deleted { vault, after },
                    bearer: Bearer::Session,
                };
                let page = match perform(&server, &send, Some(&token)).await? {
                    Reply::Deleted(page) => page,
                    Reply::Refused(refusal) => return Err(op_error(OpError::Refused(refusal))),
                    _ => {
                        let reason = "an answer to another request";
                        return Err(sync_error(SyncError::BadAnswer { reason }));
                    }
                };
                for record in &page.records {
                    list.push(&to_js(record)?);
                }
                match (page.more, page.records.last()) {
                    (true, Some(last)) => after = Some(last.record_id),
                    _ => return Ok(list.into()),
                }
            }
        }))
    }

    /// Restores `version` of a record (from `history(id)`) as a new local edit: its value,
    /// or a deletion if the record was deleted at that version; `sync()` next. A deleted
    /// record comes back this way. History is never rewritten. `NOT_FOUND` when the
    /// server keeps no such version.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn restore(&self, id: &str, version: f64) -> Promise {
        let (client, id) = (
            SyncClient {
                inner: self.inner.clone(),
            },
            record_id(id),
        );
        crate::promise(Box::pin(async move {
            let id = id?;
            let past = past_values(&client.inner, id)
                .await?
                .into_iter()
                .find(|p| p.version as f64 == version)
                .ok_or_else(|| {
                    sync_error(SyncError::NoSuchVersion {
                        record_id: id,
                        version: version as u64,
                    })
                })?;
            let now = js_sys::Date::now() as u64;
            {
                let mut i = write(&client.inner)?;
                match past.value {
                    Some(value) => i.engine.put(id, value, now),
                    None => drop(i.engine.delete(&id, now)),
                }
            }
            client.edited();
            Ok(JsValue::UNDEFINED)
        }))
    }
}
