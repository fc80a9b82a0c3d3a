//! The keyring: every vault key of a vault by key id, which one is current, and its
//! plaintext form (written and read here only; the envelope seals it, FORMAT.md).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use zeroize::Zeroizing;

use crate::codec::Reader;
use crate::error::FormatError;
use crate::ids::VaultId;
use crate::secret::{KEY_LEN, VaultKey};

/// Most keys a keyring holds; retire old keys after a rotation completes.
pub const MAX_KEYS: usize = 16;
/// Key id of a new vault's first key.
pub const FIRST_KEY_ID: u32 = 1;
/// Bytes of one keyring entry: key id (u32) and key.
pub const KEYRING_ENTRY_LEN: usize = 4 + KEY_LEN;

/// Every vault key of a vault, with its AES-GCM state ready, and which one is current.
pub(crate) struct Keyring {
    vault_id: VaultId,
    current: u32,
    entries: Vec<(u32, VaultKey, Aes256Gcm)>,
}

impl Keyring {
    /// Drops every key (each is zeroized on drop).
    pub(crate) fn forget(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn new(vault_id: VaultId, current: u32, keys: Vec<(u32, VaultKey)>) -> Self {
        let mut ring = Self {
            vault_id,
            current,
            entries: Vec::with_capacity(keys.len()),
        };
        for (id, key) in keys {
            ring.insert(id, key);
        }
        ring
    }

    /// Parses the plaintext `count (u8) || count x (key_id (u32) || key (32))`: ids
    /// strictly ascending, 1 to [`MAX_KEYS`] entries, `current` among them.
    #[inline(never)]
    pub(crate) fn from_plaintext(
        vault_id: VaultId,
        current: u32,
        plain: &[u8],
    ) -> Result<Self, FormatError> {
        let mut r = Reader::new(plain);
        let count = usize::from(r.u8()?);
        if count == 0 || count > MAX_KEYS || r.remaining() != count * KEYRING_ENTRY_LEN {
            return Err(FormatError::InvalidField { field: "keyring" });
        }
        let mut keys = Vec::with_capacity(count);
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            let id = r.u32()?;
            if previous.is_some_and(|p| p >= id) {
                return Err(FormatError::InvalidField { field: "keyring" });
            }
            previous = Some(id);
            let key = Zeroizing::new(r.array::<KEY_LEN>()?);
            keys.push((id, VaultKey::from_bytes(*key)));
        }
        r.finish()?;
        if !keys.iter().any(|(id, _)| *id == current) {
            return Err(FormatError::InvalidField {
                field: "current_key_id",
            });
        }
        Ok(Self::new(vault_id, current, keys))
    }

    /// The plaintext form that [`Keyring::from_plaintext`] reads.
    pub(crate) fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + self.len() * KEYRING_ENTRY_LEN));
        // The keyring never holds more than MAX_KEYS (16) entries.
        plain.push(self.len() as u8);
        for (id, key, _) in &self.entries {
            plain.extend_from_slice(&id.to_be_bytes());
            plain.extend_from_slice(key.expose());
        }
        plain
    }

    pub(crate) fn vault_id(&self) -> VaultId {
        self.vault_id
    }

    pub(crate) fn current_key_id(&self) -> u32 {
        self.current
    }

    pub(crate) fn set_current(&mut self, id: u32) {
        self.current = id;
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn max_key_id(&self) -> u32 {
        self.entries.iter().map(|e| e.0).max().unwrap_or(0)
    }

    pub(crate) fn key_ids(&self) -> Vec<u32> {
        self.entries.iter().map(|e| e.0).collect()
    }

    pub(crate) fn insert(&mut self, id: u32, key: VaultKey) {
        let cipher = Aes256Gcm::new(key.expose().into());
        let at = self.entries.partition_point(|e| e.0 < id);
        self.entries.insert(at, (id, key, cipher));
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<VaultKey> {
        let at = self.entries.iter().position(|e| e.0 == id)?;
        Some(self.entries.remove(at).1)
    }

    /// The AES-256-GCM state of key `id`.
    pub(crate) fn cipher(&self, id: u32) -> Option<&Aes256Gcm> {
        self.entries.iter().find(|e| e.0 == id).map(|e| &e.2)
    }

    pub(crate) fn key(&self, id: u32) -> Option<&VaultKey> {
        self.entries.iter().find(|e| e.0 == id).map(|e| &e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[u32]) -> Keyring {
        let keys = ids
            .iter()
            .map(|&id| (id, VaultKey::from_bytes([id as u8; KEY_LEN])))
            .collect();
        Keyring::new(VaultId::from_bytes([9; 16]), ids[0], keys)
    }

    #[test]
    fn plaintext_round_trip() {
        let original = ring(&[1, 2, 5]);
        let plain = original.to_plaintext();
        assert_eq!(plain.len(), 1 + 3 * KEYRING_ENTRY_LEN);
        let again = Keyring::from_plaintext(original.vault_id(), 1, &plain).unwrap();
        assert_eq!(again.key_ids(), vec![1, 2, 5]);
        assert_eq!(*again.to_plaintext(), *plain);
    }

    #[test]
    fn malformed_plaintexts_are_refused() {
        let good = ring(&[1, 2]).to_plaintext();
        let vault = VaultId::from_bytes([9; 16]);
        let mut unsorted = good.to_vec();
        unsorted[1..5].copy_from_slice(&3u32.to_be_bytes());
        for (what, bad, current) in [
            ("empty", vec![0u8], 1),
            ("count too high", vec![17u8], 1),
            ("truncated", good[..good.len() - 1].to_vec(), 1),
            ("not ascending", unsorted, 1),
            ("current missing", good.to_vec(), 7),
        ] {
            assert!(
                Keyring::from_plaintext(vault, current, &bad).is_err(),
                "{what}"
            );
        }
    }
}
