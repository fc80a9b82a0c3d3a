//! Untrusted server answers and saved sessions: whatever bytes arrive as a changes page, a
//! push answer or a stored session, the engine refuses or applies them without panicking,
//! and a refused answer leaves the engine exactly as it was.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::kdf::MIN_ITERATIONS;
use vaultsync::crypto::{OsEntropy, Password, RecordId, UnlockedVault};
use vaultsync::sync::{ConflictPolicy, Engine, Session};
use vaultsync_wire::{ChangesResponse, PushResponse};

fn vault() -> &'static UnlockedVault {
    static VAULT: OnceLock<UnlockedVault> = OnceLock::new();
    VAULT.get_or_init(|| {
        UnlockedVault::create(&Password::from("fuzz"), MIN_ITERATIONS, &mut OsEntropy)
            .expect("create")
            .vault
    })
}

fuzz_target!(|data: &[u8]| {
    let vault = vault();
    let mut engine = Engine::new(vault.vault_id(), ConflictPolicy::KeepLocal);
    engine.put(RecordId::from_bytes([1; 16]), serde_json::json!({"a": 1}), 1);
    let before = engine.clone();
    if let Ok(page) = serde_json::from_slice::<ChangesResponse>(data) {
        if engine.apply_changes(vault, &page).is_err() {
            assert!(engine == before, "a refused page changed the engine");
        }
    }
    let mut engine = before.clone();
    if engine.prepare_push(vault, 10, &mut OsEntropy).is_ok() {
        let pushed = engine.clone();
        if let Ok(answer) = serde_json::from_slice::<PushResponse>(data) {
            if engine.apply_push(vault, &answer).is_err() {
                assert!(engine == pushed, "a refused push answer changed the engine");
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((_, blob)) = Session::parse(text) {
            let _ = Session::open(vault, &blob);
        }
    }
    let _ = Session::open(vault, data);
});
