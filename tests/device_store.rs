//! The device store (`vaultsync::sync::store`): incremental writes, lossless reopening,
//! bad entries refused one by one, a newer layout refused, and the session slot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use serde_json::json;
use sim::{Device, ModelServer, created};
use vaultsync::code::Code;
use vaultsync::crypto::store::{SessionSecret, seal_entry};
use vaultsync::crypto::{OsEntropy, RecordId};
use vaultsync::sync::store::{
    self, INDEX_PREFIX, META, VALUE_PREFIX, bucket_entry, bucket_of, value_bucket,
};
use vaultsync::sync::{Ctx, Input, Lookup, OpError, Operation, ReseedRun, Step, SyncRun};

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

fn entries(device: &Device, prefix: &str) -> Vec<(String, Vec<u8>)> {
    device
        .store
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn index(device: &Device) -> Vec<(String, Vec<u8>)> {
    entries(device, INDEX_PREFIX)
}

fn open(device: &Device, meta: &[u8]) -> Result<store::Opened, vaultsync::sync::SyncError> {
    store::open(&device.vault, meta, index(device))
}

fn id(n: u8) -> RecordId {
    RecordId::from_bytes([n; 16])
}

/// The writes of the device's next flush, not applied.
fn next_writes(device: &mut Device) -> store::Writes {
    let stored = &device.store;
    store::write_now(
        &mut device.writer,
        "sim",
        &sim::sim_token(),
        &mut device.engine,
        &device.vault,
        &mut OsEntropy,
        |name| Ok::<_, vaultsync::sync::SyncError>(stored.get(name).cloned()),
    )
    .unwrap()
}

/// A value bucket with one item's bytes replaced by `f` (or removed, for `None`).
fn edit_item(device: &mut Device, of: RecordId, f: impl FnOnce(&[u8]) -> Option<Vec<u8>>) {
    let name = value_bucket(bucket_of(&of));
    let old = device.store[&name].clone();
    let mut items: Vec<(RecordId, Vec<u8>)> = store::value_items(&old)
        .unwrap()
        .into_iter()
        .map(|(id, b)| (id, b.to_vec()))
        .collect();
    let at = items.iter().position(|(id, _)| *id == of).unwrap();
    match f(&items[at].1) {
        Some(bytes) => items[at].1 = bytes,
        None => drop(items.remove(at)),
    }
    let mut bytes = Vec::new();
    for (id, item) in items {
        bytes.extend_from_slice(id.as_bytes());
        bytes.extend_from_slice(&(item.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&item);
    }
    device.store.insert(name, bytes);
}

fn item(device: &Device, of: RecordId) -> Vec<u8> {
    let bucket = &device.store[&value_bucket(bucket_of(&of))];
    let items = store::value_items(bucket).unwrap();
    items.iter().find(|(id, _)| *id == of).unwrap().1.to_vec()
}

#[test]
fn one_edit_writes_its_bucket_and_a_sync_what_it_changed() {
    let (mut server, mut device) = synced_device(200);
    let buckets = index(&device).len();
    assert!(buckets > 100 && buckets <= 256, "{buckets} buckets");
    let values = entries(&device, VALUE_PREFIX).len();
    assert_eq!(values, buckets, "a value bucket beside each index bucket");
    assert_eq!(
        device.store.len(),
        2 + 2 * buckets,
        "envelope, meta, the buckets"
    );
    assert_eq!(device.flush(), 0, "nothing changed, nothing written");
    assert_eq!(
        device.engine.away_ids().len(),
        200,
        "values left memory once written"
    );
    // Values are the server's sealed bytes as received (0xD1), not sealed again.
    assert_eq!(item(&device, id(7))[0], 0xD1);

    // An edit of a record whose value is away: its index bucket only (the pending edit is
    // in its row; the synced value is already in the store, and is not read).
    let edited = id(7);
    device
        .engine
        .put(edited, json!({ "n": 7, "text": "edited" }), 2);
    let writes = next_writes(&mut device);
    let names: Vec<&str> = writes.puts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, vec![bucket_entry(bucket_of(&edited)).as_str()]);
    assert!(writes.deletes.is_empty());
    assert!(writes.bytes() < 8 * 1024, "{} bytes", writes.bytes());
    device.store.extend(writes.puts);

    // A sync that pushes it writes its index and value buckets and the metadata.
    assert!(device.sync(&mut server, 1000, None));
    assert_eq!(device.flush(), 3);
    let again = device.reopen_whole();
    assert!(again == *device.whole());
    // Reopened lazily: every value away, each one loaded when asked for.
    let mut lazy = device.reopen();
    assert_eq!(lazy.away_ids().len(), 200);
    assert_eq!(lazy.lookup(&edited), Lookup::Away);
    let bucket = device.store.get(&value_bucket(bucket_of(&edited)));
    store::load_value(&mut lazy, &device.vault, &edited, bucket.map(Vec::as_slice)).unwrap();
    assert_eq!(
        lazy.lookup(&edited),
        Lookup::Value(&json!({ "n": 7, "text": "edited" }))
    );
    assert_eq!(lazy.lookup(&id(250)), Lookup::Absent);
}

#[test]
fn bad_entries_are_refused_alone_and_the_next_sync_brings_them_back() {
    let (mut server, mut device) = synced_device(20);
    // An old value of record 6 kept from before an edit, put back afterwards.
    let old = item(&device, id(6));
    device
        .engine
        .put(id(6), json!({ "n": 6, "text": "new" }), 2);
    assert!(device.sync(&mut server, 1000, None));
    device.flush();
    // Values flipped, truncated, moved to another record, replayed, removed; a bucket
    // flipped.
    edit_item(&mut device, id(1), |b| {
        let mut b = b.to_vec();
        b[20] ^= 1;
        Some(b)
    });
    edit_item(&mut device, id(2), |b| Some(b[..9].to_vec()));
    let moved = item(&device, id(4));
    edit_item(&mut device, id(3), |_| Some(moved));
    edit_item(&mut device, id(6), |_| Some(old));
    edit_item(&mut device, id(8), |_| None);
    let bucket = bucket_entry(bucket_of(&id(9)));
    let in_bucket = (0..20)
        .filter(|n| bucket_of(&id(*n)) == bucket_of(&id(9)))
        .count();
    device.store.get_mut(&bucket).unwrap()[20] ^= 1;

    let opened = open(&device, &device.store[META]).unwrap();
    let refused: Vec<(String, &str)> = opened
        .refused
        .iter()
        .map(|(k, c)| (k.clone(), c.as_str()))
        .collect();
    assert_eq!(refused, vec![(bucket.clone(), "STATE_TAMPERED")]);
    let mut engine = opened.session.engine;
    assert_eq!(engine.live_ids().len(), 20 - in_bucket);
    let away = engine.away_ids();
    let loaded = store::load_values(&mut engine, &device.vault, &away, |name| {
        Ok::<_, ()>(device.store.get(name).cloned())
    })
    .unwrap();
    let mut refused: Vec<String> = loaded.into_iter().map(|(k, _)| k).collect();
    refused.sort();
    let mut expected: Vec<String> = [1, 2, 3, 6, 8]
        .iter()
        .filter(|n| bucket_of(&id(**n)) != bucket_of(&id(9)))
        .map(|n| format!("{}:{}", value_bucket(bucket_of(&id(*n))), id(*n)))
        .collect();
    expected.sort();
    assert_eq!(refused, expected, "each bad value refused on its own");
    let usable = engine.records().count();
    assert_eq!(
        usable,
        20 - in_bucket - expected.len(),
        "the rest is usable"
    );
    assert!(engine.resyncing(), "the next sync is a full pull");
    assert_eq!(
        engine.pending_count(),
        0,
        "nothing is uploaded from a refused entry"
    );
    // The full pull brings them back from the server, checked against its head.
    core::mem::swap(&mut device.engine, &mut engine);
    assert!(device.sync(&mut server, 1000, None));
    assert_eq!(device.engine.records().count(), 20);
    assert_eq!(
        device.engine.get(&id(6)),
        Some(&json!({ "n": 6, "text": "new" }))
    );
    assert!(device.engine.head_verifies(&device.vault));
}

#[test]
fn bad_metadata_refuses_the_store_and_a_newer_layout_is_not_misread() {
    let (_, device) = synced_device(3);
    let mut meta = device.store[META].clone();
    meta[30] ^= 1;
    let e = open(&device, &meta).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
    // A bucket's entry under the metadata's name: refused (the name is authenticated).
    let bucket = index(&device).remove(0).1;
    let e = open(&device, &bucket).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
    // A newer entry format byte, and a newer layout version inside a valid entry.
    let mut newer = device.store[META].clone();
    newer[0] = 0x60;
    let e = open(&device, &newer).unwrap_err();
    assert_eq!(e.code(), Code::UnsupportedFormat);
    let text = br#"{"store_version":3,"username":"sim","token":"t","engine":{}}"#;
    let newer = seal_entry(&device.vault, META, text, &mut OsEntropy).unwrap();
    let e = open(&device, &newer).unwrap_err();
    assert_eq!(e.code(), Code::UnsupportedFormat);
    // Another vault's store does not open with this vault.
    let other = vaultsync::crypto::UnlockedVault::create(
        &vaultsync::crypto::Password::from("other"),
        vaultsync::crypto::kdf::MIN_ITERATIONS,
        &mut OsEntropy,
    )
    .unwrap()
    .vault;
    let e = store::open(&other, &device.store[META], index(&device)).unwrap_err();
    assert_eq!(e.code(), Code::StateTampered);
}

#[test]
fn a_store_of_layout_1_is_refused_not_misread() {
    let (_, device) = synced_device(2);
    // Layout 1 (development builds of this round only): its meta says store_version 1.
    let text = br#"{"store_version":1,"username":"sim","token":"t","engine":{}}"#;
    let meta = seal_entry(&device.vault, META, text, &mut OsEntropy).unwrap();
    let e = store::open(&device.vault, &meta, index(&device)).unwrap_err();
    assert_eq!(e.code(), Code::UnsupportedFormat);
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
    let opened = store::open(&vault, &device.store[META], index(&device)).unwrap();
    assert!(opened.refused.is_empty());
    assert_eq!(opened.session.engine.away_ids(), device.engine.away_ids());
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

#[test]
fn values_under_a_key_retired_since_stay_away_until_the_pull_brings_them_again() {
    let (mut server, mut a) = synced_device(10);
    let old_key = a.vault.current_key_id();
    // Another device rotates the keys to the end: every record re-sealed, the old key
    // retired.
    let (envelope, _) = created();
    let mut b = Device::new(envelope, 1);
    assert!(b.sync(&mut server, 1000, None));
    assert!(b.run(
        &mut vaultsync::sync::RotateRun::new(),
        &mut server,
        1000,
        None
    ));
    // This device learns the new envelope (the old key gone) before it pulls the records
    // re-sealed (as a password change does: it adopts the current envelope), and restarts.
    a.engine = a.reopen();
    a.vault.adopt_envelope(&server.current_envelope()).unwrap();
    assert!(!a.vault.key_ids().contains(&old_key));
    // Its values are the server's bytes under the retired key: unreadable, not tampered.
    let away = a.engine.away_ids();
    let refused = store::load_values(&mut a.engine, &a.vault, &away, |name| {
        Ok::<_, ()>(a.store.get(name).cloned())
    })
    .unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(a.engine.lookup(&id(3)), Lookup::Away);
    // An edit on top of one: kept; the next sync brings every record re-sealed.
    a.engine.put(id(3), json!({ "n": 3, "text": "mine" }), 5);
    assert!(a.sync(&mut server, 1000, None));
    a.flush();
    a.whole();
    let engine = &a.engine;
    assert_eq!(engine.records().count(), 10);
    assert_eq!(engine.pending_count(), 0);
    assert_eq!(engine.get(&id(3)), Some(&json!({ "n": 3, "text": "mine" })));
    assert_eq!(engine.reseal_count(&a.vault), 0);
    assert!(engine.head_verifies(&a.vault));
}

#[test]
fn the_push_in_flight_has_its_own_entry_and_an_edit_meanwhile_does_not_rewrite_it() {
    let (mut server, mut device) = synced_device(20);
    for n in 0..20 {
        device
            .engine
            .put(id(n), json!({ "n": n, "text": "y".repeat(3000) }), 2);
    }
    // The push is sent and lands, but its answer is lost: it stays in flight.
    let cut = Some(sim::Cut {
        after: 0,
        delivered: true,
    });
    assert!(!device.sync(&mut server, 1000, cut));
    device.flush();
    assert!(
        device.store.contains_key(store::PUSH),
        "the push in flight is stored"
    );
    assert!(device.store[META].len() < 2048, "and not in the metadata");
    // An edit meanwhile writes its index bucket only.
    device.engine.put(id(30), json!({ "n": 30 }), 3);
    let writes = next_writes(&mut device);
    let names: Vec<&str> = writes.puts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, vec![bucket_entry(bucket_of(&id(30))).as_str()]);
    device.store.extend(writes.puts);
    // Reopened, the device resends the same push (the server recognises it) and goes on.
    assert!(device.reopen_whole() == *device.whole());
    device.engine = device.reopen();
    assert!(device.sync(&mut server, 1000, None));
    device.flush();
    assert!(
        !device.store.contains_key(store::PUSH),
        "gone once answered"
    );
    assert_eq!(device.engine.pending_count(), 0);
    assert!(device.engine.head_verifies(&device.vault));
}

/// Drives `op` as the npm package does: the values the next step needs loaded before it
/// (every value with `whole`: a re-seed), the store written after every answer and the
/// values it holds evicted. Returns how many values were loaded from the store.
fn drive_flushing(
    device: &mut Device,
    op: &mut dyn Operation,
    server: &mut ModelServer,
    whole: bool,
) -> Result<usize, OpError> {
    let mut loaded = 0;
    let mut policy = device.engine.policy();
    loop {
        let needed = match whole {
            true => device.engine.away_ids(),
            false => device.engine.needs_loading(),
        };
        loaded += needed.iter().filter(|id| device.engine.is_away(id)).count();
        device.load(&needed);
        let mut ctx = Ctx {
            engine: &mut device.engine,
            vault: &mut device.vault,
            resolver: &mut policy,
            entropy: &mut OsEntropy,
        };
        let Some(Step::Send(send)) = op.next(&mut ctx)? else {
            device.flush();
            return Ok(loaded);
        };
        // Pages of 4 changes.
        let (status, body) = server.handle(&send.call, 4);
        let reply = send.call.read_answer(status, &body)?;
        op.answer(&mut ctx, Input::Reply(reply))?;
        device.flush();
    }
}

#[test]
fn a_full_pull_with_values_away_loads_each_value_once() {
    // More records than the engine keeps loaded after an eviction (`KEEP_LOADED`).
    let (mut server, mut device) = synced_device(150);
    device.engine = device.reopen();
    assert_eq!(device.engine.away_ids().len(), 150);
    device.engine.start_resync();
    let loaded = drive_flushing(&mut device, &mut SyncRun::new(), &mut server, false).unwrap();
    // Evicted after each of its 38 pages, all but the 64 kept were loaded again for the
    // next one: 3,332 loads.
    assert_eq!(loaded, 150, "each value loaded once");
    assert!(device.engine.head_verifies(&device.vault));
    assert_eq!(device.whole().records().count(), 150);
}

#[test]
fn a_union_pull_with_values_away_pushes_again_what_the_server_lost() {
    let (mut server, mut a) = synced_device(30);
    let mut b = Device::new(&server.current_envelope(), server.envelope.version);
    drive_flushing(&mut b, &mut SyncRun::new(), &mut server, false).unwrap();
    let backup = server.clone();
    // After the backup: A adds a record that B sees, then B adds one that A never sees.
    a.engine
        .put(id(200), json!({"n": 200, "text": "from A"}), 2);
    drive_flushing(&mut a, &mut SyncRun::new(), &mut server, false).unwrap();
    drive_flushing(&mut b, &mut SyncRun::new(), &mut server, false).unwrap();
    b.engine
        .put(id(201), json!({"n": 201, "text": "only B has it"}), 3);
    drive_flushing(&mut b, &mut SyncRun::new(), &mut server, false).unwrap();
    // B restarts: its values are in its store, not in memory.
    b.engine = b.reopen();
    assert_eq!(b.engine.away_ids().len(), 32);
    // The server comes back from the backup; A finds it behind and re-seeds it (a new
    // chain, without B's record).
    let mut server = backup;
    assert!(drive_flushing(&mut a, &mut SyncRun::new(), &mut server, false).is_err());
    assert!(a.engine.server_behind());
    drive_flushing(&mut a, &mut ReseedRun::new(), &mut server, true).unwrap();
    assert!(!server.records.contains_key(&id(201)));
    // B's next sync meets the new chain: a union pull, its values away, gives the server
    // back what it lacks; A gets it on its next sync.
    drive_flushing(&mut b, &mut SyncRun::new(), &mut server, false).unwrap();
    drive_flushing(&mut a, &mut SyncRun::new(), &mut server, false).unwrap();
    let only_b = json!({"n": 201, "text": "only B has it"});
    assert!(server.records.contains_key(&id(201)));
    for device in [&mut a, &mut b] {
        assert_eq!(device.whole().get(&id(201)), Some(&only_b));
        assert_eq!(device.engine.records().count(), 32);
        assert!(device.engine.head_verifies(&device.vault));
    }
}
