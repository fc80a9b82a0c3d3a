//! The vault head on the real server: its compare-and-swap (a push lands only on the
//! stored head seq, whole or not at all), 64 pushes racing from one head seq on SQLite,
//! PostgreSQL and two replicas, and native devices against a server whose SQLite file is
//! edited underneath (a hidden row, a change moved below a cursor, a dropped row claimed
//! as purged) or restored from a backup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "head/failsafe.rs"]
mod failsafe;

use std::sync::{Arc, Barrier};

use common::client::{Account, assert_error, b64, item, new_id, random, register};
use common::{Postgres, Server};
use serde_json::{Value, json};
use vaultsync::client::{Client, Options};
use vaultsync::crypto::Password;
use vaultsync::sync::Event;

fn push(alice: &Account, base_seq: u64, head: &[u8], items: Vec<Value>) -> (u16, Value) {
    let body = json!({
        "envelope_version": 1,
        "base_seq": base_seq,
        "head": b64(head),
        "items": items,
    });
    alice.api.call("POST", &alice.path("push"), Some(&body))
}

/// The head on the last page of a full pull.
fn head_of(alice: &Account) -> Value {
    let (status, page) = alice.changes(0, None);
    assert_eq!(status, 200, "{page}");
    page["head"].clone()
}

fn compare_and_swap(url: &str) {
    let server = Server::start(url);
    let alice = register(&server.api(), "alice");
    let (x, y) = (new_id(), new_id());
    assert!(head_of(&alice).is_null(), "a new vault has no head");

    // Only the stored seq (0: none yet) is accepted, with the current head in the refusal.
    let refused = push(&alice, 1, b"h1", vec![item(&x, 0, false, b"x1")]);
    assert_error(&refused, 409, "HEAD_STALE");
    assert!(refused.1["head"].is_null());
    let first = json!([item(&x, 0, false, b"x1")]);
    let (status, answer) = push(&alice, 0, b"h1", first.as_array().unwrap().clone());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(head_of(&alice), json!({ "seq": 1, "head": b64(b"h1") }));

    // The same push again (its answer lost): answered as applied, nothing written.
    let again = push(&alice, 0, b"h1", first.as_array().unwrap().clone());
    assert_eq!(again.0, 200);
    assert_eq!(again.1["results"], answer["results"]);
    assert_eq!(head_of(&alice)["seq"], 1);
    // Another push on the old seq: refused whole, whatever it carries.
    let stale = push(&alice, 0, b"h1", vec![item(&y, 0, false, b"y1")]);
    assert_error(&stale, 409, "HEAD_STALE");
    assert_eq!(stale.1["head"], json!({ "seq": 1, "head": b64(b"h1") }));
    let stale = push(&alice, 0, b"other", vec![item(&y, 0, false, b"y1")]);
    assert_error(&stale, 409, "HEAD_STALE");
    assert_eq!(alice.pull_all(0).0.len(), 1, "nothing written");

    // A head alone (no items) moves the seq; an explicit version jumps.
    assert_eq!(push(&alice, 1, b"h2", vec![]).0, 200);
    let mut jump = item(&x, 1, false, b"x7");
    jump["version"] = json!(7);
    let (status, answer) = push(&alice, 2, b"h3", vec![jump]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["version"], 7);

    // All or nothing: one conflict, nothing written, the seq unchanged.
    let (status, answer) = push(
        &alice,
        3,
        b"h4",
        vec![item(&y, 0, false, b"y1"), item(&x, 1, false, b"late")],
    );
    assert_eq!(status, 200);
    assert_eq!(answer["results"][0]["status"], "skipped");
    assert_eq!(answer["results"][1]["status"], "conflict");
    assert_eq!(answer["results"][1]["current"]["version"], 7);
    assert_eq!(head_of(&alice), json!({ "seq": 3, "head": b64(b"h3") }));
    assert_eq!(alice.pull_all(0).0.len(), 1);

    // The last page's cursor is the latest one, so a purged last tombstone does not make
    // every later pull a full one.
    let (status, _) = push(&alice, 3, b"h4", vec![item(&x, 7, true, b"gone")]);
    assert_eq!(status, 200);
    let (_, page) = alice.changes(0, None);
    let cursor = page["cursor"].as_u64().unwrap();
    let (status, page) = alice.changes(cursor, None);
    assert_eq!((status, page["changes"].clone()), (200, json!([])));
    assert_eq!(page["head"]["seq"], 4);
}

#[test]
fn sqlite_heads_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    compare_and_swap(&format!("sqlite://{}/v.db", dir.path().display()));
}

#[test]
fn postgres_heads_compare_and_swap() {
    compare_and_swap(&Postgres::shared().database("cas"));
}

/// 64 pushes race from one head seq through `servers`: exactly one lands, 63 are told the
/// head is stale (with the winner's head), and the chain moves by one.
fn sixty_four_pushes(servers: &[Server]) {
    const PUSHES: usize = 64;
    let alice = register(&servers[0].api(), "alice");
    for base_seq in [0u64, 1] {
        let barrier = Arc::new(Barrier::new(PUSHES));
        let threads: Vec<_> = (0..PUSHES)
            .map(|i| {
                let me = alice.via(&servers[i % servers.len()].api());
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let head = random(90);
                    let items = vec![item(&new_id(), 0, false, &random(64))];
                    barrier.wait();
                    (head.clone(), push(&me, base_seq, &head, items))
                })
            })
            .collect();
        let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = answers.iter().filter(|(_, (s, _))| *s == 200).collect();
        assert_eq!(winners.len(), 1, "exactly one push lands");
        let winner = json!({ "seq": base_seq + 1, "head": b64(&winners[0].0) });
        for (_, answer) in answers.iter().filter(|(_, (s, _))| *s != 200) {
            assert_error(answer, 409, "HEAD_STALE");
            assert_eq!(answer.1["head"], winner);
        }
        assert_eq!(head_of(&alice), winner);
        assert_eq!(alice.pull_all(0).0.len(), base_seq as usize + 1);
    }
}

#[test]
fn sqlite_64_pushes_from_one_head_one_lands() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&format!("sqlite://{}/v.db", dir.path().display()));
    sixty_four_pushes(&[server]);
}

#[test]
fn postgres_64_pushes_from_one_head_one_lands() {
    let server = Server::start(&Postgres::shared().database("race"));
    sixty_four_pushes(&[server]);
}

#[test]
fn postgres_two_replicas_64_pushes_from_one_head_one_lands() {
    let url = Postgres::shared().database("race_replicas");
    sixty_four_pushes(&[Server::start(&url), Server::start(&url)]);
}

fn options() -> Options {
    Options {
        iterations: 100_000,
        ..Options::default()
    }
}

/// Four native devices edit and sync at once through `servers` (the engine retries a
/// push that another device's beat): all converge, and every head check passes.
fn devices_race_and_converge(servers: &[Server]) {
    let pw = Password::from("race pw");
    let (first, _) = Client::register(&servers[0].url, "erin", &pw, &options()).unwrap();
    drop(first);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let url = servers[i % servers.len()].url.clone();
            let pw = pw.duplicate();
            std::thread::spawn(move || {
                let mut device = Client::login(&url, "erin", &pw, &options()).unwrap();
                for n in 0..6 {
                    device.put(None, json!({ "device": i, "n": n })).unwrap();
                    device.sync().unwrap();
                }
                device
            })
        })
        .collect();
    let mut devices: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // A sync's push rounds are bounded (another device may keep winning the race), so an
    // edit can still be pending when the racing ends: the first pass pushes it, the second
    // brings every device up to date.
    for _ in 0..2 {
        for device in &mut devices {
            device.sync().unwrap();
        }
    }
    for device in &devices {
        assert_eq!(device.engine().records().count(), 24);
        assert_eq!(device.engine().pending_count(), 0);
        assert!(device.engine().head_verifies(device.vault()));
        assert_eq!(device.state_code(), devices[0].state_code());
    }
}

#[test]
fn sqlite_devices_race_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&format!("sqlite://{}/v.db", dir.path().display()));
    devices_race_and_converge(&[server]);
}

#[test]
fn postgres_two_replicas_devices_race_and_converge() {
    let url = Postgres::shared().database("devices_race");
    devices_race_and_converge(&[Server::start(&url), Server::start(&url)]);
}

/// Native devices against a server whose SQLite file is edited underneath, or restored
/// from a copy taken earlier: every lie is refused with its code and changes nothing
/// local; a restore is re-seeded and nothing is lost.
#[test]
fn sqlite_tampered_or_restored_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.db");
    let url = format!("sqlite://{}", file.display());
    let server = Server::start(&url);
    let pw = Password::from("head pw");
    let (mut laptop, _) = Client::register(&server.url, "finn", &pw, &options()).unwrap();
    let ids: Vec<_> = (0..5)
        .map(|n| laptop.put(None, json!({ "n": n })).unwrap())
        .collect();
    laptop.sync().unwrap();
    let mut phone = Client::login(&server.url, "finn", &pw, &options()).unwrap();
    phone.sync().unwrap();
    let db = rusqlite::Connection::open(&file).unwrap();
    let hex = |id: &vaultsync::crypto::RecordId| {
        id.as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    };
    // What a device holds: records, cursor, pinned head (flags may change on a refusal:
    // a re-seed offered, a full pull to try next).
    let snapshot = |c: &Client| {
        let all = vaultsync_wire::json::ToJson::to_json(c.engine()).unwrap();
        json!([all["records"], all["cursor"], all["head"]["pinned"]]).to_string()
    };

    // A hidden row: a new device sees an omission, and holds nothing.
    let row: (i64, i64, i64) = db
        .query_row(
            &format!(
                "SELECT body, version, change_cursor FROM records WHERE record_id = X'{}'",
                hex(&ids[1])
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    db.execute(
        &format!("DELETE FROM records WHERE record_id = X'{}'", hex(&ids[1])),
        [],
    )
    .unwrap();
    let mut tablet = Client::login(&server.url, "finn", &pw, &options()).unwrap();
    assert_eq!(tablet.sync().unwrap_err().code(), "OMISSION");
    assert_eq!(tablet.engine().records().count(), 0);
    // The same row back: the new device syncs.
    db.execute(
        "INSERT INTO records (vault_pk, record_id, body, version, deleted, change_cursor, created_at, updated_at) \
         VALUES ((SELECT id FROM vaults), ?1, ?2, ?3, 0, ?4, 0, 0)",
        rusqlite::params![ids[1].as_bytes().to_vec(), row.0, row.1, row.2],
    )
    .unwrap();
    tablet.sync().unwrap();
    assert_eq!(tablet.engine().records().count(), 5);

    // A change moved below the phone's cursor: found by the full pull that follows the
    // failed check, with an event saying so.
    let moved_from: i64 = db
        .query_row(
            &format!(
                "SELECT change_cursor FROM records WHERE record_id = X'{}'",
                hex(&ids[2])
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    laptop
        .put(Some(ids[2]), json!({"n": 2, "edited": true}))
        .unwrap();
    laptop.sync().unwrap();
    db.execute(
        &format!(
            "UPDATE records SET change_cursor = {moved_from} WHERE record_id = X'{}'",
            hex(&ids[2])
        ),
        [],
    )
    .unwrap();
    let events = phone.sync().unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Integrity {
                recovered: true,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(phone.get(&ids[2]), Some(&json!({"n": 2, "edited": true})));

    // A dropped row claimed as purged (the horizon moved past the phone's cursor): the
    // phone's full pull does not match the head; nothing is deleted.
    laptop.put(None, json!("one more")).unwrap();
    laptop.sync().unwrap();
    let before = snapshot(&phone);
    let kept = dir.path().join("kept.db");
    db.execute(&format!("VACUUM INTO '{}'", kept.display()), [])
        .unwrap();
    db.execute(
        &format!("DELETE FROM records WHERE record_id = X'{}'", hex(&ids[3])),
        [],
    )
    .unwrap();
    db.execute("UPDATE vaults SET purged_cursor = next_cursor - 1", [])
        .unwrap();
    assert_eq!(phone.sync().unwrap_err().code(), "OMISSION");
    assert_eq!(snapshot(&phone), before);
    assert!(phone.get(&ids[3]).is_some());
    // The row back and the horizon where it was, so that the restore below starts from
    // an honest database.
    db.execute(&format!("ATTACH '{}' AS kept", kept.display()), [])
        .unwrap();
    db.execute(
        &format!(
            "INSERT INTO records SELECT * FROM kept.records WHERE record_id = X'{}'",
            hex(&ids[3])
        ),
        [],
    )
    .unwrap();
    db.execute("UPDATE vaults SET purged_cursor = 0", [])
        .unwrap();
    db.execute("DETACH kept", []).unwrap();
    phone.sync().unwrap();
    assert!(phone.get(&ids[3]).is_some());

    // A restore from a backup: a consistent copy of the database taken now (the server
    // running), more writes on two devices, then the copy put back under a restarted
    // server.
    let backup = dir.path().join("backup.db");
    db.execute(&format!("VACUUM INTO '{}'", backup.display()), [])
        .unwrap();
    drop(db);
    let added = laptop.put(None, json!("added after the backup")).unwrap();
    laptop
        .put(Some(ids[0]), json!("edited after the backup"))
        .unwrap();
    laptop.sync().unwrap();
    let phones = phone
        .put(None, json!("the phone's, after the backup"))
        .unwrap();
    phone.sync().unwrap();
    assert!(server.terminate().success());
    std::fs::copy(&backup, &file).unwrap();
    let _ = std::fs::remove_file(dir.path().join("v.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("v.db-shm"));
    let server = Server::start(&url);
    for client in [&mut laptop, &mut phone] {
        *client = Client::resume(&server.url, &client.save().unwrap(), &pw, &options()).unwrap();
        let before = snapshot(client);
        let code = client.sync().unwrap_err().code().to_string();
        assert!(code == "SERVER_BEHIND" || code == "ROLLBACK", "{code}");
        assert_eq!(snapshot(client), before);
        assert!(client.server_behind());
    }
    laptop.reseed().unwrap();
    for _ in 0..2 {
        phone.sync().unwrap();
        laptop.sync().unwrap();
    }
    for client in [&laptop, &phone] {
        assert_eq!(client.get(&added), Some(&json!("added after the backup")));
        assert_eq!(client.get(&ids[0]), Some(&json!("edited after the backup")));
        assert_eq!(
            client.get(&phones),
            Some(&json!("the phone's, after the backup"))
        );
        assert!(!client.server_behind());
    }
    assert_eq!(laptop.state_code(), phone.state_code());
}
