//! Where randomness comes from. Production code uses [`OsEntropy`]; tests and the
//! known-answer vectors supply their own deterministic source through the same trait.

use super::error::RandomError;

/// A source of random bytes.
pub trait Entropy {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG (`crypto.getRandomValues` in WASM).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}

/// Returns an array of random bytes.
pub(crate) fn random_array<const N: usize>(
    entropy: &mut impl Entropy,
) -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    entropy.fill(&mut out)?;
    Ok(out)
}
