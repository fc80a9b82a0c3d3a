//! Bounds on KDF parameters, shared by the client (which refuses weaker parameters whatever
//! the server says) and the server (which refuses to store them).

use crate::Kdf;

/// Fewest PBKDF2 iterations accepted.
pub const MIN_ITERATIONS: u32 = 100_000;
/// Iterations of a new vault (OWASP's current figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Most iterations accepted (more would be a denial of service on the client).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Shortest salt accepted, in bytes.
pub const MIN_SALT_LEN: usize = 16;
/// Longest salt accepted, in bytes.
pub const MAX_SALT_LEN: usize = 64;
/// Length of the salt of a new vault, in bytes.
pub const DEFAULT_SALT_LEN: usize = 16;

impl Kdf {
    /// Checks the iteration count and salt length against the bounds above.
    pub fn check_bounds(&self) -> Result<(), String> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(format!(
                "kdf.iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}"
            ));
        }
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&self.salt.len()) {
            return Err(format!(
                "kdf.salt must be {MIN_SALT_LEN} to {MAX_SALT_LEN} bytes"
            ));
        }
        Ok(())
    }
}
