//! Round trips and tamper refusals of envelopes and records (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::{BrokenEntropy, TestEntropy};
use proptest::prelude::*;
use vaultsync::crypto::kdf::{MIN_ITERATIONS, derive_master};
use vaultsync::crypto::{
    Envelope, KdfError, KeyringError, MasterKey, OsEntropy, Password, RecordError, RecordId,
    RecordMeta, RecoveryCode, UnlockError, UnlockedVault, recover,
};

const PASSWORD: &str = "pässwörd with ünïcode";

struct Fixture {
    envelope: Envelope,
    master: MasterKey,
    code_text: String,
}

/// One vault for the whole file: PBKDF2 runs once, not once per case.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let new = UnlockedVault::create(&Password::from(PASSWORD), MIN_ITERATIONS, &mut OsEntropy)
            .unwrap();
        Fixture {
            master: derive_master(&Password::from(PASSWORD), new.envelope.kdf_params()),
            envelope: new.envelope,
            code_text: new.recovery_code.to_text().to_string(),
        }
    })
}

fn vault() -> UnlockedVault {
    let f = fixture();
    f.envelope.unlock_with_master(&f.master).unwrap()
}

fn meta(id: [u8; 16], version: u64, deleted: bool) -> RecordMeta {
    RecordMeta::new(RecordId::from_bytes(id), version, deleted).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn record_round_trip(
        id in any::<[u8; 16]>(),
        version in 1u64..=vaultsync::crypto::record::MAX_VERSION,
        deleted: bool,
        plain in proptest::collection::vec(any::<u8>(), 0..2048),
        seed in 1u64..,
    ) {
        let vault = vault();
        // A tombstone's plaintext is empty (FORMAT.md).
        let plain = if deleted { Vec::new() } else { plain };
        let m = meta(id, version, deleted);
        let sealed = vault.seal(&m, &plain, &mut TestEntropy(seed)).unwrap();
        prop_assert_eq!(sealed.len(), plain.len() + vaultsync::crypto::record::RECORD_OVERHEAD);
        prop_assert_eq!(vault.open(&m, &sealed).unwrap(), plain);
    }

    #[test]
    fn any_flipped_record_byte_is_refused(
        plain in proptest::collection::vec(any::<u8>(), 0..256),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let vault = vault();
        let m = meta([3; 16], 7, false);
        let mut sealed = vault.seal(&m, &plain, &mut OsEntropy).unwrap();
        let i = at.index(sealed.len());
        sealed[i] ^= 1 << bit;
        let err = vault.open(&m, &sealed).unwrap_err();
        prop_assert!(matches!(
            err,
            RecordError::Tampered | RecordError::UnknownKeyId { .. } | RecordError::Format(_)
        ), "{err:?}");
    }

    #[test]
    fn any_changed_bound_field_is_refused(
        id in any::<[u8; 16]>(),
        other_id in any::<[u8; 16]>(),
        version in 1u64..1_000_000,
        deleted: bool,
    ) {
        prop_assume!(id != other_id);
        let vault = vault();
        let m = meta(id, version, deleted);
        let plain: &[u8] = if deleted { b"" } else { b"{\"secret\":1}" };
        let sealed = vault.seal(&m, plain, &mut OsEntropy).unwrap();
        for wrong in [
            meta(other_id, version, deleted),
            meta(id, version + 1, deleted),
            meta(id, version.max(2) - 1, deleted),
            meta(id, version, !deleted),
        ] {
            if wrong != m {
                prop_assert_eq!(vault.open(&wrong, &sealed), Err(RecordError::Tampered));
            }
        }
    }

    #[test]
    fn any_flipped_envelope_byte_is_refused(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fixture();
        let mut bytes = f.envelope.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // The PBKDF2 output for the original parameters: a flip inside the KDF block must be
        // caught by the check value's binding of those parameters (unlocking with the password
        // would derive a different master key and fail even earlier).
        match Envelope::parse(&bytes) {
            Err(_) => {}
            Ok(envelope) => {
                prop_assert!(envelope.unlock_with_master(&f.master).is_err());
                let code = RecoveryCode::parse(&f.code_text).unwrap();
                prop_assert!(envelope.unlock_with_recovery_code(&code).is_err());
            }
        }
    }
}

#[test]
fn envelope_text_round_trip_and_both_unlock_paths() {
    let f = fixture();
    let parsed = Envelope::parse_text(&f.envelope.to_text()).unwrap();
    assert_eq!(parsed, f.envelope);
    let by_password = parsed.unlock(&Password::from(PASSWORD)).unwrap();
    let by_code = parsed
        .unlock_with_recovery_code(&RecoveryCode::parse(&f.code_text).unwrap())
        .unwrap();
    let m = meta([9; 16], 1, false);
    let sealed = by_password.seal(&m, b"x", &mut OsEntropy).unwrap();
    assert_eq!(by_code.open(&m, &sealed).unwrap(), b"x");
}

#[test]
fn wrong_secrets_are_named() {
    let f = fixture();
    assert_eq!(
        f.envelope.unlock(&Password::from("wrong")).unwrap_err(),
        UnlockError::WrongPassword
    );
    let other = RecoveryCode::generate(&mut OsEntropy).unwrap();
    assert_eq!(
        f.envelope.unlock_with_recovery_code(&other).unwrap_err(),
        UnlockError::WrongRecoveryCode
    );
}

#[test]
fn tampered_wrapped_key_with_right_password_says_tampered() {
    let f = fixture();
    let mut bytes = f.envelope.to_bytes();
    // Password slot: after the 1 + 16 + 1 + 4 + 1 + 16 byte header, 32 check + 12 nonce,
    // then the wrapped root key: flip its last byte (the GCM tag).
    let wrapped_end = 1 + 16 + 1 + 4 + 1 + 16 + 32 + 12 + 48;
    bytes[wrapped_end - 1] ^= 1;
    let envelope = Envelope::parse(&bytes).unwrap();
    assert_eq!(
        envelope.unlock_with_master(&f.master).unwrap_err(),
        UnlockError::Tampered
    );
}

#[test]
fn weak_or_absurd_kdf_parameters_are_refused_before_any_work() {
    let f = fixture();
    let bytes = f.envelope.to_bytes();
    let iter_at = 1 + 16 + 1;
    for (iterations, expected) in [
        (
            99_999u32,
            KdfError::TooWeak {
                iterations: 99_999,
                minimum: MIN_ITERATIONS,
            },
        ),
        (
            1,
            KdfError::TooWeak {
                iterations: 1,
                minimum: MIN_ITERATIONS,
            },
        ),
        (
            u32::MAX,
            KdfError::TooExpensive {
                iterations: u32::MAX,
                maximum: 10_000_000,
            },
        ),
    ] {
        let mut b = bytes.clone();
        b[iter_at..iter_at + 4].copy_from_slice(&iterations.to_be_bytes());
        assert_eq!(Envelope::parse(&b).unwrap_err(), UnlockError::Kdf(expected));
    }
    // A short salt: declare 8 bytes and drop the other 8.
    let mut b = bytes.clone();
    b[iter_at + 4] = 8;
    b.drain(iter_at + 5 + 8..iter_at + 5 + 16);
    assert_eq!(
        Envelope::parse(&b).unwrap_err(),
        UnlockError::Kdf(KdfError::SaltLength {
            len: 8,
            min: 16,
            max: 64
        })
    );
}

#[test]
fn changed_kdf_parameters_fail_to_unlock_with_the_real_password() {
    let f = fixture();
    let mut b = f.envelope.to_bytes();
    let salt_at = 1 + 16 + 1 + 4 + 1;
    b[salt_at] ^= 0xff;
    let envelope = Envelope::parse(&b).unwrap();
    assert_eq!(
        envelope.unlock(&Password::from(PASSWORD)).unwrap_err(),
        UnlockError::WrongPassword
    );
    let mut b = f.envelope.to_bytes();
    let iter_at = 1 + 16 + 1;
    b[iter_at..iter_at + 4].copy_from_slice(&(MIN_ITERATIONS + 1).to_be_bytes());
    let envelope = Envelope::parse(&b).unwrap();
    assert_eq!(
        envelope.unlock(&Password::from(PASSWORD)).unwrap_err(),
        UnlockError::WrongPassword
    );
}

#[test]
fn malformed_envelopes_get_typed_errors() {
    use vaultsync::crypto::FormatError;
    let bytes = fixture().envelope.to_bytes();
    assert_eq!(
        Envelope::parse(&[]).unwrap_err(),
        UnlockError::Format(FormatError::Empty)
    );
    let mut unknown = bytes.clone();
    unknown[0] = 0xE3;
    assert_eq!(
        Envelope::parse(&unknown).unwrap_err(),
        UnlockError::Format(FormatError::UnsupportedFormat { found: 0xE3 })
    );
    assert_eq!(
        Envelope::parse(&bytes[..bytes.len() - 1]).unwrap_err(),
        UnlockError::Format(FormatError::Truncated)
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Envelope::parse(&longer).unwrap_err(),
        UnlockError::Format(FormatError::TrailingBytes)
    );
    assert_eq!(
        Envelope::parse_text("not*base64").unwrap_err(),
        UnlockError::Format(FormatError::Base64)
    );
    // An envelope is not a record and vice versa: the format bytes differ.
    let vault = vault();
    let m = meta([1; 16], 1, false);
    assert!(matches!(
        vault.open(&m, &bytes),
        Err(RecordError::Format(FormatError::UnsupportedFormat {
            found: 0xE1
        }))
    ));
}

#[test]
fn records_from_another_vault_are_refused() {
    let other = UnlockedVault::create(&Password::from(PASSWORD), MIN_ITERATIONS, &mut OsEntropy)
        .unwrap()
        .vault;
    let m = meta([5; 16], 3, false);
    let sealed = other.seal(&m, b"elsewhere", &mut OsEntropy).unwrap();
    // Same key id (1), different vault: a different key and a different vault id.
    assert_eq!(vault().open(&m, &sealed), Err(RecordError::Tampered));
}

#[test]
fn password_change_keeps_records_and_recovery() {
    let f = fixture();
    let mut vault = vault();
    let m = meta([7; 16], 1, false);
    let sealed = vault.seal(&m, b"kept", &mut OsEntropy).unwrap();
    let changed = vault
        .change_password(
            &Password::from("new password"),
            MIN_ITERATIONS,
            &mut OsEntropy,
        )
        .unwrap();
    assert_ne!(changed.kdf_params().salt(), f.envelope.kdf_params().salt());
    assert_eq!(
        changed.unlock(&Password::from(PASSWORD)).unwrap_err(),
        UnlockError::WrongPassword
    );
    let reopened = changed.unlock(&Password::from("new password")).unwrap();
    assert_eq!(reopened.open(&m, &sealed).unwrap(), b"kept");
    let code = RecoveryCode::parse(&f.code_text).unwrap();
    assert_eq!(
        changed
            .unlock_with_recovery_code(&code)
            .unwrap()
            .open(&m, &sealed)
            .unwrap(),
        b"kept"
    );
}

#[test]
fn every_change_writes_the_next_generation_under_the_mac() {
    let f = fixture();
    assert_eq!(f.envelope.generation(), 0);
    assert_eq!(
        f.envelope.to_bytes()[0],
        0xE1,
        "a vault's first envelope stays E1"
    );
    let mut vault = vault();
    let changed = vault
        .change_password(&Password::from("new"), MIN_ITERATIONS, &mut OsEntropy)
        .unwrap();
    let bytes = changed.to_bytes();
    assert_eq!((bytes[0], changed.generation()), (0xE2, 1));
    assert_eq!(&bytes[17..25], &1u64.to_be_bytes());
    assert_eq!(Envelope::parse(&bytes).unwrap(), changed);
    vault.rotate(&mut OsEntropy).unwrap();
    assert_eq!(vault.envelope().generation(), 2);
    // The generation is under the MAC: a lower one no longer unlocks.
    let mut lowered = vault.envelope().to_bytes();
    lowered[24] = 1;
    assert_eq!(
        Envelope::parse(&lowered)
            .unwrap()
            .unlock(&Password::from("new"))
            .unwrap_err(),
        UnlockError::Tampered
    );
    let mut zero = bytes;
    zero[24] = 0;
    assert!(
        Envelope::parse(&zero).is_err(),
        "E2 with generation 0 is malformed"
    );
}

#[test]
fn recovery_sets_a_new_password() {
    let f = fixture();
    let m = meta([8; 16], 4, true);
    let sealed = vault().seal(&m, b"", &mut OsEntropy).unwrap();
    let code = RecoveryCode::parse(&f.code_text.to_lowercase()).unwrap();
    let (vault, envelope) = recover(
        &f.envelope,
        &code,
        &Password::from("after recovery"),
        MIN_ITERATIONS,
        &mut OsEntropy,
    )
    .unwrap();
    assert_eq!(vault.open(&m, &sealed).unwrap(), b"");
    let again = envelope.unlock(&Password::from("after recovery")).unwrap();
    assert_eq!(again.open(&m, &sealed).unwrap(), b"");
}

#[test]
fn rotation_in_steps() {
    let mut vault = vault();
    let m_old = meta([1; 16], 1, false);
    let old = vault.seal(&m_old, b"old", &mut OsEntropy).unwrap();
    assert_eq!(vault.current_key_id(), 1);

    let new_id = vault.rotate(&mut OsEntropy).unwrap();
    assert_eq!(new_id, 2);
    let envelope = vault.envelope().clone();
    assert_eq!(envelope.current_key_id(), 2);

    // Another device unlocks the rotated envelope: both keys, old records readable.
    let other = Envelope::parse(&envelope.to_bytes())
        .unwrap()
        .unlock(&Password::from(PASSWORD))
        .unwrap();
    assert_eq!(other.key_ids(), vec![1, 2]);
    assert_eq!(other.open(&m_old, &old).unwrap(), b"old");
    assert!(other.needs_reseal(&old).unwrap());

    // Re-seal (resumable: one record at a time), then retire the old key.
    let m_new = meta([1; 16], 2, false);
    let resealed = other
        .seal(&m_new, &other.open(&m_old, &old).unwrap(), &mut OsEntropy)
        .unwrap();
    assert!(!other.needs_reseal(&resealed).unwrap());
    assert_eq!(
        vault.retire_key(2, &mut OsEntropy).unwrap_err(),
        KeyringError::CurrentKey
    );
    assert_eq!(
        vault.retire_key(9, &mut OsEntropy).unwrap_err(),
        KeyringError::NoSuchKey { key_id: 9 }
    );
    let retired = vault.retire_key(1, &mut OsEntropy).unwrap();
    let after = retired.unlock(&Password::from(PASSWORD)).unwrap();
    assert_eq!(after.key_ids(), vec![2]);
    assert_eq!(after.open(&m_new, &resealed).unwrap(), b"old");
    assert_eq!(
        after.open(&m_old, &old).unwrap_err(),
        RecordError::UnknownKeyId { key_id: 1 }
    );
}

#[test]
fn moving_a_record_to_another_key_id_is_refused() {
    let mut vault = vault();
    vault.rotate(&mut OsEntropy).unwrap();
    let m = meta([2; 16], 1, false);
    let mut sealed = vault.seal(&m, b"k2", &mut OsEntropy).unwrap();
    sealed[1..5].copy_from_slice(&1u32.to_be_bytes());
    assert_eq!(vault.open(&m, &sealed), Err(RecordError::Tampered));
}

#[test]
fn keyring_is_bounded_and_failures_leave_it_intact() {
    let mut vault = vault();
    for _ in 1..vaultsync::crypto::keyring::MAX_KEYS {
        vault.rotate(&mut OsEntropy).unwrap();
    }
    assert_eq!(
        vault.rotate(&mut OsEntropy).unwrap_err(),
        KeyringError::Full {
            max: vaultsync::crypto::keyring::MAX_KEYS
        }
    );
    let before = vault.envelope().clone();
    assert!(vault.retire_key(1, &mut BrokenEntropy).is_err());
    assert_eq!(vault.key_ids().len(), vaultsync::crypto::keyring::MAX_KEYS);
    assert_eq!(vault.envelope(), &before);
}

#[test]
fn bad_record_input_is_refused() {
    let id = RecordId::from_bytes([0; 16]);
    assert!(RecordMeta::new(id, 0, false).is_err());
    assert!(RecordMeta::new(id, vaultsync::crypto::record::MAX_VERSION + 1, false).is_err());
    let vault = vault();
    let big = vec![0u8; vaultsync::crypto::record::MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        vault.seal(&meta([0; 16], 1, false), &big, &mut OsEntropy),
        Err(RecordError::TooLarge { .. })
    ));
    assert!(matches!(
        vault.open(&meta([0; 16], 1, false), &[0xD1, 0, 0]),
        Err(RecordError::Format(_))
    ));
    // A tombstone's plaintext is empty (FORMAT.md): sealing anything else is refused, and
    // a tombstone that opens to a non-empty plaintext is refused like a forgery.
    assert_eq!(
        vault.seal(&meta([0; 16], 2, true), b"x", &mut OsEntropy),
        Err(RecordError::TombstoneNotEmpty)
    );
    let live = vault
        .seal(&meta([0; 16], 2, false), b"x", &mut OsEntropy)
        .unwrap();
    assert!(vault.open(&meta([0; 16], 2, false), &live).is_ok());
}
