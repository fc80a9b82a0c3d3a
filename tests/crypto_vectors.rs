//! Known-answer vectors for our own formats (`tests/data/vectors-v1.json`): from fixed
//! inputs (password, parameters and every "random" value), the envelope and the sealed
//! records must come out byte for byte. Any other implementation must reproduce them.
//!
//! Regenerate (only when the format deliberately changes, with a new format byte):
//! `VAULTSYNC_WRITE_VECTORS=1 cargo test --test crypto_vectors -- --test-threads=1`
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{QueueEntropy, hex, unhex};
use serde_json::{Value, json};
use vaultsync::crypto::head::{DeviceId, Head, SetDigest};
use vaultsync::crypto::{
    Envelope, Password, RecordId, RecordMeta, RecoveryCode, UnlockedVault, from_base64url,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors-v1.json");

/// The fixed inputs of the vectors.
fn inputs() -> Value {
    json!({
        "password": "correct horse battery staple",
        "iterations": 100000,
        "salt": "000102030405060708090a0b0c0d0e0f",
        "vault_id": "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
        "root_key": "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f",
        "vault_key_1": "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
        "recovery_code_bytes": "505152535455565758595a5b5c5d5e5f60616263",
        "password_slot_nonce": "b0b1b2b3b4b5b6b7b8b9babb",
        "recovery_slot_nonce": "c0c1c2c3c4c5c6c7c8c9cacb",
        "keyring_nonce": "d0d1d2d3d4d5d6d7d8d9dadb",
        "head_writer": "606162636465666768696a6b6c6d6e6f",
        "records": [
            {"record_id": "e0e1e2e3e4e5e6e7e8e9eaebecedeeef", "version": 1, "deleted": false,
             "plaintext_utf8": "{\"url\":\"https://example.com\",\"title\":\"Example\"}",
             "nonce": "f0f1f2f3f4f5f6f7f8f9fafb"},
            {"record_id": "e0e1e2e3e4e5e6e7e8e9eaebecedeeef", "version": 2, "deleted": true,
             "plaintext_utf8": "", "nonce": "f1f1f2f3f4f5f6f7f8f9fafb"}
        ]
    })
}

/// Builds everything from the inputs, in the order the implementation consumes randomness
/// (salt, vault id, root key, vault key, recovery code, slot nonces, keyring nonce).
fn compute(inputs: &Value) -> Value {
    let s = |k: &str| unhex(inputs[k].as_str().unwrap());
    let mut entropy = QueueEntropy::new([
        s("salt"),
        s("vault_id"),
        s("root_key"),
        s("vault_key_1"),
        s("recovery_code_bytes"),
        s("password_slot_nonce"),
        s("recovery_slot_nonce"),
        s("keyring_nonce"),
    ]);
    let password = Password::from(inputs["password"].as_str().unwrap());
    let iterations = inputs["iterations"].as_u64().unwrap() as u32;
    let new = UnlockedVault::create(&password, iterations, &mut entropy).unwrap();
    assert!(entropy.0.is_empty());
    let mut records = Vec::new();
    let mut sealed_records = Vec::new();
    for r in inputs["records"].as_array().unwrap() {
        let id = RecordId::from_bytes(unhex(r["record_id"].as_str().unwrap()).try_into().unwrap());
        let meta = RecordMeta::new(
            id,
            r["version"].as_u64().unwrap(),
            r["deleted"].as_bool().unwrap(),
        )
        .unwrap();
        let mut nonce = QueueEntropy::new([unhex(r["nonce"].as_str().unwrap())]);
        let sealed = new
            .vault
            .seal(
                &meta,
                r["plaintext_utf8"].as_str().unwrap().as_bytes(),
                &mut nonce,
            )
            .unwrap();
        sealed_records.push((id, meta, sealed.clone()));
        records.push(json!({
            "record_id_text": id.to_string(),
            "sealed_hex": hex(&sealed),
            "sealed_text": vaultsync::crypto::to_base64url(&sealed),
        }));
    }
    // The vault's first head, written after the first record (live, version 1): the
    // second (a tombstone) is not a leaf.
    let keys = new.vault.head_keys();
    let (id, meta, sealed) = &sealed_records[0];
    let leaf = keys.leaf(&new.vault.vault_id(), id, meta.version(), sealed);
    let mut digest = SetDigest::default();
    digest.toggle(&leaf);
    let writer = DeviceId::from_bytes(
        unhex(inputs["head_writer"].as_str().unwrap())
            .try_into()
            .unwrap(),
    );
    let head = keys.seal(Head::after(None, new.vault.vault_id(), writer), &digest);
    let words = head.state_code();
    json!({
        "head": {
            "leaf_hex": hex(leaf.as_bytes()),
            "head_hex": hex(&head.to_bytes()),
            "state_code": format!("1 {}", words.join(" ")),
        },
        "recovery_code_text": new.recovery_code.to_text().as_str(),
        "auth_key_hex": hex(&vaultsync::crypto::kdf::derive_master(&password, new.envelope.kdf_params()).auth_key().to_bytes()[..]),
        "recovery_auth_key_hex": hex(&new.recovery_code.auth_key().to_bytes()[..]),
        "envelope_hex": hex(&new.envelope.to_bytes()),
        "envelope_text": new.envelope.to_text(),
        "records": records,
    })
}

#[test]
fn vectors_are_reproduced_byte_for_byte() {
    let inputs = inputs();
    let outputs = compute(&inputs);
    if std::env::var_os("VAULTSYNC_WRITE_VECTORS").is_some() {
        let file = json!({
            "source": "vaultsync's own vectors, generated by tests/crypto_vectors.rs from the fixed inputs below; layouts in FORMAT.md",
            "inputs": inputs,
            "outputs": outputs,
        });
        std::fs::write(PATH, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(stored["inputs"], inputs, "inputs in the data file changed");
    assert_eq!(
        stored["outputs"], outputs,
        "the implementation no longer matches the vectors"
    );
}

#[test]
fn stored_vectors_unlock_and_open() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let (inputs, outputs) = (&stored["inputs"], &stored["outputs"]);
    let envelope = Envelope::parse_text(outputs["envelope_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex(&envelope.to_bytes()),
        outputs["envelope_hex"].as_str().unwrap()
    );
    let vault = envelope
        .unlock(&Password::from(inputs["password"].as_str().unwrap()))
        .unwrap();
    let by_code = envelope
        .unlock_with_recovery_code(
            &RecoveryCode::parse(outputs["recovery_code_text"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
    for (input, output) in inputs["records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(outputs["records"].as_array().unwrap())
    {
        let id = RecordId::parse(output["record_id_text"].as_str().unwrap()).unwrap();
        let meta = RecordMeta::new(
            id,
            input["version"].as_u64().unwrap(),
            input["deleted"].as_bool().unwrap(),
        )
        .unwrap();
        let sealed = from_base64url(output["sealed_text"].as_str().unwrap()).unwrap();
        let plain = input["plaintext_utf8"].as_str().unwrap().as_bytes();
        assert_eq!(vault.open(&meta, &sealed).unwrap(), plain);
        assert_eq!(by_code.open(&meta, &sealed).unwrap(), plain);
    }
}
