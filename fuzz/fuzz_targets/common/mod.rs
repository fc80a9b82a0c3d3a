//! What several fuzz targets share: one unlocked vault (a PBKDF2 once per process).

use std::sync::OnceLock;

use vaultsync::crypto::kdf::MIN_ITERATIONS;
use vaultsync::crypto::{OsEntropy, Password, UnlockedVault};

/// A vault created once, with the password "fuzz".
pub fn vault() -> &'static UnlockedVault {
    static VAULT: OnceLock<UnlockedVault> = OnceLock::new();
    VAULT.get_or_init(|| {
        UnlockedVault::create(&Password::from("fuzz"), MIN_ITERATIONS, &mut OsEntropy)
            .expect("create")
            .vault
    })
}
