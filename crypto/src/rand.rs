//! Where randomness comes from. Production code uses [`OsEntropy`]; tests and the
//! known-answer vectors supply their own deterministic source through the same trait.

use crate::error::RandomError;

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
    entropy: &mut (impl Entropy + ?Sized),
) -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    entropy.fill(&mut out)?;
    Ok(out)
}

/// Size of one refill of an [`EntropyPool`].
const POOL_LEN: usize = 4096;

/// OS randomness drawn 4 KiB at a time and handed out in pieces; every byte handed out is
/// wiped from the pool. For the many small public random values of hot paths (record
/// nonces, record ids), where one OS call per value would dominate (in WASM each is a call
/// into JS `crypto.getRandomValues`).
pub struct EntropyPool {
    buf: zeroize::Zeroizing<Vec<u8>>,
    used: usize,
}

impl Default for EntropyPool {
    fn default() -> Self {
        Self {
            buf: zeroize::Zeroizing::new(vec![0u8; POOL_LEN]),
            used: POOL_LEN,
        }
    }
}

impl core::fmt::Debug for EntropyPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EntropyPool([redacted])")
    }
}

impl Entropy for EntropyPool {
    fn fill(&mut self, mut out: &mut [u8]) -> Result<(), RandomError> {
        while !out.is_empty() {
            if self.used == POOL_LEN {
                getrandom::fill(&mut self.buf[..]).map_err(|_| RandomError)?;
                self.used = 0;
            }
            let n = out.len().min(POOL_LEN - self.used);
            let (head, tail) = out.split_at_mut(n);
            let src = &mut self.buf[self.used..self.used + n];
            head.copy_from_slice(src);
            zeroize::Zeroize::zeroize(src);
            self.used += n;
            out = tail;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_hands_out_fresh_bytes_across_refills() {
        let mut pool = EntropyPool::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut nonce = [0u8; 12];
            pool.fill(&mut nonce).unwrap();
            assert!(seen.insert(nonce), "a nonce repeated");
        }
        let mut big = vec![0u8; 3 * POOL_LEN + 5];
        pool.fill(&mut big).unwrap();
        assert!(big.windows(16).all(|w| w != [0u8; 16]));
    }
}
