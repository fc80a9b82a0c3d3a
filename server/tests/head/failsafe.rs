//! The mass-deletion failsafe against the real server, on a SQLite file and on PostgreSQL
//! (PROTOCOL.md, "Mass deletions"). A faulty device deletes most of the vault: the other
//! device's sync holds those deletions and applies everything else, then applies them
//! once the application confirms, or writes the records again when it keeps them. A
//! server that marks records deleted by itself is refused (`TAMPERED`) before the guard
//! counts anything, and nothing is held or deleted.
use crate::common::{Postgres, Server};
use serde_json::json;
use vaultsync::client::{Client, Options};
use vaultsync::crypto::{Password, RecordId};
use vaultsync::sync::Event;

fn options() -> Options {
    Options {
        iterations: 100_000,
        ..Options::default()
    }
}

/// How many `Deleted` events.
fn deleted(events: &[Event]) -> usize {
    let deleted = events.iter().filter(|e| matches!(e, Event::Deleted { .. }));
    deleted.count()
}

/// The count of the `DeletionsHeld` event (0: none).
fn held(events: &[Event]) -> usize {
    let held = events.iter().find_map(|e| match e {
        Event::DeletionsHeld { count } => Some(*count),
        _ => None,
    });
    held.unwrap_or(0)
}

/// `sql` runs SQL on the server's database; `blob` writes a byte string literal in its
/// dialect.
fn mass_deletion(url: &str, sql: &dyn Fn(&str), blob: &dyn Fn(&RecordId) -> String) {
    let server = Server::start(url);
    let pw = Password::from("pw");
    let (mut faulty, _) = Client::register(&server.url, "mass", &pw, &options()).unwrap();
    let ids: Vec<RecordId> = (0..40)
        .map(|n| faulty.put(None, json!({ "n": n })).unwrap())
        .collect();
    faulty.sync().unwrap();
    let mut phone = Client::login(&server.url, "mass", &pw, &options()).unwrap();
    phone.sync().unwrap();

    // The server marks 30 records deleted by itself (and moves them past the cursors):
    // no device sealed those tombstones. Refused; nothing held, nothing deleted.
    let list: Vec<String> = ids[..30].iter().map(blob).collect();
    let list = list.join(", ");
    sql(&format!(
        "UPDATE records SET deleted = true, change_cursor = change_cursor + 1000 \
         WHERE record_id IN ({list})"
    ));
    sql("UPDATE vaults SET next_cursor = next_cursor + 1000");
    assert_eq!(phone.sync().unwrap_err().code().as_str(), "TAMPERED");
    assert_eq!(phone.engine().records().count(), 40);
    assert!(phone.held_deletions().is_empty());
    sql(&format!(
        "UPDATE records SET deleted = false WHERE record_id IN ({list})"
    ));
    phone.sync().unwrap();

    // A faulty device deletes 30 of 40 (its user said yes to its own guard) and edits
    // another; the phone edits one of the 30 and one of the rest.
    assert_eq!(
        faulty
            .delete_many(&ids[..30], false)
            .unwrap_err()
            .code()
            .as_str(),
        "MASS_DELETE"
    );
    assert_eq!(faulty.delete_many(&ids[..30], true).unwrap(), 30);
    faulty
        .put(Some(ids[35]), json!({ "n": 35, "edited": true }))
        .unwrap();
    faulty.sync().unwrap();
    phone
        .put(Some(ids[2]), json!({ "n": 2, "mine": true }))
        .unwrap();
    phone
        .put(Some(ids[38]), json!({ "n": 38, "mine": true }))
        .unwrap();
    let events = phone.sync().unwrap();
    assert_eq!(held(&events), 29, "held: the 30 but the one edited here");
    assert_eq!(deleted(&events), 0, "no deletion applied");
    assert!(events.contains(&Event::Changed {
        id: ids[35],
        value: json!({ "n": 35, "edited": true })
    }));
    assert_eq!(phone.engine().pending_count(), 0, "its edits went out");
    assert_eq!(phone.held_deletions().len(), 29);
    assert_eq!(phone.engine().records().count(), 40);
    assert_eq!(phone.get(&ids[7]), Some(&json!({ "n": 7 })));

    // Kept: the records are written again, and the faulty device gets them back.
    assert_eq!(phone.keep_deletions().unwrap(), 29);
    phone.sync().unwrap();
    faulty.sync().unwrap();
    assert_eq!(faulty.engine().records().count(), 40);

    // Deleted again and confirmed this time: gone on both, nothing written back.
    faulty.delete_many(&ids[..30], true).unwrap();
    faulty.sync().unwrap();
    assert_eq!(held(&phone.sync().unwrap()), 30);
    assert_eq!(deleted(&phone.confirm_deletions().unwrap()), 30);
    assert_eq!(phone.engine().records().count(), 10);
    phone.sync().unwrap();
    faulty.sync().unwrap();
    assert_eq!(faulty.engine().records().count(), 10);
    assert_eq!(phone.state_code(), faulty.state_code());

    // With the guard off, the same deletion applies at once.
    for n in 0..12 {
        faulty.put(None, json!({ "more": n })).unwrap();
    }
    faulty.sync().unwrap();
    phone.sync().unwrap();
    phone.set_mass_delete(None);
    let live: Vec<RecordId> = faulty.engine().records().map(|(id, _)| *id).collect();
    faulty.delete_many(&live, true).unwrap();
    faulty.sync().unwrap();
    assert_eq!(deleted(&phone.sync().unwrap()), 22);
    assert_eq!(phone.engine().records().count(), 0);
}

fn hex(id: &RecordId) -> String {
    id.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sqlite_mass_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mass.db");
    let sql = |statement: &str| {
        let db = rusqlite::Connection::open(&file).unwrap();
        db.execute(statement, []).unwrap();
    };
    let url = format!("sqlite://{}", file.display());
    mass_deletion(&url, &sql, &|id| format!("X'{}'", hex(id)));
}

#[test]
fn postgres_mass_deletion() {
    let pg = Postgres::shared();
    let url = pg.database("mass_deletion");
    let sql = |statement: &str| {
        pg.sql("mass_deletion", statement);
    };
    mass_deletion(&url, &sql, &|id| format!("'\\x{}'::bytea", hex(id)));
}
