//! The vault head against a malicious (or unlucky) server, engine level: devices run the
//! real operations against the simulation's model server, and the tests edit the server's
//! state underneath them. Every lie is refused with its code and changes nothing local;
//! what an honest server does (purges, restores from a backup) never makes a device
//! delete data. The same cases run against the real server with its database edited in
//! `server/tests/head.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "vault_head/mass_delete.rs"]
mod mass_delete;
mod sim;

use serde_json::json;
use sim::{Device, ModelServer, Transport, created};
use vaultsync::crypto::head::SealedHead;
use vaultsync::crypto::{OsEntropy, RecordId};
use vaultsync::sync::{Call, Event, OpError, Operation, ReseedRun, SyncRun};
use vaultsync_wire::{ChangesResponse, HeadDoc};

fn id(n: u8) -> RecordId {
    RecordId::from_bytes([n; 16])
}

/// A server and `n` devices that share its vault.
fn setup(n: usize) -> (ModelServer, Vec<Device>) {
    let (envelope, _) = created();
    let server = ModelServer::new(envelope);
    let devices = (0..n).map(|_| Device::new(envelope, 1)).collect();
    (server, devices)
}

/// A sync that returns its error (and the events of a completed one).
fn sync(device: &mut Device, server: &mut ModelServer) -> Result<Vec<Event>, OpError> {
    sync_with(device, server, &mut |call, server| {
        Some(server.handle(call, 3))
    })
}

fn sync_with(
    device: &mut Device,
    server: &mut ModelServer,
    transport: &mut Transport<'_>,
) -> Result<Vec<Event>, OpError> {
    let mut run = SyncRun::new();
    device.drive(&mut run, server, transport)?;
    Ok(run.take_events())
}

fn code(result: Result<Vec<Event>, OpError>) -> String {
    result.unwrap_err().code().to_string()
}

/// What a device holds (records, cursor, pinned head), to compare before and after a
/// refused sync. Flags may change (a re-seed offered, a full pull to try next), and so may
/// which values are in memory: they are all loaded first (a pull lends values to its
/// events, and a full pull loads every value).
fn state(device: &mut Device) -> String {
    let all = vaultsync_wire::json::ToJson::to_json(device.whole()).unwrap();
    let kept = json!({
        "records": all["records"],
        "cursor": all["cursor"],
        "pinned": all["head"]["pinned"],
        "digest": all["head"]["digest"],
    });
    kept.to_string()
}

/// Device 0 writes `count` records and syncs; the others sync after it.
fn written(count: u8) -> (ModelServer, Vec<Device>) {
    let (mut server, mut devices) = setup(3);
    for n in 1..=count {
        devices[0].engine.put(id(n), json!({ "n": n }), 1);
    }
    sync(&mut devices[0], &mut server).unwrap();
    sync(&mut devices[1], &mut server).unwrap();
    (server, devices)
}

#[test]
fn a_hidden_record_is_an_omission_for_a_new_device() {
    let (mut server, mut devices) = written(20);
    server.records.remove(&id(7));
    assert_eq!(code(sync(&mut devices[2], &mut server)), "OMISSION");
    assert_eq!(devices[2].whole().records().count(), 0, "nothing applied");
}

#[test]
fn a_hidden_version_bump_is_refused_and_changes_nothing() {
    let (mut server, mut devices) = written(3);
    let old = server.records[&id(2)].clone();
    devices[0]
        .engine
        .put(id(2), json!({"n": 2, "edited": true}), 2);
    sync(&mut devices[0], &mut server).unwrap();
    // The server puts the old version back where it was (below device 1's cursor).
    server.records.insert(id(2), old);
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut server)), "OMISSION");
    assert_eq!(state(&mut devices[1]), before);
}

#[test]
fn a_change_moved_below_the_cursor_is_found_by_a_full_pull() {
    let (mut server, mut devices) = written(3);
    devices[0]
        .engine
        .put(id(2), json!({"n": 2, "edited": true}), 2);
    sync(&mut devices[0], &mut server).unwrap();
    // Its old cursor (2) is free and below device 1's (3).
    server.records.get_mut(&id(2)).unwrap().cursor = 2;
    let events = sync(&mut devices[1], &mut server).unwrap();
    assert!(events.contains(&Event::Integrity {
        code: vaultsync::Code::Omission,
        recovered: true
    }));
    assert_eq!(
        devices[1].whole().get(&id(2)),
        Some(&json!({"n": 2, "edited": true}))
    );
}

#[test]
fn an_old_head_is_a_rollback_and_with_current_records_an_omission() {
    let (mut server, mut devices) = written(3);
    let old_head = server.head.clone();
    devices[0].engine.put(id(4), json!({"n": 4}), 2);
    sync(&mut devices[0], &mut server).unwrap();
    sync(&mut devices[1], &mut server).unwrap();
    server.head = old_head;
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut server)), "ROLLBACK");
    assert_eq!(state(&mut devices[1]), before);
    assert!(devices[1].engine.server_behind(), "a re-seed is offered");
    // A new device has no head to compare: the old head does not match the records.
    assert_eq!(code(sync(&mut devices[2], &mut server)), "OMISSION");
}

#[test]
fn an_old_state_served_whole_is_refused() {
    let (mut server, mut devices) = written(3);
    let backup = server.clone();
    devices[0].engine.put(id(4), json!({"n": 4}), 2);
    sync(&mut devices[0], &mut server).unwrap();
    sync(&mut devices[1], &mut server).unwrap();
    // The old records and their head, with the cursor ahead: SERVER_BEHIND.
    let mut old = backup.clone();
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut old)), "SERVER_BEHIND");
    assert_eq!(state(&mut devices[1]), before);
    assert!(devices[1].engine.server_behind());
    // The same with the cursor moved past the device's: ROLLBACK.
    let mut old = backup;
    old.next_cursor += 100;
    assert_eq!(code(sync(&mut devices[1], &mut old)), "ROLLBACK");
    assert_eq!(state(&mut devices[1]), before);
}

#[test]
fn a_stripped_tombstone_does_not_resurrect_a_record() {
    let (mut server, mut devices) = written(3);
    let live = server.records[&id(3)].clone();
    devices[0].engine.delete(&id(3), 2);
    sync(&mut devices[0], &mut server).unwrap();
    // The server replaces the tombstone with the old live copy, as a new change.
    server.next_cursor += 1;
    let cursor = server.next_cursor;
    server
        .records
        .insert(id(3), vaultsync_wire::Record { cursor, ..live });
    for device in [1, 2] {
        let before = state(&mut devices[device]);
        assert_eq!(code(sync(&mut devices[device], &mut server)), "OMISSION");
        assert_eq!(state(&mut devices[device]), before);
    }
}

#[test]
fn a_record_copied_under_another_id_is_tampered() {
    let (mut server, mut devices) = written(3);
    let mut copy = server.records[&id(1)].clone();
    copy.record_id = id(9);
    server.next_cursor += 1;
    copy.cursor = server.next_cursor;
    server.records.insert(id(9), copy);
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut server)), "TAMPERED");
    assert_eq!(state(&mut devices[1]), before);
}

#[test]
fn an_omitted_page_is_an_omission() {
    let (mut server, mut devices) = written(8);
    // Pages of 3: the server drops the first change of the second page.
    let mut pages = 0;
    let mut drop_second = |call: &Call, server: &mut ModelServer| {
        let (status, body) = server.handle(call, 3);
        if !matches!(call, Call::Changes { .. }) || status != 200 {
            return Some((status, body));
        }
        pages += 1;
        let mut page: ChangesResponse = serde_json::from_str(&body).unwrap();
        if pages % 3 == 2 {
            page.changes.remove(0);
        }
        Some((200, serde_json::to_string(&page).unwrap()))
    };
    let result = sync_with(&mut devices[2], &mut server, &mut drop_second);
    assert_eq!(code(result), "OMISSION");
    assert_eq!(devices[2].whole().records().count(), 0);
}

#[test]
fn devices_forked_onto_two_branches_see_a_fork_when_joined() {
    let (mut server, mut devices) = written(3);
    sync(&mut devices[2], &mut server).unwrap();
    let fork_point = server.clone();
    // Branch A: device 0 writes. Branch B (the server as it was): devices 1 and 2 write.
    devices[0].engine.put(id(10), json!("a"), 2);
    sync(&mut devices[0], &mut server).unwrap();
    let branch_a = server.clone();
    let mut branch_b = fork_point;
    devices[1].engine.put(id(11), json!("b"), 2);
    sync(&mut devices[1], &mut branch_b).unwrap();
    devices[2].engine.put(id(12), json!("b2"), 2);
    sync(&mut devices[2], &mut branch_b).unwrap();
    // Joined: each is shown the other branch.
    let before = state(&mut devices[0]);
    assert_eq!(code(sync(&mut devices[0], &mut branch_b.clone())), "FORK");
    assert_eq!(state(&mut devices[0]), before);
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut branch_a.clone())), "FORK");
    assert_eq!(state(&mut devices[1]), before);
}

#[test]
fn a_dropped_row_claimed_as_purged_deletes_nothing() {
    let (mut server, mut devices) = written(3);
    devices[0].engine.put(id(4), json!({"n": 4}), 2);
    sync(&mut devices[0], &mut server).unwrap();
    server.records.remove(&id(2));
    server.purged_cursor = server.next_cursor;
    let before = state(&mut devices[1]);
    assert_eq!(code(sync(&mut devices[1], &mut server)), "OMISSION");
    assert_eq!(state(&mut devices[1]), before);
    assert!(devices[1].whole().get(&id(2)).is_some());
}

#[test]
fn a_purged_last_tombstone_does_not_make_every_sync_pull_everything() {
    let (mut server, mut devices) = written(3);
    devices[0].engine.delete(&id(3), 2);
    sync(&mut devices[0], &mut server).unwrap();
    sync(&mut devices[0], &mut server).unwrap();
    server.purge();
    let mut pulls_from_zero = 0;
    let mut count = |call: &Call, server: &mut ModelServer| {
        if matches!(call, Call::Changes { since: 0, .. }) {
            pulls_from_zero += 1;
        }
        Some(server.handle(call, 3))
    };
    // Device 1 had not seen the tombstone: one full pull, and the record is gone (the
    // head vouches for it). Device 0 had: no full pull at all.
    sync_with(&mut devices[1], &mut server, &mut count).unwrap();
    sync_with(&mut devices[1], &mut server, &mut count).unwrap();
    sync_with(&mut devices[0], &mut server, &mut count).unwrap();
    sync_with(&mut devices[0], &mut server, &mut count).unwrap();
    assert_eq!(pulls_from_zero, 1);
    assert_eq!(devices[1].whole().get(&id(3)), None);
}

#[test]
fn a_record_created_again_after_its_purge_is_not_a_rollback() {
    let (mut server, mut devices) = written(3);
    for n in 0..3 {
        devices[0].engine.put(id(1), json!({ "edit": n }), 2);
        sync(&mut devices[0], &mut server).unwrap();
    }
    sync(&mut devices[1], &mut server).unwrap();
    devices[0].engine.delete(&id(1), 3);
    sync(&mut devices[0], &mut server).unwrap();
    sync(&mut devices[1], &mut server).unwrap();
    server.purge();
    devices[0].engine.put(id(1), json!("again"), 4);
    sync(&mut devices[0], &mut server).unwrap();
    assert_eq!(server.records[&id(1)].version, 1, "a new lineage");
    sync(&mut devices[1], &mut server).unwrap();
    assert_eq!(devices[1].whole().get(&id(1)), Some(&json!("again")));
    // And the old first version replayed now is refused.
    assert!(devices[1].engine.head_verifies(&devices[1].vault));
}

#[test]
fn a_server_restored_from_a_backup_is_reseeded_and_nothing_is_lost() {
    let (mut server, mut devices) = written(3);
    sync(&mut devices[2], &mut server).unwrap();
    let backup = server.clone();
    // After the backup: an addition and an edit on device 0, an addition on device 1
    // that device 0 sees, an edit on device 2 that nobody else sees before the restore.
    devices[0].engine.put(id(4), json!("added by 0"), 2);
    devices[0].engine.put(id(1), json!("edited by 0"), 2);
    sync(&mut devices[0], &mut server).unwrap();
    devices[1].engine.put(id(5), json!("added by 1"), 2);
    sync(&mut devices[1], &mut server).unwrap();
    sync(&mut devices[0], &mut server).unwrap();
    devices[2].engine.put(id(2), json!("edited by 2"), 2);
    sync(&mut devices[2], &mut server).unwrap();
    // Restored: every device's sync stops, nothing local changes.
    let mut server = backup;
    for device in &mut devices {
        let before = state(device);
        let code = code(sync(device, &mut server));
        assert!(code == "SERVER_BEHIND" || code == "ROLLBACK", "{code}");
        assert_eq!(state(device), before);
        assert!(device.engine.server_behind());
    }
    // Device 0 re-seeds; the others merge their records in on their next sync.
    devices[0]
        .drive(&mut ReseedRun::new(), &mut server, &mut |call, server| {
            Some(server.handle(call, 3))
        })
        .unwrap();
    for _ in 0..2 {
        for device in &mut devices {
            sync(device, &mut server).unwrap();
        }
    }
    let expected = [
        (1, json!("edited by 0")),
        (2, json!("edited by 2")),
        (3, json!({"n": 3})),
        (4, json!("added by 0")),
        (5, json!("added by 1")),
    ];
    for device in &mut devices {
        for (n, value) in &expected {
            assert_eq!(device.whole().get(&id(*n)), Some(value), "record {n}");
        }
        assert!(device.engine.head_verifies(&device.vault));
        assert!(!device.engine.server_behind());
    }
    let head = SealedHead::parse(server.head.as_ref().unwrap().head.as_bytes()).unwrap();
    assert_eq!(head.head().chain, 1, "the re-seed started a new chain");
}

#[test]
fn a_head_from_another_vault_is_tampered() {
    let (mut server, mut devices) = written(2);
    let other = vaultsync::crypto::UnlockedVault::create(
        &vaultsync::crypto::Password::from("other"),
        100_000,
        &mut OsEntropy,
    )
    .unwrap();
    let (mut other_server, mut other_devices) = {
        let server = ModelServer::new(&other.envelope);
        let vault = other.vault;
        let mut engine = vaultsync::sync::Engine::new(
            vault.vault_id(),
            vaultsync::sync::ConflictPolicy::KeepLocal,
        );
        engine.pin_envelope(1, 100_000);
        (server, vec![Device::with(engine, vault)])
    };
    other_devices[0].engine.put(id(1), json!(1), 1);
    sync(&mut other_devices[0], &mut other_server).unwrap();
    server.head = Some(HeadDoc {
        seq: server.head.as_ref().unwrap().seq,
        ..other_server.head.clone().unwrap()
    });
    assert_eq!(code(sync(&mut devices[2], &mut server)), "TAMPERED");
}
