//! Untrusted server answers and saved sessions: whatever bytes arrive as a changes page, a
//! push answer or a stored session, the engine refuses or applies them without panicking,
//! and a refused answer leaves the engine exactly as it was. The same bytes (after a
//! two-byte status) also arrive as the HTTP answer to each request of a sync operation.
#![no_main]

mod common;

use std::sync::OnceLock;

use common::vault;
use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::kdf::{MIN_ITERATIONS, derive_master};
use vaultsync::crypto::{MasterKey, OsEntropy, Password, RecordId, UnlockedVault};
use vaultsync::sync::{Call, ConflictPolicy, Ctx, Engine, Input, Operation, Session, Step, SyncRun};
use vaultsync_wire::{ChangesResponse, PushResponse};


/// The password's master key for the vault's envelope (another unlocked copy per input).
fn master() -> &'static MasterKey {
    static MASTER: OnceLock<MasterKey> = OnceLock::new();
    MASTER.get_or_init(|| derive_master(&Password::from("fuzz"), vault().envelope().kdf_params()))
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
    if let [hi, lo, body @ ..] = data {
        if let Ok(body) = std::str::from_utf8(body) {
            answer_to_a_sync(u16::from_be_bytes([*hi, *lo]) % 600, body, &before);
        }
    }
});

/// `status` and `body` as the answer to a sync's first request (a push): read and taken,
/// or refused with the engine unchanged; and as the answer to the other requests.
fn answer_to_a_sync(status: u16, body: &str, engine: &Engine) {
    let mut vault = vault().envelope().unlock_with_master(master()).expect("unlock");
    let mut engine = engine.clone();
    let mut policy = ConflictPolicy::KeepLocal;
    let mut ctx = Ctx {
        engine: &mut engine,
        vault: &mut vault,
        resolver: &mut policy,
        entropy: &mut OsEntropy,
    };
    let mut run = SyncRun::new();
    let Ok(Some(Step::Send(send))) = run.next(&mut ctx) else {
        panic!("a sync with a pending edit starts with a push");
    };
    let sent = ctx.engine.clone();
    if let Ok(reply) = send.call.read_answer(status, body) {
        if run.answer(&mut ctx, Input::Reply(reply)).is_err() {
            assert!(*ctx.engine == sent, "a refused answer changed the engine");
        }
    }
    let vault_id = ctx.vault.vault_id();
    for other in [
        Call::Changes {
            vault: vault_id,
            since: 0,
            full: false,
        },
        Call::GetEnvelope(vault_id),
        Call::Tokens,
        Call::Prelogin(vaultsync_wire::PreloginRequest {
            username: "u".into(),
        }),
    ] {
        let _ = other.read_answer(status, body);
    }
}
