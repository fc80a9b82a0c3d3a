//! `SyncClient`'s options and the application's hooks: `onConflict` (a conflict resolver
//! in JS) and `onProgress`.

use js_sys::{Function, Object, Reflect};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::bad_input;
use crate::http::{from_js, to_js};
use vaultsync::sync::{ConflictPolicy, MassDelete, Progress, Resolve};

/// Options of register, login, recover and resume.
pub(super) struct Options {
    pub(super) iterations: Option<u32>,
    pub(super) token_label: String,
    /// `None` when not given (register and login use the default; resume keeps the saved
    /// session's policy).
    pub(super) policy: Option<ConflictPolicy>,
    pub(super) on_conflict: Option<Function>,
    pub(super) on_progress: Option<Function>,
    pub(super) fetch: Option<Function>,
    /// The device store: `"indexeddb"`, `"memory"` or an adapter object.
    pub(super) store: Option<JsValue>,
    /// Lock after this many milliseconds without use.
    pub(super) auto_lock_ms: Option<f64>,
    pub(super) on_status: Option<Function>,
    /// The mass-deletion guard (`None`: off).
    pub(super) mass_delete: Option<MassDelete>,
}

/// Reads the options object (`undefined` gives the defaults).
pub(super) fn options(value: &JsValue) -> Result<Options, JsValue> {
    let get = |name: &str| {
        if value.is_object() {
            Reflect::get(value, &name.into())
                .ok()
                .filter(|v| !v.is_undefined())
        } else {
            None
        }
    };
    let iterations = match get("iterations") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX))
                .ok_or_else(|| bad_input("options.iterations must be a whole number"))?
                as u32,
        ),
    };
    let token_label = match get("tokenLabel") {
        None => "vaultsync".to_string(),
        Some(v) => v
            .as_string()
            .ok_or_else(|| bad_input("options.tokenLabel must be a string"))?,
    };
    let policy = match get("conflictPolicy").map(|v| v.as_string()) {
        None => None,
        Some(Some(name)) if name == "keep-local" => Some(ConflictPolicy::KeepLocal),
        Some(Some(name)) if name == "server-wins" => Some(ConflictPolicy::ServerWins),
        Some(Some(name)) if name == "client-wins" => Some(ConflictPolicy::ClientWins),
        Some(_) => {
            return Err(bad_input(
                "options.conflictPolicy must be keep-local, server-wins or client-wins",
            ));
        }
    };
    let function = |name: &str| match get(name) {
        None => Ok(None),
        Some(f) => f
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| bad_input(&format!("options.{name} must be a function"))),
    };
    let on_conflict = function("onConflict")?;
    let on_progress = function("onProgress")?;
    let fetch = function("fetch")?;
    let on_status = function("onStatus")?;
    let store = match get("store") {
        None => None,
        Some(v)
            if v.as_string()
                .is_some_and(|k| k == "indexeddb" || k == "memory")
                || v.is_object() =>
        {
            Some(v)
        }
        Some(_) => {
            return Err(bad_input(
                "options.store must be \"indexeddb\", \"memory\" or an object with get, list and write",
            ));
        }
    };
    let auto_lock_ms = match get("autoLockMs") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|n| *n >= 1000.0 && n.is_finite())
                .ok_or_else(|| {
                    bad_input("options.autoLockMs must be a number of milliseconds, at least 1000")
                })?,
        ),
    };
    let mass_delete = mass_delete(get("massDelete"))?;
    Ok(Options {
        mass_delete,
        store,
        auto_lock_ms,
        on_status,
        iterations,
        token_label,
        policy,
        on_conflict,
        on_progress,
        fetch,
    })
}

/// `options.massDelete`: `false`, or `{ min, percent }` (each optional).
fn mass_delete(value: Option<JsValue>) -> Result<Option<MassDelete>, JsValue> {
    let bad = || {
        bad_input(
            "options.massDelete must be false or { min, percent } (whole numbers, percent at most 100)",
        )
    };
    let Some(value) = value else {
        return Ok(Some(MassDelete::default()));
    };
    if value.as_bool() == Some(false) {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(bad());
    }
    let mut guard = MassDelete::default();
    let whole = |name: &str, max: f64| -> Result<Option<f64>, JsValue> {
        match Reflect::get(&value, &name.into()) {
            Ok(v) if v.is_undefined() => Ok(None),
            Ok(v) => v
                .as_f64()
                .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= max)
                .map(Some)
                .ok_or_else(bad),
            Err(_) => Err(bad()),
        }
    };
    if let Some(min) = whole("min", 1e9)? {
        guard.min = min as usize;
    }
    if let Some(percent) = whole("percent", 100.0)? {
        guard.percent = percent as u8;
    }
    Ok(Some(guard))
}

/// Reports progress to the application's `onProgress` function (its errors are ignored:
/// a progress display must not break a sync).
pub(super) fn report(on_progress: &Option<Function>, progress: Progress) {
    if let (Some(f), Ok(value)) = (on_progress, to_js(&progress)) {
        let _ = f.call1(&JsValue::NULL, &value);
    }
}

/// Conflicts decided by the application's `onConflict` function.
pub(super) struct JsResolver<'a> {
    pub(super) decide: &'a Function,
}

impl Resolve for JsResolver<'_> {
    fn resolve(
        &mut self,
        path: &str,
        local: Option<&Value>,
        remote: Option<&Value>,
    ) -> Option<Value> {
        let arg = Object::new();
        let _ = Reflect::set(&arg, &"path".into(), &path.into());
        for (name, value) in [("local", local), ("remote", remote)] {
            if let Some(js) = value.and_then(|v| to_js(v).ok()) {
                let _ = Reflect::set(&arg, &name.into(), &js);
            }
        }
        match self.decide.call1(&JsValue::NULL, &arg) {
            Ok(kept) if !kept.is_undefined() => from_js(&kept).ok().or_else(|| local.cloned()),
            _ => local.cloned(),
        }
    }
}
