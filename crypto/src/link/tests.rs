//! The HPKE layer against RFC 9180's vectors, the grant and phrase vectors, refusals.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::ids::VaultId;
use crate::secret::RootKey;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn arr(text: &str) -> [u8; 32] {
    hex(text).try_into().unwrap()
}

/// RFC 9180's test vectors for base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256:
/// AES-128-GCM (the key schedule only: the crate ships AES-256 alone) and AES-256-GCM
/// (everything, ciphertexts included).
#[test]
fn rfc9180_vectors() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/hpke-rfc9180-x25519.json")).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let s = |k: &str| v[k].as_str().unwrap();
        let eph = DeviceKeyPair::derive(&hex(s("ikmE")));
        let rcpt = DeviceKeyPair::derive(&hex(s("ikmR")));
        assert_eq!(eph.secret(), &arr(s("skEm")));
        assert_eq!(eph.public(), &arr(s("pkEm")));
        assert_eq!(rcpt.public(), &arr(s("pkRm")));
        let shared = encap(&eph, rcpt.public()).unwrap();
        assert_eq!(&shared[..], &hex(s("shared_secret"))[..]);
        assert_eq!(&decap(&rcpt, &arr(s("enc"))).unwrap()[..], &shared[..]);
        let aead_id = v["aead_id"].as_u64().unwrap() as u16;
        let key_len = hex(s("key")).len();
        let schedule = key_schedule(aead_id, key_len, &shared, &hex(s("info")));
        assert_eq!(&schedule.key[..], &hex(s("key"))[..]);
        assert_eq!(&schedule.base_nonce[..], &hex(s("base_nonce"))[..]);
        if aead_id != AEAD_ID {
            continue;
        }
        // Single-shot: the first encryption (sequence 0) is ours.
        let first = &v["encryptions"][0];
        let e = |k: &str| hex(first[k].as_str().unwrap());
        let (enc, ct) =
            seal_with(&eph, rcpt.public(), &hex(s("info")), &e("aad"), &e("pt")).unwrap();
        assert_eq!(enc, arr(s("enc")));
        assert_eq!(ct, e("ct"));
        let opened = open(&rcpt, &enc, &hex(s("info")), &e("aad"), &ct).unwrap();
        assert_eq!(&opened[..], &e("pt")[..]);
    }
}

#[test]
fn a_payload_opens_only_with_its_key_info_and_aad() {
    let mut entropy = crate::rand::OsEntropy;
    let new_device = DeviceKeyPair::generate(&mut entropy).unwrap();
    let other = DeviceKeyPair::generate(&mut entropy).unwrap();
    let (enc, ct) = seal(
        new_device.public(),
        b"info",
        b"aad",
        b"root key",
        &mut entropy,
    )
    .unwrap();
    assert_eq!(
        &open(&new_device, &enc, b"info", b"aad", &ct).unwrap()[..],
        b"root key"
    );
    assert_eq!(
        open(&other, &enc, b"info", b"aad", &ct),
        Err(HpkeError::Open)
    );
    assert_eq!(
        open(&new_device, &enc, b"inf0", b"aad", &ct),
        Err(HpkeError::Open)
    );
    assert_eq!(
        open(&new_device, &enc, b"info", b"aaD", &ct),
        Err(HpkeError::Open)
    );
    let mut flipped = ct.clone();
    flipped[0] ^= 1;
    assert_eq!(
        open(&new_device, &enc, b"info", b"aad", &flipped),
        Err(HpkeError::Open)
    );
    // A low-order point as a key is refused on both sides.
    assert_eq!(
        seal(&[0u8; 32], b"i", b"a", b"p", &mut entropy),
        Err(SealError::Hpke(HpkeError::BadKey))
    );
    assert_eq!(
        open(&new_device, &[0u8; 32], b"info", b"aad", &ct),
        Err(HpkeError::BadKey)
    );
    assert!(!format!("{new_device:?}").contains(&format!("{:?}", new_device.secret())));
}

#[test]
fn the_link_phrase_binds_key_and_request() {
    let key = DeviceKeyPair::derive(b"phrase test").public().to_owned();
    let phrase = link_phrase(&key, &[1; 16]);
    assert_eq!(phrase, link_phrase(&key, &[1; 16]));
    assert_ne!(phrase, link_phrase(&key, &[2; 16]));
    let mut other = key;
    other[0] ^= 1;
    assert_ne!(phrase, link_phrase(&other, &[1; 16]));
    assert!(phrase.iter().all(|w| !w.is_empty()));
    // The cross-check's vector (tests/data/link-v1.json): WebCrypto computes the same.
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/link-v1.json")).unwrap();
    let v = &file["phrase"];
    let public = arr(v["public_key_hex"].as_str().unwrap());
    let request: [u8; 16] = hex(v["request_id_hex"].as_str().unwrap())
        .try_into()
        .unwrap();
    assert_eq!(
        link_phrase(&public, &request).join(" "),
        v["phrase"].as_str().unwrap()
    );
}

/// The payload vector of `tests/data/link-v1.json`, rebuilt byte for byte; WebCrypto
/// opens it in the cross-check (`www/lib/crosscheck.mjs`).
#[test]
fn the_payload_vector() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/link-v1.json")).unwrap();
    let v = &file["payload"];
    let s = |k: &str| v[k].as_str().unwrap();
    let recipient = DeviceKeyPair::derive(s("recipient_ikm").as_bytes());
    let ephemeral = DeviceKeyPair::derive(s("ephemeral_ikm").as_bytes());
    let vault = VaultId::from_bytes(hex(s("vault_id_hex")).try_into().unwrap());
    let request: [u8; 16] = hex(s("request_id_hex")).try_into().unwrap();
    let grant = LinkGrant {
        root: RootKey::from_bytes(arr(s("root_key_hex"))),
        envelope_version: v["envelope_version"].as_u64().unwrap(),
        generation: v["generation"].as_u64().unwrap(),
        iterations: v["iterations"].as_u64().unwrap() as u32,
        head: Some(hex(s("head_hex"))),
    };
    let (enc, payload) = grant
        .seal_with(&ephemeral, &vault, &request, recipient.public(), s("label"))
        .unwrap();
    let out = serde_json::json!({
        "recipient_public_hex": hex_of(recipient.public()),
        "recipient_secret_hex": hex_of(recipient.secret()),
        "enc_hex": hex_of(&enc),
        "payload_hex": hex_of(&payload),
    });
    println!("{out}");
    assert_eq!(s("recipient_public_hex"), hex_of(recipient.public()));
    assert_eq!(s("recipient_secret_hex"), hex_of(recipient.secret()));
    assert_eq!(s("enc_hex"), hex_of(&enc));
    assert_eq!(s("payload_hex"), hex_of(&payload));
    let opened = LinkGrant::open(&recipient, &vault, &request, s("label"), &enc, &payload).unwrap();
    assert_eq!(opened.root.expose(), grant.root.expose());
    assert_eq!(opened.head, grant.head);
    assert_eq!(
        (
            opened.envelope_version,
            opened.generation,
            opened.iterations
        ),
        (3, 2, 600_000)
    );
    // Another label, request or vault, or a flipped byte: refused.
    let refused = |label: &str, request: &[u8; 16], vault: &VaultId, payload: &[u8]| {
        LinkGrant::open(&recipient, vault, request, label, &enc, payload).is_err()
    };
    assert!(refused("Chrome", &request, &vault, &payload));
    assert!(refused(s("label"), &[0; 16], &vault, &payload));
    assert!(refused(
        s("label"),
        &request,
        &VaultId::from_bytes([0; 16]),
        &payload
    ));
    let mut flipped = payload.clone();
    flipped[10] ^= 1;
    assert!(refused(s("label"), &request, &vault, &flipped));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
