//! Untrusted sealed records (from the server): parsing and opening never panic, and any
//! mutation of a real sealed record is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::kdf::MIN_ITERATIONS;
use vaultsync::crypto::record::SealedRecord;
use vaultsync::crypto::{OsEntropy, Password, RecordId, RecordMeta, UnlockedVault};

fn fixture() -> &'static (UnlockedVault, RecordMeta, Vec<u8>) {
    static FIXTURE: OnceLock<(UnlockedVault, RecordMeta, Vec<u8>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pw = Password::from("fuzz");
        let vault = UnlockedVault::create(&pw, MIN_ITERATIONS, &mut OsEntropy)
            .expect("create")
            .vault;
        let meta = RecordMeta::new(RecordId::from_bytes([7; 16]), 3, false).expect("meta");
        let sealed = vault
            .seal(&meta, b"{\"fuzz\":true}", &mut OsEntropy)
            .expect("seal");
        (vault, meta, sealed)
    })
}

fuzz_target!(|data: &[u8]| {
    let (vault, meta, sealed) = fixture();
    let _ = SealedRecord::parse(data);
    let _ = vault.open(meta, data);
    let mut bytes = sealed.clone();
    for pair in data.chunks_exact(2) {
        let at = usize::from(pair[0]) % bytes.len();
        bytes[at] ^= pair[1] | 1;
    }
    if &bytes != sealed {
        assert!(vault.open(meta, &bytes).is_err(), "a mutated record opened");
    }
});
