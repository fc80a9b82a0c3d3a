//! A push in flight: the writes sent (each sealed, with its leaf) and the head and set
//! digest they lead to, kept in the saved state so that a push cut off is resent byte for
//! byte and the server recognises the retry.

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};
use vaultsync_wire::{Blob, PushItem, PushRequest};

use super::key_id_of;
use crate::crypto::head::{HeadKeys, Leaf, SealedHead, SetDigest};
use crate::crypto::rand::Entropy;
use crate::crypto::{RecordId, RecordMeta, UnlockedVault};
use crate::sync::error::SyncError;
use crate::sync::forms::{get_exact, put_exact};
use crate::sync::replica::Synced;

/// A write sent and not yet answered: resent byte for byte until answered, so that the
/// server recognises a retry.
#[derive(Clone, PartialEq)]
pub(crate) struct Sent {
    pub(super) record_id: RecordId,
    pub(super) base_version: u64,
    /// The version it creates (`base_version + 1`, higher in a re-seed).
    pub(super) version: u64,
    pub(super) value: Option<Value>,
    pub(super) ciphertext: Blob,
    pub(super) leaf: Option<Leaf>,
}

impl FromJson for Sent {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        let base_version: u64 = field(o, "base_version")?;
        let leaf: Option<Blob> = field(o, "leaf")?;
        Ok(Self {
            record_id: field(o, "record_id")?,
            base_version,
            version: field::<Option<u64>>(o, "version")?.unwrap_or(base_version + 1),
            value: get_exact(o, "value"),
            ciphertext: field(o, "ciphertext")?,
            leaf: leaf
                .map(|l| l.as_bytes().try_into().map(Leaf::from_bytes))
                .transpose()
                .map_err(|_| JsonError {
                    at: "leaf",
                    expected: "32 bytes",
                })?,
        })
    }
}

impl ToJson for Sent {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "record_id", &self.record_id);
        put(&mut o, "base_version", &self.base_version);
        put(&mut o, "version", &self.version);
        put_exact(&mut o, "value", &self.value);
        put(&mut o, "ciphertext", &self.ciphertext);
        if let Some(leaf) = &self.leaf {
            put(&mut o, "leaf", &Blob(leaf.as_bytes().to_vec()));
        }
        Some(Value::Object(o))
    }
}

/// Most sealed bytes one push carries (unless a single record is larger): 6 MiB, about
/// 8 MiB as base64 in JSON, half the server's default body limit (16 MiB), so that a batch
/// of large records is never refused as too large.
pub const MAX_PUSH_BYTES: usize = 6 << 20;

/// Whether a batch being made holds enough: `max_items` writes, or [`MAX_PUSH_BYTES`].
pub(super) fn batch_full(sent: &[Sent], max_items: usize) -> bool {
    sent.len() >= max_items
        || sent
            .iter()
            .map(|s| s.ciphertext.as_bytes().len())
            .sum::<usize>()
            >= MAX_PUSH_BYTES
}

/// A push sent and not yet answered, with the head and set digest it leads to.
#[derive(Clone, PartialEq)]
pub(crate) struct InFlight {
    pub(super) base_seq: u64,
    pub(super) head: SealedHead,
    pub(super) digest: SetDigest,
    pub(super) sent: Vec<Sent>,
}

impl InFlight {
    /// The head seq the push was made on.
    pub(crate) fn base_seq(&self) -> u64 {
        self.base_seq
    }

    pub(crate) fn sent(&self) -> &[Sent] {
        &self.sent
    }

    pub(super) fn head(&self) -> &SealedHead {
        &self.head
    }

    pub(super) fn digest(&self) -> &SetDigest {
        &self.digest
    }

    pub(super) fn request(&self, envelope_version: u64) -> PushRequest {
        PushRequest {
            envelope_version,
            base_seq: self.base_seq,
            head: Blob(self.head.to_bytes()),
            items: self
                .sent
                .iter()
                .map(|s| PushItem {
                    record_id: s.record_id,
                    base_version: s.base_version,
                    deleted: s.value.is_none(),
                    ciphertext: s.ciphertext.clone(),
                    version: (s.version != s.base_version + 1).then_some(s.version),
                })
                .collect(),
        }
    }
}

impl ToJson for InFlight {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        put(&mut o, "base_seq", &self.base_seq);
        put(&mut o, "head", &Blob(self.head.to_bytes()));
        put(&mut o, "digest", &Blob(self.digest.as_bytes().to_vec()));
        put(&mut o, "sent", &self.sent);
        Some(Value::Object(o))
    }
}

impl FromJson for InFlight {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        let head: Blob = field(o, "head")?;
        let digest: Blob = field(o, "digest")?;
        let bad = |at| JsonError {
            at,
            expected: "the bytes of this field",
        };
        Ok(Self {
            base_seq: field(o, "base_seq")?,
            head: SealedHead::parse(head.as_bytes()).map_err(|_| bad("head"))?,
            digest: digest
                .as_bytes()
                .try_into()
                .map(SetDigest::from_bytes)
                .map_err(|_| bad("digest"))?,
            sent: field(o, "sent")?,
        })
    }
}

impl Sent {
    /// Seals `value` (`None`: a tombstone) as the write of `record_id` from
    /// `base_version` to `version`, with its leaf.
    pub(super) fn seal(
        vault: &UnlockedVault,
        keys: &HeadKeys,
        record_id: RecordId,
        (base_version, version): (u64, u64),
        value: Option<Value>,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<Self, SyncError> {
        let meta = RecordMeta::new(record_id, version, value.is_none())?;
        let plaintext = match &value {
            Some(value) => vaultsync_wire::json::write(value),
            None => Vec::new(),
        };
        let ciphertext = Blob(vault.seal(&meta, &plaintext, entropy)?);
        let leaf = value.is_some().then(|| {
            keys.leaf(
                &vault.vault_id(),
                &record_id,
                version,
                ciphertext.as_bytes(),
            )
        });
        Ok(Self {
            record_id,
            base_version,
            version,
            value,
            ciphertext,
            leaf,
        })
    }

    /// The record written.
    pub(super) fn record_id(&self) -> RecordId {
        self.record_id
    }

    /// Its leaf (`None` for a tombstone).
    pub(super) fn leaf(&self) -> Option<&Leaf> {
        self.leaf.as_ref()
    }

    /// The server's copy once it landed.
    pub(super) fn synced(&self) -> Synced {
        let mut synced = Synced::new(self.version, self.value.clone(), self.key_id(), self.leaf);
        if self.value.is_some() {
            synced.sealed = Some(self.ciphertext.as_bytes().to_vec());
        }
        synced
    }

    /// The key id the write is sealed under.
    pub(crate) fn key_id(&self) -> u32 {
        key_id_of(self.ciphertext.as_bytes())
    }
}
