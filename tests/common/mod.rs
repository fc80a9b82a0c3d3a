//! Helpers shared by the native integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;

use vaultsync::crypto::{Entropy, RandomError};

/// Hands out fixed byte strings in order; each `fill` must ask for exactly the next one's
/// length. Used to reproduce known-answer vectors.
pub struct QueueEntropy(pub VecDeque<Vec<u8>>);

impl QueueEntropy {
    pub fn new(values: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self(values.into_iter().collect())
    }
}

impl Entropy for QueueEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        let next = self.0.pop_front().expect("QueueEntropy ran out of values");
        assert_eq!(
            next.len(),
            buf.len(),
            "QueueEntropy value has the wrong length"
        );
        buf.copy_from_slice(&next);
        Ok(())
    }
}

/// A deterministic but unpredictable-looking source for property tests (xorshift).
pub struct TestEntropy(pub u64);

impl Entropy for TestEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
        Ok(())
    }
}

/// An entropy source that always fails, to check failures leave nothing half-done.
pub struct BrokenEntropy;

impl Entropy for BrokenEntropy {
    fn fill(&mut self, _buf: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}
