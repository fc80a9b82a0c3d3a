//! The mass-deletion failsafe, engine level: devices run the real operations against the
//! simulation's model server. A faulty device (or a bug, or a person's mistake) that
//! deletes most of the vault does not make the other devices delete it: their pulls hold
//! the deletions, apply everything else, and wait for the application's word. The same
//! cases run against the real server (SQLite and PostgreSQL) in `server/tests/head/failsafe.rs`.
use crate::sim::{Device, ModelServer, created};
use serde_json::json;
use vaultsync::Code;
use vaultsync::crypto::RecordId;
use vaultsync::sync::{Event, MassDelete, SyncRun};

fn id(n: u8) -> RecordId {
    RecordId::from_bytes([n; 16])
}

fn sync(device: &mut Device, server: &mut ModelServer) -> Vec<Event> {
    let mut run = SyncRun::new();
    assert!(device.run(&mut run, server, 7, None));
    vaultsync::sync::Operation::take_events(&mut run)
}

/// Device 0 writes 40 records; device 1 has them too.
fn forty() -> (ModelServer, Device, Device) {
    let (envelope, _) = created();
    let mut server = ModelServer::new(envelope);
    let mut faulty = Device::new(envelope, 1);
    let mut other = Device::new(envelope, 1);
    for n in 1..=40 {
        faulty.engine.put(id(n), json!({ "n": n }), 1);
    }
    sync(&mut faulty, &mut server);
    sync(&mut other, &mut server);
    (server, faulty, other)
}

fn deleted(events: &[Event]) -> usize {
    let deleted = events.iter().filter(|e| matches!(e, Event::Deleted { .. }));
    deleted.count()
}

fn live(device: &mut Device) -> usize {
    device.whole().records().count()
}

#[test]
fn a_mass_deletion_is_held_and_everything_else_applies() {
    let (mut server, mut faulty, mut other) = forty();
    for n in 1..=30 {
        assert!(faulty.engine.delete(&id(n), 2));
    }
    faulty
        .engine
        .put(id(35), json!({ "n": 35, "edited": true }), 2);
    sync(&mut faulty, &mut server);
    // The other device edited a record the faulty one deleted, and another one.
    other.engine.put(id(3), json!({ "n": 3, "mine": true }), 2);
    other
        .engine
        .put(id(38), json!({ "n": 38, "mine": true }), 2);
    let events = sync(&mut other, &mut server);

    assert!(
        events.contains(&Event::DeletionsHeld { count: 29 }),
        "{events:?}"
    );
    assert_eq!(deleted(&events), 0, "no deletion applied");
    assert!(events.contains(&Event::Changed {
        id: id(35),
        value: json!({ "n": 35, "edited": true })
    }));
    assert_eq!(other.engine.held_deletions().len(), 29);
    assert_eq!(live(&mut other), 40, "every record still in view");
    assert_eq!(other.engine.get(&id(1)), Some(&json!({ "n": 1 })));
    // Its edits went out: the edited record survives the deletion (edits win).
    let server_live = |s: &ModelServer| s.records.values().filter(|r| !r.deleted).count();
    assert_eq!(server_live(&server), 11, "31 to 40, and 3 written again");
    assert_eq!(other.engine.pending_count(), 0);

    // A sync again holds nothing new and deletes nothing.
    let again = sync(&mut other, &mut server);
    assert_eq!(deleted(&again), 0);
    assert!(
        !again
            .iter()
            .any(|e| matches!(e, Event::DeletionsHeld { .. }))
    );
    assert_eq!(live(&mut other), 40);

    // The application confirms: the deletions apply, and nothing is pushed.
    let confirmed = other.engine.confirm_deletions();
    assert_eq!(deleted(&confirmed), 29);
    assert_eq!(live(&mut other), 11);
    assert_eq!(other.engine.get(&id(1)), None);
    assert!(other.engine.held_deletions().is_empty());
    assert_eq!(other.engine.pending_count(), 0);
    sync(&mut other, &mut server);
    assert_eq!(server_live(&server), 11);
}

#[test]
fn kept_records_are_written_again_everywhere() {
    let (mut server, mut faulty, mut other) = forty();
    for n in 1..=40 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    let events = sync(&mut other, &mut server);
    assert!(events.contains(&Event::DeletionsHeld { count: 40 }));
    assert_eq!(other.engine.keep_deletions(3), 40);
    assert!(other.engine.held_deletions().is_empty());
    sync(&mut other, &mut server);
    let back = sync(&mut faulty, &mut server);
    assert!(
        back.contains(&Event::Changed {
            id: id(7),
            value: json!({ "n": 7 })
        }),
        "the faulty device gets them back"
    );
    assert_eq!(live(&mut faulty), 40);
}

#[test]
fn a_deletion_within_the_guard_or_with_it_off_applies_at_once() {
    let (mut server, mut faulty, mut other) = forty();
    for n in 1..=20 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    let events = sync(&mut other, &mut server);
    assert_eq!(deleted(&events), 20, "20 is not more than 20");
    // Half of the rest (10 of 20) is not more than half either.
    for n in 21..=30 {
        faulty.engine.delete(&id(n), 3);
    }
    sync(&mut faulty, &mut server);
    assert_eq!(deleted(&sync(&mut other, &mut server)), 10);

    // Off: 9 of 10 go at once; a stricter guard holds 9 of 10.
    let (mut server, mut faulty, mut other) = forty();
    other.engine.set_mass_delete(None);
    for n in 1..=39 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    assert_eq!(deleted(&sync(&mut other, &mut server)), 39);
    let (mut server, mut faulty, mut other) = forty();
    other
        .engine
        .set_mass_delete(Some(MassDelete { min: 2, percent: 5 }));
    for n in 1..=3 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    let events = sync(&mut other, &mut server);
    assert!(events.contains(&Event::DeletionsHeld { count: 3 }));
}

#[test]
fn held_values_away_in_the_store_are_loaded_and_survive_a_restart() {
    let (mut server, mut faulty, mut other) = forty();
    other.flush(); // the values leave memory: the store has them
    assert!(other.engine.away_ids().len() > 30);
    for n in 1..=30 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    let events = sync(&mut other, &mut server);
    assert!(events.contains(&Event::DeletionsHeld { count: 30 }));
    other.flush();
    assert_eq!(other.engine.get(&id(4)), Some(&json!({ "n": 4 })));

    // The device restarts: the store gives the held records back, still held.
    let reopened = other.reopen();
    assert_eq!(reopened.held_deletions().len(), 30);
    assert_eq!(reopened.get(&id(4)), Some(&json!({ "n": 4 })));
    other.engine = reopened;
    assert_eq!(deleted(&sync(&mut other, &mut server)), 0);
    assert_eq!(deleted(&other.engine.confirm_deletions()), 30);
    other.flush();
    let reopened = other.reopen();
    assert!(reopened.held_deletions().is_empty());
    assert_eq!(reopened.get(&id(4)), None);
}

#[test]
fn a_full_pull_that_lists_most_records_gone_holds_them_too() {
    let (mut server, mut faulty, mut other) = forty();
    for n in 1..=30 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    server.purge(); // the tombstones are gone: the other device resyncs in full
    let events = sync(&mut other, &mut server);
    assert!(
        events.contains(&Event::DeletionsHeld { count: 30 }),
        "{events:?}"
    );
    assert_eq!(live(&mut other), 40);
    assert_eq!(deleted(&other.engine.confirm_deletions()), 30);
    assert_eq!(live(&mut other), 10);
}

#[test]
fn a_held_record_answers_edits_deletes_and_other_devices() {
    let (mut server, mut faulty, mut other) = forty();
    for n in 1..=30 {
        faulty.engine.delete(&id(n), 2);
    }
    sync(&mut faulty, &mut server);
    sync(&mut other, &mut server);
    // Edited here: the record stays, written again. Deleted here: gone, nothing pushed.
    other.engine.put(id(1), json!({ "n": 1, "kept": true }), 3);
    assert!(other.engine.delete(&id(2), 3));
    assert_eq!(other.engine.get(&id(2)), None);
    assert_eq!(other.engine.pending_count(), 1);
    // Created again on the faulty device: its copy replaces the held one.
    faulty
        .engine
        .put(id(3), json!({ "n": 3, "again": true }), 3);
    sync(&mut faulty, &mut server);
    let events = sync(&mut other, &mut server);
    assert!(events.contains(&Event::Changed {
        id: id(3),
        value: json!({ "n": 3, "again": true })
    }));
    assert_eq!(other.engine.held_deletions().len(), 27);
    sync(&mut faulty, &mut server);
    assert_eq!(
        faulty.whole().get(&id(1)),
        Some(&json!({ "n": 1, "kept": true }))
    );
}

#[test]
fn a_local_bulk_delete_is_checked_against_the_guard() {
    let (_, _, other) = forty();
    let ids: Vec<RecordId> = (1..=30).map(id).collect();
    let err = other.engine.check_bulk_delete(&ids).unwrap_err();
    assert_eq!(err.code(), Code::MassDelete);
    assert!(err.to_string().contains("30 of the 40"), "{err}");
    assert!(other.engine.check_bulk_delete(&ids[..20]).is_ok());
    // Repeated and unknown ids do not count twice.
    let mut twice = ids[..20].to_vec();
    twice.extend_from_slice(&ids[..20]);
    twice.push(id(200));
    assert!(other.engine.check_bulk_delete(&twice).is_ok());
    let mut off = other.engine.clone();
    off.set_mass_delete(None);
    assert!(off.check_bulk_delete(&ids).is_ok());
}

#[test]
fn a_server_that_deletes_by_itself_is_refused_before_the_guard_counts() {
    let (mut server, _, mut other) = forty();
    // The server hides 30 records (a "deletion" without tombstones) and, apart, marks 30
    // records deleted without a device's tombstone: neither is a deletion any device
    // made, and the vault head says so. Nothing is held, nothing deleted.
    let mut hidden = server.clone();
    for n in 1..=30 {
        hidden.records.remove(&id(n));
    }
    hidden.purged_cursor = hidden.next_cursor;
    let mut run = SyncRun::new();
    other.engine.start_resync();
    let err = other
        .drive(&mut run, &mut hidden, &mut |call, s| {
            Some(s.handle(call, 7))
        })
        .unwrap_err();
    assert_eq!(err.code(), Code::Omission);
    for n in 1..=30 {
        let record = server.records.get_mut(&id(n)).unwrap();
        record.deleted = true;
        server.next_cursor += 1;
        record.cursor = server.next_cursor;
    }
    let mut run = SyncRun::new();
    let err = other
        .drive(&mut run, &mut server, &mut |call, s| {
            Some(s.handle(call, 7))
        })
        .unwrap_err();
    assert_eq!(err.code(), Code::Tampered);
    assert_eq!(live(&mut other), 40);
    assert!(other.engine.held_deletions().is_empty());
}
