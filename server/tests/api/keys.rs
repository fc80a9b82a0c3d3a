//! End to end, native client against the real server (a SQLite file; PostgreSQL through two
//! replicas): recovery with the recovery code on a new device, and a key rotation
//! interrupted by the death of the server it talks to, then resumed and finished by
//! another device while a stale device writes under the old envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Api, Postgres, Server};
use serde_json::{Value, json};
use vaultsync::client::{Client, Options};
use vaultsync::crypto::kdf::derive_master;
use vaultsync::crypto::{
    KdfParams, Password, RecordId, RecoveryCode, SealedRecord, from_base64url, to_base64url,
};
use vaultsync::sync::{Event, Progress};

/// More than two push batches (500 each), so a rotation is cut in the middle.
const RECORDS: usize = 1100;

fn options() -> Options {
    Options {
        iterations: 100_000,
        ..Options::default()
    }
}

/// The key id of every record the server holds, read through the raw API with a token of
/// a fresh login (`password` is the account's current one).
fn stored_key_ids(url: &str, password: &str) -> Vec<u32> {
    let api = Api::new(url);
    let (_, pre) = api.call("POST", "/v1/prelogin", Some(&json!({"username": "erin"})));
    let kdf = KdfParams::new(
        pre["kdf"]["iterations"].as_u64().unwrap() as u32,
        from_base64url(pre["kdf"]["salt"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let master = derive_master(&Password::from(password), &kdf);
    let key = to_base64url(&master.auth_key().to_bytes()[..]);
    let login = json!({"username": "erin", "auth_key": key});
    let (status, session) = api.call("POST", "/v1/login", Some(&login));
    assert_eq!(status, 200, "{session}");
    let api = api.with_token(session["token"]["secret"].as_str().unwrap());
    let vault = session["vault_id"].as_str().unwrap();
    let (mut since, mut keys) = (0, Vec::new());
    loop {
        let path = format!("/v1/vaults/{vault}/changes?since={since}");
        let (status, page) = api.call("GET", &path, None);
        assert_eq!(status, 200, "{page}");
        for change in page["changes"].as_array().unwrap() {
            let sealed = from_base64url(change["ciphertext"].as_str().unwrap()).unwrap();
            keys.push(SealedRecord::parse(&sealed).unwrap().key_id);
        }
        since = page["cursor"].as_u64().unwrap();
        if !page["more"].as_bool().unwrap() {
            return keys;
        }
    }
}

fn values(client: &Client) -> Vec<(RecordId, Value)> {
    client
        .engine()
        .records()
        .map(|(id, v)| (*id, v.clone()))
        .collect()
}

/// The scenario; `first` dies in the middle of the rotation and `second()` gives a server
/// on the same database (a restart, or another replica).
fn recovery_and_rotation(first: Server, second: impl FnOnce() -> Server) {
    let pw = Password::from("forgotten pw");
    let (mut laptop, code) = Client::register(&first.url, "erin", &pw, &options()).unwrap();
    let ids: Vec<RecordId> = (0..RECORDS)
        .map(|n| laptop.put(None, json!({"n": n})).unwrap())
        .collect();
    laptop.sync().unwrap();
    let mut phone = Client::login(&first.url, "erin", &pw, &options()).unwrap();
    phone.sync().unwrap();
    assert_eq!(phone.engine().records().count(), RECORDS);

    // Recovery: the password is forgotten; a new device logs in with the recovery code
    // and sets a new password.
    let text = code.to_text();
    let new_pw = Password::from("recovered pw");
    let wrong = RecoveryCode::parse("0000-0000-0000-0000-0000-0000-0000-0000").unwrap();
    let err = Client::recover(&first.url, "erin", &wrong, &new_pw, &options())
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
    let err = Client::recover(&first.url, "nobody", &code, &new_pw, &options())
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
    let mut desk = Client::recover(
        &first.url,
        "erin",
        &RecoveryCode::parse(&text.to_lowercase()).unwrap(),
        &new_pw,
        &options(),
    )
    .unwrap();
    desk.sync().unwrap();
    assert_eq!(values(&desk), values(&laptop));
    let err = Client::login(&first.url, "erin", &pw, &options())
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_CREDENTIALS");
    // The laptop learns it on its next sync; its saved session then needs the new one.
    let events = laptop.sync().unwrap();
    assert!(
        events.contains(&Event::EnvelopeChanged {
            password: true,
            keys: false
        }),
        "{events:?}"
    );
    let saved = laptop.save().unwrap();
    assert_eq!(
        Client::resume(&first.url, &saved, &pw, &options())
            .err()
            .unwrap()
            .code(),
        "WRONG_PASSWORD"
    );
    let mut laptop = Client::resume(&first.url, &saved, &new_pw, &options()).unwrap();

    // The phone goes offline (still on the old envelope) and edits.
    phone
        .put(Some(ids[0]), json!({"n": 0, "by": "phone"}))
        .unwrap();
    let added = phone.put(None, json!({"new": "phone"})).unwrap();
    assert!(phone.delete(&ids[1]).unwrap());
    let phone_saved = phone.save().unwrap();
    drop(phone);

    // A rotation on the laptop, cut off when its server dies after the first batch.
    let mut dying = Some(first);
    let mut reports = Vec::new();
    let err = laptop
        .rotate(&mut |p| {
            reports.push(p);
            if matches!(p, Progress::Rotate { .. }) {
                if let Some(server) = dying.take() {
                    server.kill9();
                }
            }
        })
        .unwrap_err();
    assert_eq!(err.code(), "NETWORK", "{err}");
    assert!(
        reports.contains(&Progress::Rotate {
            done: 500,
            total: RECORDS
        }),
        "{reports:?}"
    );
    assert!(laptop.rotation_pending());
    let server = second();

    // Half-way, the vault is readable: a new device pulls and opens every record.
    let mut reader = Client::login(&server.url, "erin", &new_pw, &options()).unwrap();
    reader.sync().unwrap();
    assert_eq!(reader.engine().records().count(), RECORDS);
    assert!(reader.rotation_pending());
    let keys = stored_key_ids(&server.url, "recovered pw");
    assert_eq!(keys.iter().filter(|k| **k == 2).count(), 500, "one batch");
    assert_eq!(keys.iter().filter(|k| **k == 1).count(), RECORDS - 500);

    // The stale phone comes back: its push, sealed against the old envelope, is refused;
    // it adopts the new envelope (new password, new key) and seals its edits again.
    let mut phone = Client::resume(&server.url, &phone_saved, &pw, &options()).unwrap();
    let events = phone.sync().unwrap();
    assert!(
        events.contains(&Event::EnvelopeChanged {
            password: true,
            keys: true
        }),
        "{events:?}"
    );
    assert_eq!(phone.engine().pending_count(), 0);

    // Another device finishes the rotation.
    let mut reports = Vec::new();
    reader.rotate(&mut |p| reports.push(p)).unwrap();
    assert!(!reader.rotation_pending());
    assert_eq!(reader.vault().current_key_id(), 2);
    let last = reports
        .iter()
        .rev()
        .find(|p| matches!(p, Progress::Rotate { .. }))
        .unwrap();
    assert!(
        // The rest of the first rotation, less what the phone's edits re-sealed already.
        matches!(last, Progress::Rotate { done, total } if done == total && *total >= RECORDS - 502),
        "{reports:?}"
    );
    let stored = stored_key_ids(&server.url, "recovered pw");
    assert!(stored.iter().all(|k| *k == 2), "every record under key 2");
    assert_eq!(stored.len(), RECORDS + 1, "every record, the tombstone too");

    // Everyone converges, with the phone's offline edits, under one key.
    // (The laptop and the desk talked to the server that died: they move to this one.)
    let moved = |client: Client| {
        Client::resume(&server.url, &client.save().unwrap(), &new_pw, &options()).unwrap()
    };
    let (mut laptop, mut desk) = (moved(laptop), moved(desk));
    for device in [&mut laptop, &mut desk, &mut phone, &mut reader] {
        device.sync().unwrap();
    }
    for device in [&laptop, &desk, &phone] {
        assert_eq!(values(device), values(&reader));
        assert!(!device.rotation_pending());
        assert_eq!(device.vault().current_key_id(), 2);
    }
    assert_eq!(reader.get(&ids[0]), Some(&json!({"n": 0, "by": "phone"})));
    assert_eq!(reader.get(&added), Some(&json!({"new": "phone"})));
    assert_eq!(reader.get(&ids[1]), None);
    assert_eq!(reader.engine().records().count(), RECORDS);

    // A second rotation runs through in one call; the recovery code still works after it.
    laptop.rotate(&mut |_| {}).unwrap();
    assert_eq!(laptop.vault().current_key_id(), 3);
    assert!(!laptop.rotation_pending());
    assert!(
        stored_key_ids(&server.url, "recovered pw")
            .iter()
            .all(|k| *k == 3)
    );
    let again = Password::from("recovered twice");
    let mut other = Client::recover(&server.url, "erin", &code, &again, &options()).unwrap();
    other.sync().unwrap();
    assert_eq!(values(&other), values(&laptop));
    for device in [&mut desk, &mut phone] {
        let events = device.sync().unwrap();
        assert!(
            events.contains(&Event::EnvelopeChanged {
                password: true,
                keys: true
            }),
            "{events:?}"
        );
        assert_eq!(values(device), values(&laptop));
    }
}

#[test]
fn sqlite_recovery_and_interrupted_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/v.db", dir.path().display());
    let first = Server::start(&database);
    recovery_and_rotation(first, || Server::start(&database));
}

#[test]
fn postgres_recovery_and_interrupted_rotation_across_replicas() {
    let pg = Postgres::start();
    let database = pg.database("keys");
    let (a, b) = (Server::start(&database), Server::start(&database));
    recovery_and_rotation(a, move || b);
}
