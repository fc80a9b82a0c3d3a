//! Recovery codes: 160 random bits, shown once as 8 groups of 4 Crockford base32 characters.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{RandomError, UnlockError};
use crate::rand::Entropy;
use crate::schedule::recovery_auth_key;
use crate::secret::AuthKey;

/// Bytes of entropy in a recovery code.
pub const RECOVERY_CODE_LEN: usize = 20;
/// Symbols in a recovery code (5 bits each).
const SYMBOLS: usize = RECOVERY_CODE_LEN * 8 / 5;
/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery code. Its text form is shown to the user once, at vault creation.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode([u8; RECOVERY_CODE_LEN]);

impl RecoveryCode {
    /// A fresh random code.
    pub fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        let mut bytes = [0u8; RECOVERY_CODE_LEN];
        entropy.fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Parses what a user typed: case-insensitive, `-` and spaces ignored, and Crockford's
    /// aliases accepted (`O` is `0`, `I` and `L` are `1`).
    pub fn parse(text: &str) -> Result<Self, UnlockError> {
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut out = [0u8; RECOVERY_CODE_LEN];
        let mut filled = 0usize;
        let mut symbols = 0usize;
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let value = symbol_value(c).ok_or(UnlockError::MalformedRecoveryCode)?;
            symbols += 1;
            if symbols > SYMBOLS {
                return Err(UnlockError::MalformedRecoveryCode);
            }
            bits = (bits << 5) | u64::from(value);
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out[filled] = (bits >> nbits) as u8;
                filled += 1;
                bits &= (1 << nbits) - 1;
            }
        }
        bits.zeroize();
        if symbols != SYMBOLS {
            out.zeroize();
            return Err(UnlockError::MalformedRecoveryCode);
        }
        Ok(Self(out))
    }

    /// The text form: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(SYMBOLS + SYMBOLS / 4));
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut written = 0usize;
        for &byte in &self.0 {
            bits = (bits << 8) | u64::from(byte);
            nbits += 8;
            while nbits >= 5 {
                nbits -= 5;
                if written > 0 && written % 4 == 0 {
                    text.push('-');
                }
                text.push(char::from(ALPHABET[((bits >> nbits) & 31) as usize]));
                written += 1;
            }
        }
        bits.zeroize();
        text
    }

    /// The recovery auth key, `HKDF(code, -, "vaultsync/v1/recovery-auth")`: sent to the
    /// server at registration (which stores only its SHA-256) and by a recovery login
    /// (`POST /v1/recover`). One-way: it reveals nothing of the recovery slot's keys.
    pub fn auth_key(&self) -> AuthKey {
        recovery_auth_key(&self.0)
    }

    /// Another copy (zeroized on drop too), for an operation that takes the code while
    /// the caller keeps its own.
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }

    pub(crate) fn expose(&self) -> &[u8; RECOVERY_CODE_LEN] {
        &self.0
    }
}

fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .map(|p| p as u8)
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn text_round_trip(bytes in proptest::array::uniform20(any::<u8>())) {
            let code = RecoveryCode(bytes);
            let text = code.to_text();
            prop_assert_eq!(text.len(), 39);
            prop_assert_eq!(RecoveryCode::parse(&text).map(|c| c.0).ok(), Some(bytes));
            let sloppy = text.to_lowercase().replace('-', " ").replace('0', "o").replace('1', "l");
            prop_assert_eq!(RecoveryCode::parse(&sloppy).map(|c| c.0).ok(), Some(bytes));
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        let good = RecoveryCode([0x5a; RECOVERY_CODE_LEN]).to_text();
        for bad in [
            String::new(),
            good[..good.len() - 1].to_string(),
            format!("{}A", good.as_str()),
            good.replace('-', "U"),
            format!("{}!", &good[..good.len() - 1]),
        ] {
            assert_eq!(
                RecoveryCode::parse(&bad).err(),
                Some(UnlockError::MalformedRecoveryCode),
                "{bad}"
            );
        }
    }
}
