//! The vault head (FORMAT.md, "Vault head"): what a device that writes attests about the
//! whole vault, so that a reader can tell when the server hides, replays or forks records.
//!
//! - A **leaf** per live record: an HMAC over its id, version and the hash of its sealed
//!   bytes. Tombstones are not leaves.
//! - The **set digest**: the XOR of every leaf. It never leaves the device; adding or
//!   removing a record toggles one leaf.
//! - The **head**: vault id, chain, seq, the previous head's tag, the writing device and
//!   the last seq each device wrote; its **tag** is an HMAC over the head and the set
//!   digest. The server stores heads and cannot make one.
//!
//! The order rules (seq never goes back, one tag per seq, the chain links) are the sync
//! engine's; this module owns the bytes and the MACs.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::codec::{Reader, expect_format};
use crate::error::{FormatError, RandomError};
use crate::ids::{ID_LEN, RecordId, VaultId};
use crate::rand::{Entropy, random_array};
use crate::schedule::hmac_sha256;
use crate::secret::{HeadKey, LeafKey};

/// Format byte of a version 1 head.
pub const HEAD_FORMAT_V1: u8 = 0xA1;
/// Length of a device id.
pub const DEVICE_ID_LEN: usize = 16;
/// The most devices a head's vector lists (the lowest seq leaves first).
pub const MAX_DEVICES: usize = 64;
/// Length of a tag, a leaf and a set digest.
pub const TAG_LEN: usize = 32;
/// Length of a vector entry: device id and seq.
const ENTRY_LEN: usize = DEVICE_ID_LEN + 8;
/// Length of the fields before the vector.
const FIXED_LEN: usize = 1 + ID_LEN + 8 + 8 + TAG_LEN + DEVICE_ID_LEN + 1;
/// The longest head: a full vector.
pub const MAX_HEAD_LEN: usize = FIXED_LEN + MAX_DEVICES * ENTRY_LEN + TAG_LEN;

/// A device's random id, chosen the first time it writes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

impl DeviceId {
    /// A fresh random id.
    pub fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        random_array(entropy).map(Self)
    }

    /// The id of these bytes.
    pub fn from_bytes(bytes: [u8; DEVICE_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; DEVICE_ID_LEN] {
        &self.0
    }
}

/// One live record's contribution to the set digest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Leaf([u8; TAG_LEN]);

impl Leaf {
    /// A leaf as stored.
    pub fn from_bytes(bytes: [u8; TAG_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }
}

/// The XOR of the leaves of a set of live records (all zero for none).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SetDigest([u8; TAG_LEN]);

impl SetDigest {
    /// A digest as stored.
    pub fn from_bytes(bytes: [u8; TAG_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }

    /// Adds a leaf that is not in the set, or removes one that is.
    pub fn toggle(&mut self, leaf: &Leaf) {
        for (d, l) in self.0.iter_mut().zip(leaf.0) {
            *d ^= l;
        }
    }
}

/// The two head keys of a vault (from its root key: FORMAT.md, "Key hierarchy").
pub struct HeadKeys {
    leaf: LeafKey,
    head: HeadKey,
}

impl core::fmt::Debug for HeadKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HeadKeys([redacted])")
    }
}

impl HeadKeys {
    pub(crate) fn new(leaf: LeafKey, head: HeadKey) -> Self {
        Self { leaf, head }
    }

    /// `HMAC(leaf key, vault_id || record_id || version || SHA-256(sealed))`.
    pub fn leaf(
        &self,
        vault_id: &VaultId,
        record_id: &RecordId,
        version: u64,
        sealed: &[u8],
    ) -> Leaf {
        let mut input = [0u8; 2 * ID_LEN + 8 + 32];
        input[..ID_LEN].copy_from_slice(vault_id.as_bytes());
        input[ID_LEN..2 * ID_LEN].copy_from_slice(record_id.as_bytes());
        input[2 * ID_LEN..2 * ID_LEN + 8].copy_from_slice(&version.to_be_bytes());
        input[2 * ID_LEN + 8..].copy_from_slice(&Sha256::digest(sealed));
        Leaf(hmac_sha256(self.leaf.expose(), &input))
    }

    /// The head with its tag: `HMAC(head key, head || digest)`.
    pub fn seal(&self, head: Head, digest: &SetDigest) -> SealedHead {
        let tag = self.tag(&head.body(), digest);
        SealedHead { head, tag }
    }

    /// Whether `head`'s tag is the one of `digest` (compared in constant time).
    pub fn verify(&self, head: &SealedHead, digest: &SetDigest) -> bool {
        let tag = self.tag(&head.head.body(), digest);
        bool::from(tag.ct_eq(&head.tag))
    }

    fn tag(&self, body: &[u8], digest: &SetDigest) -> [u8; TAG_LEN] {
        let mut input = Vec::with_capacity(body.len() + TAG_LEN);
        input.extend_from_slice(body);
        input.extend_from_slice(&digest.0);
        hmac_sha256(self.head.expose(), &input)
    }
}

/// The authenticated fields of a head.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Head {
    /// The vault.
    pub vault_id: VaultId,
    /// Which chain: 0 from the vault's first head; a re-seed of a server that lost data
    /// starts the next one.
    pub chain: u64,
    /// 1 for the first head of the vault, one more for every push after (across chains).
    pub seq: u64,
    /// The tag of the head this one follows (zero for the first of a chain).
    pub prev_tag: [u8; TAG_LEN],
    /// The device that wrote this head.
    pub writer: DeviceId,
    /// The last seq each device wrote in this chain, by device id ascending (at most
    /// [`MAX_DEVICES`]; the writer's entry is `seq`).
    pub vector: Vec<(DeviceId, u64)>,
}

impl Head {
    /// The head `writer` writes on top of `prev` (`None`: the vault's first head).
    pub fn after(prev: Option<&SealedHead>, vault_id: VaultId, writer: DeviceId) -> Self {
        let (chain, seq, prev_tag, vector) = match prev {
            Some(p) => (p.head.chain, p.head.seq + 1, p.tag, p.head.vector.clone()),
            None => (0, 1, [0; TAG_LEN], Vec::new()),
        };
        Self::with_entry(vault_id, chain, seq, prev_tag, writer, vector)
    }

    /// The first head of a new chain (a re-seed), on top of the server's head `server`
    /// (its seq continues) and after every chain this device has seen (`seen_chain`).
    pub fn new_chain(
        server: Option<&SealedHead>,
        server_seq: u64,
        seen_chain: u64,
        vault_id: VaultId,
        writer: DeviceId,
    ) -> Self {
        let server_chain = server.map_or(0, |s| s.head.chain);
        let prev_tag = server.map_or([0; TAG_LEN], |s| s.tag);
        let chain = server_chain.max(seen_chain) + 1;
        Self::with_entry(
            vault_id,
            chain,
            server_seq + 1,
            prev_tag,
            writer,
            Vec::new(),
        )
    }

    fn with_entry(
        vault_id: VaultId,
        chain: u64,
        seq: u64,
        prev_tag: [u8; TAG_LEN],
        writer: DeviceId,
        mut vector: Vec<(DeviceId, u64)>,
    ) -> Self {
        match vector.binary_search_by_key(&writer, |e| e.0) {
            Ok(at) => vector[at].1 = seq,
            Err(at) => vector.insert(at, (writer, seq)),
        }
        if vector.len() > MAX_DEVICES {
            // The device that wrote longest ago leaves the vector.
            if let Some(oldest) = (0..vector.len()).min_by_key(|&i| vector[i].1) {
                vector.remove(oldest);
            }
        }
        Self {
            vault_id,
            chain,
            seq,
            prev_tag,
            writer,
            vector,
        }
    }

    /// The last seq `device` wrote in this chain, if the vector lists it.
    pub fn entry(&self, device: &DeviceId) -> Option<u64> {
        self.vector
            .binary_search_by_key(device, |e| e.0)
            .ok()
            .map(|at| self.vector[at].1)
    }

    /// `A1 || vault_id || chain || seq || prev_tag || writer || n || n × (device || seq)`
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.vector.len() * ENTRY_LEN + TAG_LEN);
        out.push(HEAD_FORMAT_V1);
        out.extend_from_slice(self.vault_id.as_bytes());
        out.extend_from_slice(&self.chain.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev_tag);
        out.extend_from_slice(&self.writer.0);
        // At most MAX_DEVICES (64) entries.
        out.push(self.vector.len() as u8);
        for (device, seq) in &self.vector {
            out.extend_from_slice(&device.0);
            out.extend_from_slice(&seq.to_be_bytes());
        }
        out
    }
}

/// A head and its tag, as the server stores it. Parsing checks the layout only: nothing
/// in it is trusted until [`HeadKeys::verify`] accepts it with the reader's own digest.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedHead {
    head: Head,
    tag: [u8; TAG_LEN],
}

impl SealedHead {
    /// Parses the binary form (FORMAT.md): the vector must list the writer at `seq`, with
    /// device ids strictly ascending and no seq above the head's.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes);
        expect_format(&mut r, HEAD_FORMAT_V1)?;
        let vault_id = VaultId::from_bytes(r.array()?);
        let chain = r.u64()?;
        let seq = r.u64()?;
        let prev_tag = r.array()?;
        let writer = DeviceId(r.array()?);
        let count = usize::from(r.u8()?);
        if count == 0 || count > MAX_DEVICES {
            return Err(FormatError::InvalidField { field: "n" });
        }
        let mut vector: Vec<(DeviceId, u64)> = Vec::with_capacity(count);
        for _ in 0..count {
            let device = DeviceId(r.array()?);
            let at = r.u64()?;
            if vector.last().is_some_and(|last| last.0 >= device) || at > seq || at == 0 {
                return Err(FormatError::InvalidField { field: "vector" });
            }
            vector.push((device, at));
        }
        let tag = r.array()?;
        r.finish()?;
        let head = Head {
            vault_id,
            chain,
            seq,
            prev_tag,
            writer,
            vector,
        };
        if seq == 0 || head.entry(&writer) != Some(seq) {
            return Err(FormatError::InvalidField { field: "writer" });
        }
        Ok(Self { head, tag })
    }

    /// The binary form: the head's bytes, then its tag.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.head.body();
        out.extend_from_slice(&self.tag);
        out
    }

    /// The head's fields.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The tag.
    pub fn tag(&self) -> &[u8; TAG_LEN] {
        &self.tag
    }

    /// The vault state code: four words (BIP-39 English list) from
    /// `SHA-256("vaultsync/v1/state-code" || head bytes)`, the first 44 bits read as
    /// four 11-bit indexes. Two devices at the same head show the same words.
    pub fn state_code(&self) -> [&'static str; 4] {
        let mut hash = Sha256::new();
        hash.update(b"vaultsync/v1/state-code");
        hash.update(self.to_bytes());
        let digest = hash.finalize();
        let bits = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], 0, 0,
        ]);
        let index = |i: u32| ((bits >> (53 - 11 * i)) & 0x7FF) as usize;
        [
            crate::words::word(index(0)),
            crate::words::word(index(1)),
            crate::words::word(index(2)),
            crate::words::word(index(3)),
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> HeadKeys {
        HeadKeys::new(LeafKey::from_bytes([1; 32]), HeadKey::from_bytes([2; 32]))
    }

    #[test]
    fn a_head_round_trips_and_its_tag_binds_the_set() {
        let vault = VaultId::from_bytes([3; 16]);
        let keys = keys();
        let mut digest = SetDigest::default();
        let leaf = keys.leaf(&vault, &RecordId::from_bytes([4; 16]), 1, b"sealed");
        digest.toggle(&leaf);
        let first = keys.seal(Head::after(None, vault, DeviceId([5; 16])), &digest);
        let parsed = SealedHead::parse(&first.to_bytes()).unwrap();
        assert_eq!(parsed, first);
        assert!(keys.verify(&parsed, &digest));
        digest.toggle(&leaf);
        assert!(
            !keys.verify(&parsed, &digest),
            "the empty set has another tag"
        );
        let second = Head::after(Some(&first), vault, DeviceId([6; 16]));
        assert_eq!((second.seq, second.prev_tag), (2, first.tag));
        assert_eq!(second.vector.len(), 2);
    }

    #[test]
    fn the_vector_keeps_the_most_recent_writers() {
        let vault = VaultId::from_bytes([3; 16]);
        let keys = keys();
        let mut head = keys.seal(
            Head::after(None, vault, DeviceId([0; 16])),
            &SetDigest::default(),
        );
        for i in 1..=MAX_DEVICES as u8 {
            let next = Head::after(Some(&head), vault, DeviceId([i; 16]));
            head = keys.seal(next, &SetDigest::default());
        }
        assert_eq!(head.head().vector.len(), MAX_DEVICES);
        assert_eq!(
            head.head().entry(&DeviceId([0; 16])),
            None,
            "the oldest left"
        );
        assert_eq!(SealedHead::parse(&head.to_bytes()).unwrap(), head);
        assert!(head.to_bytes().len() <= MAX_HEAD_LEN);
    }

    #[test]
    fn malformed_heads_are_refused() {
        let vault = VaultId::from_bytes([3; 16]);
        let head = keys().seal(
            Head::after(None, vault, DeviceId([5; 16])),
            &SetDigest::default(),
        );
        let bytes = head.to_bytes();
        assert!(SealedHead::parse(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SealedHead::parse(&longer).is_err());
        let mut other_writer = bytes.clone();
        other_writer[65] ^= 1; // the writer is no longer in the vector
        assert!(SealedHead::parse(&other_writer).is_err());
        let mut format = bytes;
        format[0] = 0xA2;
        assert_eq!(
            SealedHead::parse(&format),
            Err(FormatError::UnsupportedFormat { found: 0xA2 })
        );
    }
}
