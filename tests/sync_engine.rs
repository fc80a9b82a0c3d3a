//! The sync engine against a malicious server and in the conflict cases it must decide:
//! every tampered answer is refused with its typed error and changes nothing local.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use vaultsync::crypto::{GenerateId, OsEntropy, Password, RecordId, RecordMeta, UnlockedVault};
use vaultsync::sync::{ConflictPolicy, Engine, Event, SyncError};
use vaultsync_wire::{Blob, ChangesResponse, PushResponse, PushResult, Record};

fn vault() -> UnlockedVault {
    UnlockedVault::create(&Password::from("pw"), 100_000, &mut OsEntropy)
        .unwrap()
        .vault
}

/// A record as another device would have written it.
fn record(
    vault: &UnlockedVault,
    id: RecordId,
    version: u64,
    value: Option<serde_json::Value>,
    cursor: u64,
) -> Record {
    let deleted = value.is_none();
    let plaintext = match &value {
        Some(v) => serde_json::to_vec(v).unwrap(),
        None => Vec::new(),
    };
    let meta = RecordMeta::new(id, version, deleted).unwrap();
    Record {
        record_id: id,
        version,
        deleted,
        ciphertext: Blob(vault.seal(&meta, &plaintext, &mut OsEntropy).unwrap()),
        cursor,
    }
}

fn page(changes: Vec<Record>, more: bool) -> ChangesResponse {
    ChangesResponse {
        cursor: changes.last().map_or(0, |c| c.cursor),
        changes,
        more,
        envelope_version: 1,
        head: None,
    }
}

fn id() -> RecordId {
    RecordId::generate(&mut OsEntropy).unwrap()
}

/// An engine that has pulled two records, a at version 2 and b at version 1.
fn synced(vault: &UnlockedVault) -> (Engine, RecordId, RecordId) {
    let (a, b) = (id(), id());
    let mut engine = Engine::new(vault.vault_id(), ConflictPolicy::KeepLocal);
    let first = page(
        vec![
            record(vault, a, 2, Some(json!({"t": "a2"})), 3),
            record(vault, b, 1, Some(json!({"t": "b1"})), 4),
        ],
        false,
    );
    engine.apply_changes(vault, &first).unwrap();
    (engine, a, b)
}

#[test]
fn every_tampered_answer_is_refused_and_changes_nothing() {
    let vault = vault();
    let (mut engine, a, b) = synced(&vault);
    let before = engine.clone();
    let other_vault = self::vault();

    let good_a3 = record(&vault, a, 3, Some(json!({"t": "a3"})), 5);
    let mut cases: Vec<(&str, Record, &str)> = Vec::new();
    // Ciphertext swapped between records.
    let mut swapped = record(&vault, b, 2, Some(json!({"t": "b2"})), 5);
    swapped.record_id = a;
    swapped.version = 3;
    cases.push(("swapped between records", swapped, "TAMPERED"));
    // Moved to another version (replayed under a new number).
    let mut renumbered = good_a3.clone();
    renumbered.version = 4;
    cases.push(("renumbered", renumbered, "TAMPERED"));
    // Tombstone flag flipped.
    let mut flipped = good_a3.clone();
    flipped.deleted = true;
    cases.push(("tombstone flipped", flipped, "TAMPERED"));
    // Forged tombstone: random bytes.
    let mut forged = record(&vault, a, 3, None, 5);
    forged.ciphertext = Blob(vec![0xD1; 40]);
    cases.push(("forged tombstone", forged, "TAMPERED"));
    // From another vault.
    cases.push((
        "other vault",
        record(&other_vault, a, 3, Some(json!({"t": "x"})), 5),
        "TAMPERED",
    ));
    // An older version than seen (rollback / replay).
    cases.push((
        "rollback",
        record(&vault, a, 1, Some(json!({"t": "a1"})), 5),
        "ROLLBACK",
    ));
    // A modified byte.
    let mut flipped_byte = good_a3.clone();
    flipped_byte.ciphertext.0[20] ^= 1;
    cases.push(("modified byte", flipped_byte, "TAMPERED"));

    for (name, bad, code) in cases {
        // Alone, and after a good change in the same page: the whole page is refused.
        let good_b = record(&vault, b, 2, Some(json!({"t": "b2"})), 5);
        let mut bad_later = bad.clone();
        bad_later.cursor = 6;
        for changes in [vec![bad.clone()], vec![good_b, bad_later]] {
            let err = engine
                .apply_changes(&vault, &page(changes, false))
                .unwrap_err();
            assert_eq!(err.code(), code, "{name}: {err}");
            assert_eq!(engine, before, "{name}: nothing changed");
        }
    }

    // Cursors out of order or not matching the page.
    let disordered = page(
        vec![
            record(&vault, b, 2, Some(json!({})), 9),
            record(&vault, a, 3, Some(json!({})), 8),
        ],
        false,
    );
    assert!(matches!(
        engine.apply_changes(&vault, &disordered),
        Err(SyncError::BadAnswer { .. })
    ));
    let mut behind = page(vec![record(&vault, b, 2, Some(json!({})), 2)], false);
    behind.cursor = 2;
    assert!(matches!(
        engine.apply_changes(&vault, &behind),
        Err(SyncError::BadAnswer { .. })
    ));
    assert_eq!(engine, before);

    // The good change is then accepted.
    let events = engine
        .apply_changes(&vault, &page(vec![good_a3], false))
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Changed {
            id: a,
            value: json!({"t": "a3"})
        }]
    );
}

#[test]
fn tampered_push_answers_are_refused_and_the_push_stays_unanswered() {
    let vault = vault();
    let (mut engine, a, _) = synced(&vault);
    engine.put(a, json!({"t": "mine"}), 1);
    let request = engine
        .prepare_push(&vault, 10, &mut OsEntropy)
        .unwrap()
        .unwrap();
    assert_eq!(request.items[0].base_version, 2);
    let before = engine.clone();
    let wrong_version = PushResponse {
        results: vec![PushResult::Applied {
            record_id: a,
            version: 7,
            cursor: 9,
        }],
    };
    assert!(matches!(
        engine.apply_push(&vault, &wrong_version),
        Err(SyncError::BadAnswer { .. })
    ));
    let rolled_back = PushResponse {
        results: vec![PushResult::Conflict {
            record_id: a,
            current: Some(record(&vault, a, 1, Some(json!({"t": "old"})), 1)),
        }],
    };
    assert_eq!(
        engine.apply_push(&vault, &rolled_back).unwrap_err().code(),
        "ROLLBACK"
    );
    let too_few = PushResponse { results: vec![] };
    assert!(engine.apply_push(&vault, &too_few).is_err());
    assert_eq!(engine, before);
    // The retry is the same request.
    assert_eq!(
        engine
            .prepare_push(&vault, 10, &mut OsEntropy)
            .unwrap()
            .unwrap(),
        request
    );
}

#[test]
fn conflicts_merge_by_field_and_follow_the_policy() {
    let vault = vault();
    for (policy, kept) in [
        (ConflictPolicy::KeepLocal, "mine"),
        (ConflictPolicy::ServerWins, "theirs"),
    ] {
        let (mut engine, a, _) = synced(&vault);
        engine.set_policy(policy);
        engine.put(a, json!({"t": "mine", "local": 1}), 1);
        let theirs = record(&vault, a, 3, Some(json!({"t": "theirs", "remote": 2})), 5);
        let events = engine
            .apply_changes(&vault, &page(vec![theirs], false))
            .unwrap();
        assert_eq!(
            engine.get(&a),
            Some(&json!({"t": kept, "local": 1, "remote": 2}))
        );
        let conflicts = engine.conflicts(&a);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].path, "/t");
        assert_eq!(conflicts[0].local, Some(json!("mine")));
        assert_eq!(conflicts[0].remote, Some(json!("theirs")));
        assert!(matches!(&events[0], Event::Conflict { .. }));
        // The merged value is pushed from the server's version.
        let push = engine
            .prepare_push(&vault, 10, &mut OsEntropy)
            .unwrap()
            .unwrap();
        assert_eq!(push.items[0].base_version, 3);
    }
}

#[test]
fn edits_win_over_concurrent_deletes_on_either_side() {
    let vault = vault();
    // Deleted here, edited there: the record survives with their edit.
    let (mut engine, a, b) = synced(&vault);
    assert!(engine.delete(&a, 1));
    let theirs = record(&vault, a, 3, Some(json!({"t": "edited"})), 5);
    engine
        .apply_changes(&vault, &page(vec![theirs], false))
        .unwrap();
    assert_eq!(engine.get(&a), Some(&json!({"t": "edited"})));
    assert_eq!(engine.pending_count(), 0);
    assert_eq!(engine.conflicts(&a)[0].local, None);
    // Edited here, deleted there: the record survives with my edit, pushed again.
    engine.put(b, json!({"t": "kept"}), 2);
    let deleted = record(&vault, b, 2, None, 6);
    engine
        .apply_changes(&vault, &page(vec![deleted], false))
        .unwrap();
    assert_eq!(engine.get(&b), Some(&json!({"t": "kept"})));
    let push = engine
        .prepare_push(&vault, 10, &mut OsEntropy)
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            push.items[0].record_id,
            push.items[0].base_version,
            push.items[0].deleted
        ),
        (b, 2, false)
    );
}

#[test]
fn a_full_pull_without_a_head_deletes_nothing() {
    let vault = vault();
    let (mut engine, a, b) = synced(&vault);
    let c = id();
    engine.put(c, json!({"t": "offline"}), 1);
    engine.start_resync();
    assert_eq!(engine.cursor(), 0);
    // The full pull lists only b. Without a head nothing vouches that a is gone (the
    // server may have lost it): a is kept and pushed again.
    let events = engine
        .apply_changes(
            &vault,
            &page(
                vec![record(&vault, b, 1, Some(json!({"t": "b1"})), 4)],
                false,
            ),
        )
        .unwrap();
    assert_eq!(events, vec![Event::Reuploaded { count: 1 }]);
    assert_eq!(engine.get(&a), Some(&json!({"t": "a2"})));
    assert_eq!(engine.get(&c), Some(&json!({"t": "offline"})));
    assert_eq!(engine.pending_count(), 2);
    assert!(!engine.resyncing());
    assert!(engine.head_verifies(&vault));
}

#[test]
fn state_blobs_are_bound_to_their_vault() {
    let vault = vault();
    let other = self::vault();
    let (engine, _, _) = synced(&vault);
    let blob = engine.export(&vault, &mut OsEntropy).unwrap();
    assert_eq!(blob[0], 0x5E);
    assert_eq!(Engine::import(&vault, &blob).unwrap(), engine);
    assert_eq!(
        Engine::import(&other, &blob).unwrap_err().code(),
        "STATE_TAMPERED"
    );
    assert_eq!(
        Engine::import(&vault, &blob[..20]).unwrap_err().code(),
        "STATE_TAMPERED"
    );
    assert!(
        engine.export(&other, &mut OsEntropy).is_err(),
        "WRONG_VAULT"
    );
}

/// The server's envelope document for `envelope` at `version`.
fn doc(version: u64, envelope: &vaultsync::crypto::Envelope) -> vaultsync_wire::EnvelopeDoc {
    vaultsync_wire::EnvelopeDoc {
        version,
        envelope: Blob(envelope.to_bytes()),
        kdf: vaultsync::sync::ops::account::kdf_wire(envelope.kdf_params()),
    }
}

#[test]
fn newer_envelopes_are_adopted_and_bad_ones_refused() {
    let pw = Password::from("pw");
    let new = UnlockedVault::create(&pw, 100_000, &mut OsEntropy).unwrap();
    // Two devices unlocked from the same envelope.
    let mut laptop = new.envelope.unlock(&pw).unwrap();
    let mut phone = new.envelope.unlock(&pw).unwrap();
    let mut engine = Engine::new(phone.vault_id(), ConflictPolicy::KeepLocal);
    engine.pin_envelope(1, 200_000);
    let before = engine.clone();

    // The laptop changes the password with fewer iterations than pinned: refused.
    let weak = laptop
        .change_password(&Password::from("new"), 150_000, &mut OsEntropy)
        .unwrap();
    let err = engine
        .check_envelope(&mut phone, &doc(2, &weak))
        .unwrap_err();
    assert_eq!(err.code(), "KDF_DOWNGRADE");
    // Another vault's envelope, or one sealed under another root key: refused.
    let other = UnlockedVault::create(&pw, 300_000, &mut OsEntropy).unwrap();
    let err = engine
        .check_envelope(&mut phone, &doc(2, &other.envelope))
        .unwrap_err();
    assert_eq!(err.code(), "TAMPERED");
    let mut flipped = laptop
        .change_password(&Password::from("new"), 300_000, &mut OsEntropy)
        .unwrap()
        .to_bytes();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let tampered = vaultsync_wire::EnvelopeDoc {
        version: 2,
        envelope: Blob(flipped),
        kdf: doc(2, &weak).kdf,
    };
    assert_eq!(
        engine
            .check_envelope(&mut phone, &tampered)
            .unwrap_err()
            .code(),
        "TAMPERED"
    );
    assert_eq!(engine, before, "nothing changed");
    assert_eq!(phone.envelope(), &new.envelope);

    // A proper password change is adopted; an older envelope afterwards is a rollback.
    let changed = laptop
        .change_password(&Password::from("new"), 300_000, &mut OsEntropy)
        .unwrap();
    let event = engine
        .check_envelope(&mut phone, &doc(2, &changed))
        .unwrap();
    assert_eq!(
        event,
        Some(Event::EnvelopeChanged {
            password: true,
            keys: false
        })
    );
    assert_eq!(engine.envelope_version(), 2);
    assert_eq!(phone.envelope(), &changed);
    assert_eq!(
        engine
            .check_envelope(&mut phone, &doc(2, &changed))
            .unwrap(),
        None
    );
    let err = engine
        .check_envelope(&mut phone, &doc(1, &new.envelope))
        .unwrap_err();
    assert_eq!(err.code(), "ROLLBACK");
    // The adopted envelope needs the new password; records still open.
    assert!(changed.unlock(&Password::from("new")).is_ok());
    assert!(changed.unlock(&pw).is_err());
    // A rotation on the laptop: the phone adopts the new keyring and reads new records.
    laptop.rotate(&mut OsEntropy).unwrap();
    let rotated = laptop.envelope().clone();
    let event = engine
        .check_envelope(&mut phone, &doc(3, &rotated))
        .unwrap();
    assert_eq!(
        event,
        Some(Event::EnvelopeChanged {
            password: false,
            keys: true
        })
    );
    let id = id();
    let sealed = record(&laptop, id, 1, Some(json!({"k": 2})), 10);
    engine
        .apply_changes(&phone, &page(vec![sealed], false))
        .unwrap();
    assert_eq!(engine.get(&id), Some(&json!({"k": 2})));

    // The envelope from before the rotation, authentic but replayed as a newer version,
    // would have the phone seal under the old key again: refused, nothing changes.
    let before = engine.clone();
    let err = engine
        .check_envelope(&mut phone, &doc(4, &changed))
        .unwrap_err();
    assert_eq!(err.code(), "ROLLBACK");
    assert_eq!(engine, before);
    assert_eq!(phone.envelope(), &rotated);
    assert_eq!(phone.current_key_id(), 2);
}

/// A state saved by an earlier version (serde wrote it: `tests/data/engine-state-v1.json`,
/// every optional and `null` form) opens; it has no leaves, so its next pull is a full one
/// that deletes nothing. Written back, it keeps every field as it was and adds the head.
#[test]
fn states_saved_by_earlier_versions_open() {
    let text = include_str!("data/engine-state-v1.json");
    let engine: Engine = vaultsync_wire::json::from_str(text).unwrap();
    assert_eq!(engine.pending_count(), 3);
    assert_eq!(engine.policy(), ConflictPolicy::ServerWins);
    assert_eq!(engine.cursor(), 0, "leaves are learnt by a full pull");
    assert!(engine.resyncing());
    let again = vaultsync_wire::json::to_string(&engine);
    let as_value = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    let (old, new) = (as_value(text), as_value(&again));
    assert_eq!(old["records"], new["records"]);
    for field in [
        "vault_id",
        "policy",
        "cursor",
        "envelope_version",
        "kdf_floor",
    ] {
        assert_eq!(old[field], new[field], "{field}");
    }
    assert_eq!(new["resync"], true, "a resync under way carries on");
    let reread: Engine = vaultsync_wire::json::from_str(&again).unwrap();
    assert_eq!(reread, engine);
}

/// Envelopes go forward by content (their generation, under the MAC), not only by the
/// server's version number: an old envelope replayed under a new number is a rollback,
/// another envelope of the same generation a fork, and the same bytes under a new number
/// change nothing (no `envelopeChanged`).
#[test]
fn envelopes_are_ordered_by_their_generation() {
    let pw = Password::from("pw");
    let new = UnlockedVault::create(&pw, 100_000, &mut OsEntropy).unwrap();
    let mut laptop = new.envelope.unlock(&pw).unwrap();
    let mut phone = new.envelope.unlock(&pw).unwrap();
    let mut engine = Engine::new(phone.vault_id(), ConflictPolicy::KeepLocal);
    engine.pin_envelope(1, 100_000);

    // The same bytes under a new version: nothing to adopt, no event.
    assert_eq!(
        engine
            .check_envelope(&mut phone, &doc(2, &new.envelope))
            .unwrap(),
        None
    );
    assert_eq!(engine.envelope_version(), 2);
    // A password change (generation 1) is adopted.
    let changed = laptop
        .change_password(&Password::from("new"), 100_000, &mut OsEntropy)
        .unwrap();
    assert!(
        engine
            .check_envelope(&mut phone, &doc(3, &changed))
            .unwrap()
            .is_some()
    );
    let before = engine.clone();
    // The envelope from before it, same KDF, under a newer number: a rollback.
    let err = engine
        .check_envelope(&mut phone, &doc(4, &new.envelope))
        .unwrap_err();
    assert_eq!(err.code(), "ROLLBACK");
    // Another change of the same generation (made from the old envelope): a fork.
    let mut other = new.envelope.unlock(&pw).unwrap();
    let sibling = other
        .change_password(&Password::from("sibling"), 100_000, &mut OsEntropy)
        .unwrap();
    assert_eq!(sibling.generation(), changed.generation());
    let err = engine
        .check_envelope(&mut phone, &doc(4, &sibling))
        .unwrap_err();
    assert_eq!(err.code(), "FORK");
    assert_eq!(engine, before, "nothing changed");
    assert_eq!(phone.envelope(), &changed);
}

/// Pushes are bounded by bytes as well as by items: a batch of large records stays well
/// under the server's default body limit (16 MiB), and the rest goes in later batches.
#[test]
fn pushes_of_large_records_are_bounded_by_bytes() {
    let vault = vault();
    let mut engine = Engine::new(vault.vault_id(), ConflictPolicy::KeepLocal);
    engine.pin_envelope(1, 100_000);
    for i in 0..30u8 {
        let text = "x".repeat(300 * 1024);
        engine.put(
            RecordId::from_bytes([i + 1; 16]),
            json!({ "n": i, "text": text }),
            1,
        );
    }
    let request = engine
        .prepare_push(&vault, 500, &mut OsEntropy)
        .unwrap()
        .expect("a push");
    let bytes: usize = request
        .items
        .iter()
        .map(|i| i.ciphertext.as_bytes().len())
        .sum();
    assert!(
        request.items.len() < 30,
        "{} items in one push",
        request.items.len()
    );
    assert!(bytes <= (6 << 20) + 310 * 1024, "{bytes} bytes in one push");
    assert!(
        bytes >= 6 << 20,
        "the batch is filled up to the bound: {bytes}"
    );
}
