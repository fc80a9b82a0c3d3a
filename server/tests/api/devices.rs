//! End to end: three devices running the native client (the same engine as the npm
//! package) against the real server, on a SQLite file and on PostgreSQL (each device
//! through its own replica there). They edit offline, sync and converge; one restarts from
//! its saved session; on SQLite, a tampered server database is refused without touching
//! local data (records, tombstones, envelopes, and a key rotation undone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Postgres, Server};
use serde_json::json;
use vaultsync::client::{Client, Options};
use vaultsync::crypto::Password;
use vaultsync::sync::Event;

fn options() -> Options {
    Options {
        iterations: 100_000,
        ..Options::default()
    }
}

fn three_devices_converge(servers: &[&Server]) -> Client {
    let pw = Password::from("device pw");
    let url = |i: usize| servers[i % servers.len()].url.clone();
    let (mut laptop, _) = Client::register(&url(0), "dana", &pw, &options()).unwrap();
    let note = laptop
        .put(None, json!({"title": "plan", "steps": 1}))
        .unwrap();
    laptop.sync().unwrap();
    let mut phone = Client::login(&url(1), "dana", &pw, &options()).unwrap();
    let mut tablet = Client::login(&url(2), "dana", &pw, &options()).unwrap();
    phone.sync().unwrap();
    tablet.sync().unwrap();
    assert_eq!(
        tablet.get(&note),
        Some(&json!({"title": "plan", "steps": 1}))
    );

    // All three offline: two edit different fields of one record, one deletes another.
    let extra = phone.put(None, json!({"title": "extra"})).unwrap();
    phone.sync().unwrap();
    laptop.sync().unwrap();
    tablet.sync().unwrap();
    laptop
        .put(Some(note), json!({"title": "plan v2", "steps": 1}))
        .unwrap();
    phone
        .put(Some(note), json!({"title": "plan", "steps": 2}))
        .unwrap();
    assert!(tablet.delete(&extra).unwrap());
    // The phone restarts from its saved session before syncing.
    let saved = phone.save().unwrap();
    let mut phone = Client::resume(&url(1), &saved, &pw, &options()).unwrap();
    for _ in 0..2 {
        for device in [&mut laptop, &mut phone, &mut tablet] {
            device.sync().unwrap();
        }
    }
    let expected = json!({"title": "plan v2", "steps": 2});
    for device in [&laptop, &phone, &tablet] {
        assert_eq!(device.get(&note), Some(&expected));
        assert_eq!(device.get(&extra), None);
        assert_eq!(device.engine().pending_count(), 0);
        assert_eq!(device.engine().records().count(), 1);
    }

    // The laptop changes the password; the phone learns it on its next sync and its saved
    // session then needs the new password; logins follow the new password.
    let new_pw = Password::from("new device pw");
    laptop.change_password(&new_pw, None).unwrap();
    let events = phone.sync().unwrap();
    assert!(
        events.contains(&Event::EnvelopeChanged {
            password: true,
            keys: false
        }),
        "{events:?}"
    );
    let saved = phone.save().unwrap();
    let err = Client::resume(&url(1), &saved, &pw, &options())
        .err()
        .unwrap();
    assert_eq!(err.code(), "WRONG_PASSWORD");
    let phone = Client::resume(&url(1), &saved, &new_pw, &options()).unwrap();
    assert_eq!(phone.get(&note), Some(&expected));
    let err = Client::login(&url(2), "dana", &pw, &options())
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
    let mut tablet = Client::login(&url(2), "dana", &new_pw, &options()).unwrap();
    tablet.sync().unwrap();
    assert_eq!(tablet.get(&note), Some(&expected));
    // A second change from a stale device is a conflict: the change that won stays, the
    // stale device adopts it (its saved session now needs that password).
    let mut stale = Client::resume(&url(0), &laptop.save().unwrap(), &new_pw, &options()).unwrap();
    let third = Password::from("third");
    laptop.change_password(&third, None).unwrap();
    let err = stale
        .change_password(&Password::from("fourth"), None)
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let saved = stale.save().unwrap();
    assert!(Client::resume(&url(0), &saved, &third, &options()).is_ok());
    let err = Client::resume(&url(0), &saved, &Password::from("fourth"), &options());
    assert_eq!(err.err().unwrap().code(), "WRONG_PASSWORD");
    assert_eq!(
        Client::login(&url(0), "dana", &third, &options())
            .unwrap()
            .vault_id(),
        laptop.vault_id()
    );
    laptop
}

#[test]
fn sqlite_three_devices_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&format!("sqlite://{}/v.db", dir.path().display()));
    let mut laptop = three_devices_converge(&[&server]);

    // A malicious server: each tampering of the database below is refused by the device
    // with its code, and nothing local changes; the database is then put back.
    let second = laptop.put(None, json!({"title": "second"})).unwrap();
    laptop.sync().unwrap();
    // A stronger KDF from now on, so that replaying the previous envelope is a downgrade.
    let db = rusqlite::Connection::open(dir.path().join("v.db")).unwrap();
    let old_envelope: Vec<u8> = db
        .query_row("SELECT envelope FROM vaults", [], |r| r.get(0))
        .unwrap();
    laptop
        .change_password(&Password::from("stronger"), Some(150_000))
        .unwrap();
    laptop.sync().unwrap();
    let before_rotation: Vec<u8> = db
        .query_row("SELECT envelope FROM vaults", [], |r| r.get(0))
        .unwrap();
    laptop.rotate(&mut |_| {}).unwrap();
    let current_envelope: Vec<u8> = db
        .query_row("SELECT envelope FROM vaults", [], |r| r.get(0))
        .unwrap();
    let other = vaultsync::crypto::UnlockedVault::create(
        &Password::from("other"),
        200_000,
        &mut vaultsync::crypto::OsEntropy,
    )
    .unwrap();
    let bump = "change_cursor = (SELECT next_cursor FROM vaults)";
    let next = "UPDATE vaults SET next_cursor = next_cursor + 1";
    let cases: Vec<(&str, Vec<String>, &str, Vec<String>)> = vec![
        (
            "a lower version (rollback)",
            vec![
                format!(
                    "UPDATE records SET version = version - 1, {bump} WHERE record_id = X'{}'",
                    hex(second.as_bytes())
                ),
                next.into(),
            ],
            "ROLLBACK",
            vec![
                format!(
                    "UPDATE records SET version = version + 1, {bump} WHERE record_id = X'{}'",
                    hex(second.as_bytes())
                ),
                next.into(),
            ],
        ),
        (
            "a flipped tombstone flag",
            vec![
                format!(
                    "UPDATE records SET deleted = 1, {bump} WHERE record_id = X'{}'",
                    hex(second.as_bytes())
                ),
                next.into(),
            ],
            "TAMPERED",
            vec![
                format!(
                    "UPDATE records SET deleted = 0, {bump} WHERE record_id = X'{}'",
                    hex(second.as_bytes())
                ),
                next.into(),
            ],
        ),
        (
            "another vault's envelope",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version + 1",
                hex(&other.envelope.to_bytes())
            )],
            "TAMPERED",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version - 1",
                hex(&current_envelope)
            )],
        ),
        (
            // Its generation (under the MAC) is older: refused before its weaker KDF is
            // even looked at. A replayed old password would open every session again.
            "the envelope from before the password change replayed as new",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version + 1",
                hex(&old_envelope)
            )],
            "ROLLBACK",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version - 1",
                hex(&current_envelope)
            )],
        ),
        (
            "the envelope from before a key rotation replayed as new",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version + 1",
                hex(&before_rotation)
            )],
            "ROLLBACK",
            vec![format!(
                "UPDATE vaults SET envelope = X'{}', envelope_version = envelope_version - 1",
                hex(&current_envelope)
            )],
        ),
        (
            "a ciphertext moved to another record",
            vec![
                format!(
                    "UPDATE records SET body = (SELECT body FROM records r2 WHERE r2.record_id = X'{0}'), version = version + 1, {bump} WHERE record_id != X'{0}' AND deleted = 0",
                    hex(second.as_bytes())
                ),
                next.into(),
            ],
            "TAMPERED",
            vec![],
        ),
    ];
    for (name, tamper, code, restore) in cases {
        let before = local_state(&laptop);
        for sql in &tamper {
            db.execute(sql, []).unwrap();
        }
        let err = laptop.sync().unwrap_err();
        assert_eq!(err.code(), code, "{name}: {err}");
        assert!(
            local_state(&laptop) == before,
            "{name}: nothing local changed"
        );
        for sql in &restore {
            db.execute(sql, []).unwrap();
        }
        if !restore.is_empty() {
            laptop
                .sync()
                .unwrap_or_else(|e| panic!("{name}: after restoring: {e}"));
        }
    }
}

/// What a device holds: its records and its envelope.
fn local_state(
    device: &Client,
) -> (
    Vec<(vaultsync::crypto::RecordId, serde_json::Value)>,
    String,
) {
    let records = device
        .engine()
        .records()
        .map(|(id, v)| (*id, v.clone()))
        .collect();
    let saved = device.save().unwrap();
    let envelope = saved.split('.').next().unwrap().to_string();
    (records, envelope)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn postgres_three_devices_through_two_replicas_converge() {
    let pg = Postgres::start();
    let url = pg.database("devices");
    let (a, b) = (Server::start(&url), Server::start(&url));
    three_devices_converge(&[&a, &b]);
}
