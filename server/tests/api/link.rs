//! Devices and linking on the real server with native clients: a new device joins without
//! the password (phrases equal on both sides), sees the vault, and is listed; a denied,
//! expired or unknown request changes nothing; a server that substitutes its own key is
//! caught by the phrase (and an approval given anyway is the only way in); a revoked
//! device is told `DEVICE_REVOKED`; the audit trail holds no key material. On SQLite and
//! through two PostgreSQL replicas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::{Postgres, Server};
use serde_json::json;
use vaultsync::client::{Client, ClientError, Options};
use vaultsync::crypto::Password;
use vaultsync::crypto::link::{DeviceKeyPair, LinkGrant};
use vaultsync::sync::Event;

fn options() -> Options {
    Options {
        iterations: 100_000,
        ..Options::default()
    }
}

/// One column of every row `sql` selects.
fn column<T: rusqlite::types::FromSql>(db: &rusqlite::Connection, sql: &str) -> Vec<T> {
    let mut statement = db.prepare(sql).unwrap();
    let rows = statement.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn code(error: &ClientError) -> &'static str {
    error.code().as_str()
}

/// The happy path and the refusals, through `servers` (the new device on the last).
fn link_and_revoke(servers: &[&Server], username: &str) -> Client {
    let (first, last) = (servers[0], servers[servers.len() - 1]);
    let pw = Password::from("link pw");
    let (mut laptop, _) = Client::register(&first.url, username, &pw, &options()).unwrap();
    let note = laptop
        .put(None, json!({ "title": "from the laptop" }))
        .unwrap();
    laptop.sync().unwrap();

    // The new device asks; the laptop sees the request with the same phrase.
    let mut asking = Client::request_link(&last.url, username, "phone", &options()).unwrap();
    assert_eq!(asking.phrase().split(' ').count(), 6);
    assert!(asking.poll().unwrap().is_none(), "pending");
    let offers = laptop.pending_links().unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        offers[0].phrase,
        asking.phrase(),
        "both devices show the same phrase"
    );
    assert_eq!(offers[0].label, "phone");
    laptop.approve_link(&offers[0]).unwrap();
    let mut phone = asking.wait(Duration::from_secs(10)).unwrap();
    let events = phone.sync().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Changed { id, .. } if *id == note)),
        "the linked device reads the vault: {events:?}"
    );
    assert_eq!(
        phone.get(&note),
        Some(&json!({ "title": "from the laptop" }))
    );
    assert!(
        laptop.pending_links().unwrap().is_empty(),
        "the request is spent"
    );

    // Both devices are listed; the linked one with its public key.
    let devices = laptop.devices().unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let phone_entry = devices.iter().find(|d| d.label == "phone").unwrap();
    assert!(
        !phone_entry.current
            && phone_entry
                .public_key
                .as_ref()
                .is_some_and(|k| k.len() == 32)
    );
    assert!(devices.iter().any(|d| d.current && d.public_key.is_none()));
    assert!(
        phone
            .devices()
            .unwrap()
            .iter()
            .any(|d| d.current && d.label == "phone")
    );

    // A denied request: refused on the new device, nothing issued.
    let mut denied = Client::request_link(&last.url, username, "tablet", &options()).unwrap();
    let offer = laptop.pending_links().unwrap().remove(0);
    laptop.deny_link(&offer.request_id).unwrap();
    assert_eq!(code(&denied.poll().err().unwrap()), "LINK_REFUSED");
    let again = laptop.approve_link(&offer).unwrap_err();
    assert_eq!(
        code(&again),
        "NOT_FOUND",
        "a decided request cannot be approved"
    );

    // A username without an account: the same answer, and it stays pending.
    let mut nobody = Client::request_link(&last.url, "nobody-here", "x", &options()).unwrap();
    assert!(nobody.poll().unwrap().is_none());

    // Revoked: the phone is told so at once, on any replica; the list shrinks.
    laptop.revoke_device(phone_entry.id).unwrap();
    let err = phone.sync().unwrap_err();
    assert_eq!(code(&err), "DEVICE_REVOKED", "{err}");
    assert_eq!(laptop.devices().unwrap().len(), 1);
    assert_eq!(
        code(&laptop.revoke_device(phone_entry.id).unwrap_err()),
        "NOT_FOUND"
    );
    laptop
}

#[test]
fn sqlite_a_device_links_without_the_password_and_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.db");
    let server = Server::start(&format!("sqlite://{}", file.display()));
    let laptop = link_and_revoke(&[&server], "kim");
    let db = rusqlite::Connection::open(&file).unwrap();

    // Expired before approval: refused.
    let mut late = Client::request_link(&server.url, "kim", "late", &options()).unwrap();
    db.execute(
        "UPDATE link_requests SET expires_at = 1 WHERE label = 'late'",
        [],
    )
    .unwrap();
    assert!(
        laptop.pending_links().unwrap().is_empty(),
        "an expired request is not listed"
    );
    assert_eq!(code(&late.poll().err().unwrap()), "LINK_REFUSED");

    // The server substitutes its own key: the phrases differ.
    let attacker = DeviceKeyPair::derive(b"the server's own key");
    let mut honest = Client::request_link(&server.url, "kim", "honest", &options()).unwrap();
    db.execute(
        "UPDATE link_requests SET public_key = ?1 WHERE label = 'honest'",
        [attacker.public().to_vec()],
    )
    .unwrap();
    let offer = laptop.pending_links().unwrap().remove(0);
    assert_ne!(
        offer.phrase,
        honest.phrase(),
        "the substituted key shows another phrase"
    );
    // Approved anyway (the user did not compare): the honest device cannot open it, and
    // the holder of the substituted key can. That approval is the only way in.
    laptop.approve_link(&offer).unwrap();
    let (enc, payload): (Vec<u8>, Vec<u8>) = db
        .query_row(
            "SELECT enc, payload FROM link_requests WHERE label = 'honest'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(code(&honest.poll().err().unwrap()), "LINK_REFUSED");
    // The token it was issued with that answer went back at once: no extra device.
    assert_eq!(laptop.devices().unwrap().len(), 1);
    let stolen = LinkGrant::open(
        &attacker,
        &laptop.vault_id(),
        &offer.request_id,
        "honest",
        &enc.try_into().unwrap(),
        &payload,
    );
    assert!(
        stolen.is_ok(),
        "an approval of the wrong key hands the vault to that key"
    );

    // The audit trail: every step, never key material.
    let events: Vec<String> = column(&db, "SELECT event FROM key_exchanges ORDER BY id");
    assert_eq!(
        events,
        [
            "requested",
            "approved",
            "spent",
            "requested",
            "denied",
            "requested",
            "expired",
            "requested",
            "approved",
            "spent"
        ]
    );
    let digests: Vec<Vec<u8>> = column(&db, "SELECT key_digest FROM key_exchanges");
    assert!(
        digests
            .iter()
            .all(|d| d.len() == 32 && d != attacker.public())
    );
    let columns: Vec<String> = column(&db, "SELECT name FROM pragma_table_info('key_exchanges')");
    assert_eq!(
        columns,
        [
            "id",
            "account_id",
            "request_id",
            "key_digest",
            "event",
            "device_id",
            "at"
        ]
    );
    // A spent request keeps no payload on the server.
    let kept: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM link_requests WHERE state = 'spent' AND payload IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 0);
}

#[test]
fn postgres_two_replicas_link_and_revoke() {
    let url = Postgres::shared().database("link_replicas");
    let (a, b) = (Server::start(&url), Server::start(&url));
    link_and_revoke(&[&a, &b], "lee");
}

/// The grant carries the approving device's last verified head: a server that shows the
/// new device an older state (restored from a backup, or hiding the last push) is caught
/// at its first sync, where a password login would trust the first head it sees.
#[test]
fn sqlite_the_grant_head_is_the_new_devices_trust_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.db");
    let server = Server::start(&format!("sqlite://{}", file.display()));
    let pw = Password::from("anchor pw");
    let (mut laptop, _) = Client::register(&server.url, "max", &pw, &options()).unwrap();
    laptop.put(None, json!({ "n": 1 })).unwrap();
    laptop.sync().unwrap();
    let db = rusqlite::Connection::open(&file).unwrap();
    let (old_head, old_seq): (Vec<u8>, i64) = db
        .query_row("SELECT head, head_seq FROM vaults", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    laptop.put(None, json!({ "n": 2 })).unwrap();
    laptop.sync().unwrap();

    let asking = Client::request_link(&server.url, "max", "phone", &options()).unwrap();
    let offer = laptop.pending_links().unwrap().remove(0);
    laptop.approve_link(&offer).unwrap();
    let mut phone = asking.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(
        phone.state_code(),
        laptop.state_code(),
        "the anchor's state code, before any sync"
    );
    // The server goes back to the head before the last push.
    db.execute(
        "UPDATE vaults SET head = ?1, head_seq = ?2",
        rusqlite::params![old_head, old_seq],
    )
    .unwrap();
    let err = phone.sync().unwrap_err();
    assert_eq!(code(&err), "ROLLBACK", "{err}");
    assert!(phone.engine().records().next().is_none(), "nothing applied");
}
