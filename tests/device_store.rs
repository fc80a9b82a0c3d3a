//! The device store (`vaultsync::sync::store`): incremental writes, lossless reopening,
//! bad entries refused one by one, a newer layout refused, and the session slot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use serde_json::json;
use sim::{Device, ModelServer, created};
use vaultsync::code::Code;
use vaultsync::crypto::store::{SessionSecret, seal_entry};
use vaultsync::crypto::{OsEntropy, RecordId};
use vaultsync::sync::store::{self, META, RECORD_PREFIX, record_entry};

/// A device that synced `n` records of about 1 KiB with the model server, its store written.
fn synced_device(n: u8) -> (ModelServer, Device) {
    let (envelope, _) = created();
    let mut server = ModelServer::new(envelope);
    let mut device = Device::new(envelope, 1);
    for i in 0..n {
        device.engine.put(
            RecordId::from_bytes([i; 16]),
            json!({ "n": i, "text": "x".repeat(1000) }),
            1,
        );
    }
    assert!(device.sync(&mut server, 1000, None));
    device.flush();
    (server, device)
}

fn records(device: &Device) -> Vec<(String, Vec<u8>)> {
    device
        .store
        .iter()
        .filter(|(k, _)| k.starts_with(RECORD_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn one_edit_writes_one_entry_and_a_sync_what_it_changed() {
    let (mut server, mut device) = synced_device(200);
    assert_eq!(
        device.store.len(),
        202,
        "envelope, meta and one entry per record"
    );
    assert_eq!(device.flush(), 0, "nothing changed, nothing written");

    let id = RecordId::from_bytes([7; 16]);
    device
        .engine
        .put(id, json!({ "n": 7, "text": "edited" }), 2);
    let writes = device
        .writer
        .writes(
            "sim",
            &sim::sim_token(),
            &mut device.engine,
            &device.vault,
            &mut OsEntropy,
        )
        .unwrap();
    let names: Vec<&str> = writes.puts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        vec![record_entry(&id).as_str()],
        "the metadata did not change"
    );
    assert!(writes.bytes() < 8 * 1024, "{} bytes", writes.bytes());
    device.store.extend(writes.puts);

    // A sync that pushes it writes that record and the metadata again, nothing else.
    assert!(device.sync(&mut server, 1000, None));
    assert_eq!(device.flush(), 2);
    assert!(device.reopen() == device.engine);
}

#[test]
fn a_bad_record_entry_is_refused_alone_and_the_next_sync_brings_it_back() {
    let (mut server, mut device) = synced_device(20);
    let a = record_entry(&RecordId::from_bytes([1; 16]));
    let b = record_entry(&RecordId::from_bytes([2; 16]));
    let c = record_entry(&RecordId::from_bytes([3; 16]));
    // Flipped, truncated, and moved to another record's name.
    device.store.get_mut(&a).unwrap()[20] ^= 1;
    device.store.get_mut(&b).unwrap().truncate(10);
    let moved = device.store[&record_entry(&RecordId::from_bytes([4; 16]))].clone();
    device.store.insert(c.clone(), moved);
    let opened = store::open(&device.vault, &device.store[META], records(&device)).unwrap();
    let mut refused: Vec<(String, &str)> = opened
        .refused
        .iter()
        .map(|(k, c)| (k.clone(), c.as_str()))
        .collect();
    refused.sort();
    let mut expected = vec![
        (a, "STATE_TAMPERED"),
        (b, "STATE_TAMPERED"),
        (c, "STATE_TAMPERED"),
    ];
    expected.sort();
    assert_eq!(refused, expected);
    let mut engine = opened.session.engine;
    assert_eq!(engine.records().count(), 17, "the rest is usable");
    assert!(engine.resyncing(), "the next sync is a full pull");
    assert_eq!(
        engine.pending_count(),
        0,
        "nothing is uploaded from a refused entry"
    );
    // The full pull brings the three back from the server, checked against its head.
    core::mem::swap(&mut device.engine, &mut engine);
    assert!(device.sync(&mut server, 1000, None));
    assert_eq!(device.engine.records().count(), 20);
    assert!(device.engine.head_verifies(&device.vault));
}

#[test]
fn bad_metadata_refuses_the_store_and_a_newer_layout_is_not_misread() {
    let (_, device) = synced_device(3);
    let mut meta = device.store[META].clone();
    meta[30] ^= 1;
    let e = store::open(&device.vault, &meta, records(&device)).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
    // A record's entry under the metadata's name: refused (the name is authenticated).
    let record = records(&device).remove(0).1;
    let e = store::open(&device.vault, &record, records(&device)).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
    // A newer entry format byte, and a newer layout version inside a valid entry.
    let mut newer = device.store[META].clone();
    newer[0] = 0x60;
    let e = store::open(&device.vault, &newer, records(&device)).unwrap_err();
    assert_eq!(e.code(), Code::UnsupportedFormat);
    let text = br#"{"store_version":2,"username":"sim","token":"t","engine":{}}"#;
    let newer = seal_entry(&device.vault, META, text, &mut OsEntropy).unwrap();
    let e = store::open(&device.vault, &newer, records(&device)).unwrap_err();
    assert_eq!(e.code(), Code::UnsupportedFormat);
    // Another vault's store does not open with this vault.
    let other = vaultsync::crypto::UnlockedVault::create(
        &vaultsync::crypto::Password::from("other"),
        vaultsync::crypto::kdf::MIN_ITERATIONS,
        &mut OsEntropy,
    )
    .unwrap()
    .vault;
    let e = store::open(&other, &device.store[META], records(&device)).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
}

#[test]
fn the_session_slot_opens_only_with_its_secret() {
    let (_, device) = synced_device(1);
    let secret = SessionSecret::generate(&mut OsEntropy).unwrap();
    let slot = device
        .vault
        .session_slot(&secret, 2_000, &mut OsEntropy)
        .unwrap();
    let envelope = device.vault.envelope();
    let text = secret.to_text();
    let again = SessionSecret::parse_text(&text).unwrap();
    let vault = envelope.unlock_with_session(&again, &slot, 1_000).unwrap();
    assert_eq!(vault.vault_id(), device.vault.vault_id());
    // The store opens with the vault the slot gave.
    let opened = store::open(&vault, &device.store[META], records(&device)).unwrap();
    assert!(opened.session.engine == device.engine);
    // Another secret, a modified slot: SESSION_INVALID.
    let other = SessionSecret::generate(&mut OsEntropy).unwrap();
    let e = envelope
        .unlock_with_session(&other, &slot, 1_000)
        .unwrap_err();
    assert_eq!(e.code(), Code::SessionInvalid);
    let mut bad = slot.clone();
    bad[5] ^= 1;
    assert_eq!(
        envelope
            .unlock_with_session(&secret, &bad, 1_000)
            .unwrap_err()
            .code(),
        Code::SessionInvalid
    );
    // Past its deadline (auto-lock), and after the keys are forgotten.
    assert_eq!(
        envelope
            .unlock_with_session(&secret, &slot, 2_001)
            .unwrap_err()
            .code(),
        Code::SessionInvalid
    );
    let mut locked = vault;
    locked.forget_keys();
    let meta = vaultsync::crypto::RecordMeta::new(RecordId::from_bytes([9; 16]), 1, false).unwrap();
    assert!(locked.seal(&meta, b"{}", &mut OsEntropy).is_err());
    assert!(SessionSecret::parse_text("short").is_err());
    assert_eq!(format!("{secret:?}"), "SessionSecret([redacted])");
}
