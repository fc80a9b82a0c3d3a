//! Record history on the server (PROTOCOL.md, "History"), on a real SQLite file and on
//! PostgreSQL: a push keeps the versions it replaces (tombstones included), at most
//! `--history-versions` per record, paged newest first; 0 keeps none; past versions are
//! purged after `--history-retention`; another account's vault answers 404.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::{assert_error, b64, item, new_id, register};
use common::{Postgres, Server};
use serde_json::Value;

fn history(alice: &common::client::Account, id: &str, query: &str) -> (u16, Value) {
    let path = alice.path(&format!("records/{id}/history{query}"));
    alice.api.call("GET", &path, None)
}

/// The versions of a history page, newest first.
fn versions(page: &Value) -> Vec<(u64, bool, String)> {
    page["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = v["ciphertext"].as_str().unwrap().to_string();
            (
                v["version"].as_u64().unwrap(),
                v["deleted"].as_bool().unwrap(),
                text,
            )
        })
        .collect()
}

fn kept_paged_and_bounded(url: &str) {
    let server = Server::start_with(url, &["--history-versions", "3"]);
    let alice = register(&server.api(), "alice");
    let id = new_id();
    alice.push(vec![item(&id, 0, false, b"v1")]);
    for v in 1..5u64 {
        alice.push(vec![item(&id, v, false, format!("v{}", v + 1).as_bytes())]);
    }
    // Version 5 is current; 2, 3 and 4 are kept (3 per record); 1 was dropped.
    let (status, page) = history(&alice, &id, "");
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["record_id"], id);
    let got = versions(&page);
    assert_eq!(
        got,
        vec![
            (4, false, b64(b"v4")),
            (3, false, b64(b"v3")),
            (2, false, b64(b"v2"))
        ]
    );
    assert_eq!(page["more"], false);
    // Paged: newest first, `before` the last version seen.
    let (_, first) = history(&alice, &id, "?limit=2");
    assert_eq!(versions(&first).len(), 2);
    assert_eq!(first["more"], true);
    let (_, rest) = history(&alice, &id, "?limit=2&before=3");
    assert_eq!(versions(&rest), vec![(2, false, b64(b"v2"))]);
    assert_eq!(rest["more"], false);
    // A delete keeps the last live version; the tombstone is current.
    alice.push(vec![item(&id, 5, true, b"tombstone")]);
    let (_, page) = history(&alice, &id, "");
    assert_eq!(versions(&page)[0], (5, false, b64(b"v5")));
    assert_eq!(versions(&page).len(), 3);
    // A record never replaced has an empty history; a conflicted push keeps nothing.
    let other = new_id();
    alice.push(vec![item(&other, 0, false, b"only")]);
    alice.push(vec![item(&other, 1, false, b"only, edited")]);
    // The deleted records that can be restored: the deleted one, not the live one.
    let (status, deleted) = alice.api.call("GET", &alice.path("deleted"), None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["records"].as_array().unwrap().len(), 1, "{deleted}");
    assert_eq!(deleted["records"][0]["record_id"], id);
    assert_eq!(deleted["records"][0]["version"], 5);
    assert_eq!(deleted["more"], false);
    let after = alice.path(&format!("deleted?after={id}"));
    assert_eq!(
        alice.api.call("GET", &after, None).1["records"],
        serde_json::json!([])
    );
    assert_error(
        &alice.api.call("GET", &alice.path("deleted?after=zz"), None),
        400,
        "INVALID_FIELD",
    );
    let other_history = versions(&history(&alice, &other, "").1);
    assert_eq!(other_history, vec![(1, false, b64(b"only"))]);
    let other = new_id();
    alice.push(vec![item(&other, 0, false, b"only")]);
    assert_eq!(versions(&history(&alice, &other, "").1), vec![]);
    let (status, _) = alice
        .try_push(vec![item(&other, 7, false, b"stale")])
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(versions(&history(&alice, &other, "").1), vec![]);
    // Bad input, and another account's vault answers like an unknown one.
    assert_error(&history(&alice, "nope", ""), 400, "INVALID_FIELD");
    assert_error(&history(&alice, &id, "?limit=0"), 400, "INVALID_FIELD");
    assert_error(&history(&alice, &id, "?before=x"), 400, "INVALID_FIELD");
    let mallory = register(&server.api(), "mallory");
    let theirs = mallory
        .api
        .call("GET", &alice.path(&format!("records/{id}/history")), None);
    assert_error(&theirs, 404, "NOT_FOUND");
}

fn off_and_purged(url_off: &str, url_purge: &str) {
    let off = Server::start_with(url_off, &["--history-versions", "0"]);
    let alice = register(&off.api(), "alice");
    let id = new_id();
    alice.push(vec![item(&id, 0, false, b"v1")]);
    alice.push(vec![item(&id, 1, false, b"v2")]);
    assert_eq!(
        versions(&history(&alice, &id, "").1),
        vec![],
        "0 keeps none"
    );

    let purging = Server::start_with(
        url_purge,
        &["--history-retention", "1s", "--purge-interval", "100ms"],
    );
    let bob = register(&purging.api(), "bob");
    bob.push(vec![item(&id, 0, false, b"v1")]);
    bob.push(vec![item(&id, 1, false, b"v2")]);
    assert_eq!(versions(&history(&bob, &id, "").1).len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !versions(&history(&bob, &id, "").1).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never purged");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The current version is never purged by the history's retention.
    assert_eq!(bob.pull_all(0).0.len(), 1);
}

#[test]
fn sqlite_history() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    kept_paged_and_bounded(&url("kept.db"));
    off_and_purged(&url("off.db"), &url("purge.db"));
}

#[test]
fn postgres_history() {
    let pg = Postgres::shared();
    kept_paged_and_bounded(&pg.database("history_kept"));
    off_and_purged(&pg.database("history_off"), &pg.database("history_purge"));
}

/// The native client (the engine the npm package runs): every past version opens like a
/// current record; restore after an edit and after a delete (a new version each time);
/// a version altered in the database is refused; after a key rotation, versions sealed
/// under the retired key are left out and the rest still open.
fn client_history_restore_tamper_rotate(url: &str, sqlite: Option<&std::path::Path>) {
    use serde_json::json;
    use vaultsync::client::{Client, Options};
    use vaultsync::crypto::Password;
    let server = Server::start(url);
    let options = Options {
        iterations: 100_000,
        ..Options::default()
    };
    let pw = Password::from("pw");
    let (mut laptop, _) = Client::register(&server.url, "hana", &pw, &options).unwrap();
    let note = laptop.put(None, json!({"title": "v1"})).unwrap();
    laptop.sync().unwrap();
    laptop.put(Some(note), json!({"title": "v2"})).unwrap();
    laptop.sync().unwrap();
    laptop.put(Some(note), json!({"title": "v3"})).unwrap();
    laptop.sync().unwrap();
    let past = laptop.history(&note).unwrap();
    let titles: Vec<_> = past.iter().map(|p| (p.version, p.value.clone())).collect();
    assert_eq!(
        titles,
        vec![
            (2, Some(json!({"title": "v2"}))),
            (1, Some(json!({"title": "v1"})))
        ]
    );
    // Restore after an edit: v1's value as version 4, seen by another device.
    laptop.restore(&note, 1).unwrap();
    laptop.sync().unwrap();
    let mut phone = Client::login(&server.url, "hana", &pw, &options).unwrap();
    phone.sync().unwrap();
    assert_eq!(phone.get(&note), Some(&json!({"title": "v1"})));
    assert_eq!(
        phone.history(&note).unwrap().len(),
        3,
        "v3, v2, v1: nothing rewritten"
    );
    // Restore after a delete: the phone deletes, the laptop brings it back.
    assert!(phone.delete(&note).unwrap());
    phone.sync().unwrap();
    laptop.sync().unwrap();
    assert_eq!(laptop.get(&note), None);
    let deleted = laptop.deleted_records().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!((deleted[0].record_id, deleted[0].version), (note, 4));
    let newest = laptop.history(&note).unwrap()[0].clone();
    assert_eq!(
        (newest.version, newest.value.clone()),
        (4, Some(json!({"title": "v1"})))
    );
    laptop.restore(&note, 4).unwrap();
    laptop.sync().unwrap();
    phone.sync().unwrap();
    assert_eq!(phone.get(&note), Some(&json!({"title": "v1"})));
    assert!(phone.deleted_records().unwrap().is_empty());
    let code = |e: vaultsync::client::ClientError| e.code().as_str();
    assert_eq!(code(laptop.restore(&note, 99).unwrap_err()), "NOT_FOUND");

    if let Some(file) = sqlite {
        // A past version altered in the database is refused, and nothing local changes.
        let db = rusqlite::Connection::open(file).unwrap();
        db.execute(
            "UPDATE record_versions SET ciphertext = \
             substr(ciphertext, 1, 20) || randomblob(1) || substr(ciphertext, 22) \
             WHERE version = 2",
            [],
        )
        .unwrap();
        assert_eq!(code(laptop.history(&note).unwrap_err()), "TAMPERED");
        assert_eq!(laptop.get(&note), Some(&json!({"title": "v1"})));
        db.execute("DELETE FROM record_versions WHERE version = 2", [])
            .unwrap();
        // Relabelling a version (another version's bytes) is refused too.
        db.execute(
            "UPDATE record_versions SET version = 2 WHERE version = 3",
            [],
        )
        .unwrap();
        assert_eq!(code(laptop.history(&note).unwrap_err()), "TAMPERED");
        db.execute(
            "UPDATE record_versions SET version = 3 WHERE version = 2",
            [],
        )
        .unwrap();
    }

    // A key rotation retires the old key: versions sealed under it are left out.
    let before = laptop.history(&note).unwrap().len();
    assert!(before >= 2);
    laptop.rotate(&mut |_| {}).unwrap();
    laptop
        .put(Some(note), json!({"title": "after rotation"}))
        .unwrap();
    laptop.sync().unwrap();
    let after = laptop.history(&note).unwrap();
    assert!(
        !after.is_empty(),
        "the versions sealed under the new key open"
    );
    assert_eq!(after[0].value, Some(json!({"title": "v1"})));
    for p in &after {
        assert!(p.value.is_none() || p.value == Some(json!({"title": "v1"})));
    }
}

#[test]
fn sqlite_client_history() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.db");
    client_history_restore_tamper_rotate(&format!("sqlite://{}", file.display()), Some(&file));
}

#[test]
fn postgres_client_history() {
    let pg = Postgres::shared();
    client_history_restore_tamper_rotate(&pg.database("history_client"), None);
}

/// The migration to `record_versions` and back, with data: the current versions, the past
/// ones and a deleted record survive `migrate down` (into `records.ciphertext` and
/// `record_history`) and `migrate apply` again, byte for byte. `count` runs a `SELECT
/// COUNT(*)` on the database and returns its number.
fn migrate_with_data(url: &str, count: &dyn Fn(&str) -> i64) {
    let (first, second) = (new_id(), new_id());
    let alice = {
        let server = Server::start(url);
        let alice = register(&server.api(), "alice");
        alice.push(vec![
            item(&first, 0, false, b"a1"),
            item(&second, 0, false, b"b1"),
        ]);
        alice.push(vec![
            item(&first, 1, false, b"a2"),
            item(&second, 1, true, b"b2"),
        ]);
        alice.push(vec![item(&first, 2, false, b"a3")]);
        alice
    };
    let (ok, out, err) = common::run(&["--database", url, "migrate", "down"]);
    assert!(ok && out.contains("reverted migration"), "{out} {err}");
    assert_eq!(
        count("SELECT COUNT(*) FROM record_history"),
        3,
        "a1, a2, b1"
    );
    assert_eq!(count("SELECT COUNT(*) FROM records"), 2);
    let (ok, out, err) = common::run(&["--database", url, "migrate", "apply"]);
    assert!(ok && out.contains("applied 1 migration(s)"), "{out} {err}");
    assert_eq!(count("SELECT COUNT(*) FROM record_versions"), 5);
    let server = Server::start(url);
    let alice = alice.via(&server.api());
    let (pulled, _) = alice.pull_all(0);
    let current: Vec<(String, u64, bool, String)> = pulled
        .iter()
        .map(|c| {
            let id = c["record_id"].as_str().unwrap().to_string();
            let text = c["ciphertext"].as_str().unwrap().to_string();
            (
                id,
                c["version"].as_u64().unwrap(),
                c["deleted"].as_bool().unwrap(),
                text,
            )
        })
        .collect();
    assert!(
        current.contains(&(first.clone(), 3, false, b64(b"a3"))),
        "{current:?}"
    );
    assert!(
        current.contains(&(second.clone(), 2, true, b64(b"b2"))),
        "{current:?}"
    );
    assert_eq!(
        versions(&history(&alice, &first, "").1),
        vec![(2, false, b64(b"a2")), (1, false, b64(b"a1"))]
    );
    let (status, deleted) = alice.api.call("GET", &alice.path("deleted"), None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["records"][0]["record_id"], second);
    assert_eq!(deleted["records"][0]["version"], 1);
    // The next push after the round trip lands on top of the migrated current version.
    alice.push(vec![item(&first, 3, false, b"a4")]);
    assert_eq!(versions(&history(&alice, &first, "").1).len(), 3);
}

/// Past versions beyond `--history-versions` are deleted between pushes (within about a
/// second), and with history off only the current versions remain.
fn pruned_between_pushes(url: &str, keep: &str, left: i64, count: &dyn Fn(&str) -> i64) {
    let server = Server::start_with(url, &["--history-versions", keep]);
    let alice = register(&server.api(), "alice");
    let id = new_id();
    for v in 0..6u64 {
        alice.push(vec![item(&id, v, false, format!("v{v}").as_bytes())]);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count("SELECT COUNT(*) FROM record_versions") != left {
        assert!(
            std::time::Instant::now() < deadline,
            "never pruned to {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(alice.pull_all(0).0.len(), 1, "the current version stays");
}

#[test]
fn sqlite_migrate_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migrate.db");
    let count = |sql: &str| {
        let db = rusqlite::Connection::open(&file).unwrap();
        db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap()
    };
    migrate_with_data(&format!("sqlite://{}", file.display()), &count);
    for (keep, left) in [("2", 3), ("0", 1)] {
        let file = dir.path().join(format!("pruned{keep}.db"));
        let count = |sql: &str| {
            let db = rusqlite::Connection::open(&file).unwrap();
            db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap()
        };
        pruned_between_pushes(&format!("sqlite://{}", file.display()), keep, left, &count);
    }
}

#[test]
fn postgres_migrate_with_data() {
    let pg = Postgres::shared();
    let url = pg.database("history_migrate");
    let count = |sql: &str| {
        pg.sql("history_migrate", sql)
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    migrate_with_data(&url, &count);
    let url = pg.database("history_pruned");
    let count = |sql: &str| pg.sql("history_pruned", sql).trim().parse::<i64>().unwrap();
    pruned_between_pushes(&url, "2", 3, &count);
}
