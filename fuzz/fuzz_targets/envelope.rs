//! Untrusted envelope bytes (from the server): parsing never panics, accepted envelopes
//! re-serialize to the same bytes, and any mutation of a real envelope is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::kdf::{MIN_ITERATIONS, derive_master};
use vaultsync::crypto::{Envelope, MasterKey, OsEntropy, Password, UnlockedVault};

/// A real envelope and the PBKDF2 output that unlocks it (computed once).
fn fixture() -> &'static (Envelope, MasterKey) {
    static FIXTURE: OnceLock<(Envelope, MasterKey)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pw = Password::from("fuzz");
        let new = UnlockedVault::create(&pw, MIN_ITERATIONS, &mut OsEntropy).expect("create");
        let master = derive_master(&pw, new.envelope.kdf_params());
        (new.envelope, master)
    })
}

fuzz_target!(|data: &[u8]| {
    let (real, master) = fixture();
    if let Ok(envelope) = Envelope::parse(data) {
        assert_eq!(
            envelope.to_bytes(),
            data,
            "parse/serialize is not canonical"
        );
        let _ = envelope.unlock_with_master(master);
    }
    // Flip bytes of the real envelope at positions the input chooses.
    let original = real.to_bytes();
    let mut bytes = original.clone();
    for pair in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % bytes.len();
        bytes[at] ^= pair[2] | 1;
    }
    if bytes != original {
        if let Ok(mutated) = Envelope::parse(&bytes) {
            assert!(
                mutated.unlock_with_master(master).is_err(),
                "a mutated envelope unlocked"
            );
        }
    }
});
