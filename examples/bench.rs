//! Native figures for the benchmark (`www/bench/run.mjs` runs this; prints JSON, ms).
//! `cargo run --release --example bench`
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use vaultsync::crypto::head::SetDigest;
use vaultsync::crypto::kdf::{DEFAULT_ITERATIONS, derive_master};
use vaultsync::crypto::{GenerateId, OsEntropy, Password, RecordId, RecordMeta, UnlockedVault};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn seal_open(vault: &UnlockedVault, count: usize, size: usize) -> f64 {
    let records: Vec<(RecordMeta, Vec<u8>)> = (0..count)
        .map(|i| {
            let meta = RecordMeta::new(
                RecordId::generate(&mut OsEntropy).unwrap(),
                i as u64 + 1,
                false,
            )
            .unwrap();
            let mut plain = vec![0u8; size];
            vaultsync::crypto::Entropy::fill(&mut OsEntropy, &mut plain).unwrap();
            (meta, plain)
        })
        .collect();
    time(5, || {
        let sealed: Vec<Vec<u8>> = records
            .iter()
            .map(|(m, p)| vault.seal(m, p, &mut OsEntropy).unwrap())
            .collect();
        for ((m, _), s) in records.iter().zip(&sealed) {
            std::hint::black_box(vault.open(m, s).unwrap());
        }
    })
}

/// The vault head's work per pulled record (its leaf, folded into the set digest) vs opening
/// the record, for 10,000 x 1 KiB: (leaves ms, opens ms).
fn head_cost(vault: &UnlockedVault) -> (f64, f64) {
    let keys = vault.head_keys();
    let records: Vec<(RecordMeta, Vec<u8>)> = (0..10_000u64)
        .map(|i| {
            let meta =
                RecordMeta::new(RecordId::generate(&mut OsEntropy).unwrap(), i + 1, false).unwrap();
            let sealed = vault.seal(&meta, &[7u8; 1024], &mut OsEntropy).unwrap();
            (meta, sealed)
        })
        .collect();
    let leaves = time(5, || {
        let mut digest = SetDigest::default();
        for (m, s) in &records {
            digest.toggle(&keys.leaf(&vault.vault_id(), &m.record_id(), m.version(), s));
        }
        std::hint::black_box(digest);
    });
    let opens = time(5, || {
        for (m, s) in &records {
            std::hint::black_box(vault.open(m, s).unwrap());
        }
    });
    (leaves, opens)
}

fn main() {
    let password = Password::from("benchmark password");
    let new = UnlockedVault::create(&password, DEFAULT_ITERATIONS, &mut OsEntropy).unwrap();
    let envelope = new.envelope.clone();
    let pbkdf2 = time(5, || {
        std::hint::black_box(derive_master(&password, envelope.kdf_params()));
    });
    let unlock = time(5, || {
        std::hint::black_box(envelope.unlock(&password).unwrap());
    });
    let seal_open_1k = seal_open(&new.vault, 10_000, 1024);
    let seal_open_64k = seal_open(&new.vault, 100, 65536);
    let (leaves1k, opens1k) = head_cost(&new.vault);
    println!(
        "{{\"pbkdf2\":{pbkdf2},\"unlock\":{unlock},\"sealOpen1k\":{seal_open_1k},\"sealOpen64k\":{seal_open_64k},\"headLeaves1k\":{leaves1k},\"open1k\":{opens1k}}}"
    );
}
