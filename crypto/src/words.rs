//! The 2048 words of the BIP-39 English list (`words/bip39-english.txt`, taken unchanged
//! from bitcoin/bips, `bip-0039/english.txt`, MIT licence): short, distinct in their first
//! four letters, and familiar from wallets. Used where a person compares codes: the vault
//! state code.

const WORDS: &str = include_str!("words/bip39-english.txt");

/// The word at `index` (0..2048; higher bits are ignored).
pub fn word(index: usize) -> &'static str {
    WORDS.lines().nth(index & 0x7FF).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_2048_distinct_words() {
        let words: std::collections::BTreeSet<_> = WORDS.lines().collect();
        assert_eq!(words.len(), 2048);
        assert_eq!((word(0), word(2047)), ("abandon", "zoo"));
    }
}
