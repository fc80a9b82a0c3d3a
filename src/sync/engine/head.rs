//! The engine's side of the vault head (FORMAT.md and PROTOCOL.md, "Vault head"): the
//! set digest of the records this device holds as the server's, the head it last verified
//! or wrote (pinned), and the rules a newer head must meet.

use serde_json::{Map, Value};
use vaultsync_wire::json::{FromJson, JsonError, ToJson, field, object, put};
use vaultsync_wire::{Blob, HeadDoc};

use super::Engine;
use crate::crypto::UnlockedVault;
use crate::crypto::head::{DeviceId, Leaf, MAX_DEVICES, SealedHead, SetDigest};
use crate::sync::error::SyncError;

/// What this device knows of the vault head.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct HeadState {
    /// This device's id in heads, chosen at its first push.
    pub(crate) device: Option<DeviceId>,
    /// The XOR of the leaves of the live records of the synced base.
    pub(crate) digest: SetDigest,
    /// The last head this device verified or wrote (`None`: none yet, trust on first use).
    pub(crate) pinned: Option<SealedHead>,
    /// The last seq this device wrote.
    pub(crate) my_seq: u64,
    /// The server answered with an older state than this device saw (`SERVER_BEHIND`, or
    /// an older head): a re-seed from this device is offered.
    pub(crate) server_behind: bool,
}

impl ToJson for HeadState {
    fn to_json(&self) -> Option<Value> {
        let mut o = Map::new();
        if let Some(device) = &self.device {
            put(&mut o, "device", &Blob(device.as_bytes().to_vec()));
        }
        put(&mut o, "digest", &Blob(self.digest.as_bytes().to_vec()));
        if let Some(pinned) = &self.pinned {
            put(&mut o, "pinned", &Blob(pinned.to_bytes()));
        }
        put(&mut o, "my_seq", &self.my_seq);
        put(&mut o, "server_behind", &self.server_behind);
        Some(Value::Object(o))
    }
}

impl FromJson for HeadState {
    fn from_json(value: &Value, at: &'static str) -> Result<Self, JsonError> {
        let o = object(value, at)?;
        let bad = |at| JsonError {
            at,
            expected: "the bytes of this field",
        };
        let device: Option<Blob> = field(o, "device")?;
        let digest: Blob = field(o, "digest")?;
        let pinned: Option<Blob> = field(o, "pinned")?;
        Ok(Self {
            device: device
                .map(|d| d.as_bytes().try_into().map(DeviceId::from_bytes))
                .transpose()
                .map_err(|_| bad("device"))?,
            digest: digest
                .as_bytes()
                .try_into()
                .map(SetDigest::from_bytes)
                .map_err(|_| bad("digest"))?,
            pinned: pinned
                .map(|p| SealedHead::parse(p.as_bytes()))
                .transpose()
                .map_err(|_| bad("pinned"))?,
            my_seq: field(o, "my_seq")?,
            server_behind: field(o, "server_behind")?,
        })
    }
}

/// How a head whose tag verified stands to the pinned one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// The pinned head itself, or a later one of its chain.
    Forward,
    /// The first head of a later chain: another device re-seeded the server.
    NewChain,
}

/// The rules of PROTOCOL.md ("Reading a head"): within a chain, seq never goes back
/// (`ROLLBACK`), one seq has one tag and seq + 1 names the pinned tag as its previous
/// (`FORK`), and no device's last write goes back, this device's own included (`FORK`:
/// the server showed someone a history without it). An earlier chain is a `ROLLBACK`.
pub(crate) fn order(
    pinned: Option<&SealedHead>,
    new: &SealedHead,
    me: Option<(DeviceId, u64)>,
) -> Result<Order, SyncError> {
    let Some(pinned) = pinned else {
        return Ok(Order::Forward);
    };
    let (p, n) = (pinned.head(), new.head());
    if n.chain != p.chain {
        return if n.chain > p.chain {
            Ok(Order::NewChain)
        } else {
            Err(SyncError::HeadRollback {
                seen: p.seq,
                got: n.seq,
            })
        };
    }
    if n.seq < p.seq {
        return Err(SyncError::HeadRollback {
            seen: p.seq,
            got: n.seq,
        });
    }
    if n.seq == p.seq && new != pinned {
        return Err(SyncError::Fork {
            reason: "two heads with the same seq",
        });
    }
    if n.seq == p.seq + 1 && n.prev_tag != *pinned.tag() {
        return Err(SyncError::Fork {
            reason: "the next head does not follow the pinned one",
        });
    }
    let full = n.vector.len() == MAX_DEVICES;
    let oldest = n.vector.iter().map(|e| e.1).min().unwrap_or(0);
    let kept = |device: &DeviceId, seq: u64| match n.entry(device) {
        Some(at) => at >= seq,
        // Left the vector: only because every listed device wrote after it.
        None => full && oldest > seq,
    };
    if !p.vector.iter().all(|(device, seq)| kept(device, *seq)) {
        return Err(SyncError::Fork {
            reason: "a device's last write is missing from the newer head",
        });
    }
    if let Some((device, seq)) = me {
        if seq > 0 && !kept(&device, seq) {
            return Err(SyncError::Fork {
                reason: "this device's last write is missing from the head",
            });
        }
    }
    Ok(Order::Forward)
}

/// Parses a head the server sent for this vault (`TAMPERED` if it does not parse, names
/// another vault or another seq than the server's).
pub(crate) fn parse_head(doc: &HeadDoc, engine: &Engine) -> Result<SealedHead, SyncError> {
    let head = SealedHead::parse(doc.head.as_bytes()).map_err(|_| SyncError::HeadTampered)?;
    if head.head().vault_id != engine.vault_id || head.head().seq != doc.seq {
        return Err(SyncError::HeadTampered);
    }
    Ok(head)
}

impl Engine {
    /// The head seq a push is made on: the pinned head's (0 before the first).
    /// Pins a head another device verified (a link grant's) as this fresh replica's trust
    /// anchor: its first pull must show that head or a later one on its chain (`ROLLBACK`,
    /// `FORK` otherwise), where a login would trust the first head it sees.
    pub fn adopt_anchor(&mut self, head: &[u8]) -> Result<(), SyncError> {
        let head = SealedHead::parse(head).map_err(|_| SyncError::HeadTampered)?;
        if head.head().vault_id != self.vault_id || self.head.pinned.is_some() {
            return Err(SyncError::HeadTampered);
        }
        self.head.pinned = Some(head);
        Ok(())
    }

    /// The last vault head this device verified or wrote, as the server stores it (what
    /// a link grant hands a new device as its trust anchor).
    pub fn pinned_head_bytes(&self) -> Option<Vec<u8>> {
        self.head.pinned.as_ref().map(|head| head.to_bytes())
    }

    pub(crate) fn head_seq(&self) -> u64 {
        self.head.pinned.as_ref().map_or(0, |h| h.head().seq)
    }

    /// The vault state code of the last verified head: its seq and four words, the same
    /// on every device at that head (`None` before the first head).
    pub fn state_code(&self) -> Option<(u64, [&'static str; 4])> {
        let head = self.head.pinned.as_ref()?;
        Some((head.head().seq, head.state_code()))
    }

    /// The server answered with an older state than this device saw (`SERVER_BEHIND`, or
    /// an older head): `reseed` re-uploads this device's records.
    pub fn server_behind(&self) -> bool {
        self.head.server_behind
    }

    /// The server answered `SERVER_BEHIND` (this device's cursor is ahead of every change
    /// it has). True when its head starts a later chain than the pinned one (another device
    /// re-seeded it): the next pull is a full one that keeps every local record. False when
    /// the server lost or hides data: nothing changes, and a re-seed is offered.
    pub fn server_behind_answer(&mut self, head: Option<&HeadDoc>) -> bool {
        let server = head.and_then(|doc| parse_head(doc, self).ok());
        let pinned = self.head.pinned.as_ref().map(|p| p.head().chain);
        let reseeded = matches!((server, pinned), (Some(s), Some(p)) if s.head().chain > p);
        if reseeded {
            self.pull = Some(self.new_pull(None, true));
        } else {
            self.head.server_behind = true;
        }
        reseeded
    }

    /// Whether the synced base and the pinned head agree: the set digest is the XOR of
    /// the base's leaves, and the pinned head's tag verifies with it. Always true between
    /// operations (tests check it after every step); false only for a state saved before
    /// heads, until its next sync.
    pub fn head_verifies(&self, vault: &UnlockedVault) -> bool {
        let mut digest = SetDigest::default();
        for replica in self.records.values() {
            if let Some(synced) = &replica.synced {
                match (synced.is_live(), &synced.leaf) {
                    (true, None) => return false,
                    (_, leaf) => toggle(&mut digest, leaf.as_ref()),
                }
            }
        }
        digest == self.head.digest
            && self
                .head
                .pinned
                .as_ref()
                .is_none_or(|head| vault.head_keys().verify(head, &digest))
    }

    /// This device and the last seq it wrote, for [`order`].
    pub(crate) fn me(&self) -> Option<(DeviceId, u64)> {
        self.head.device.map(|d| (d, self.head.my_seq))
    }

    /// Takes a verified head as the pinned one.
    pub(crate) fn pin_head(&mut self, head: SealedHead, digest: SetDigest) {
        let same_chain = self
            .head
            .pinned
            .as_ref()
            .is_some_and(|p| p.head().chain == head.head().chain);
        let mine = self
            .head
            .device
            .and_then(|device| head.head().entry(&device))
            .unwrap_or(0);
        // Seqs of this device's writes are compared within one chain.
        self.head.my_seq = if same_chain {
            self.head.my_seq.max(mine)
        } else {
            mine
        };
        self.head.pinned = Some(head);
        self.head.digest = digest;
        self.head.server_behind = false;
    }

    /// Whether every live synced record has its leaf (a state saved before heads does not:
    /// the next sync pulls everything again to learn them, deleting nothing).
    pub(crate) fn leaves_known(&self) -> bool {
        self.records.values().all(|r| {
            r.synced
                .as_ref()
                .is_none_or(|s| !s.is_live() || s.leaf.is_some())
        })
    }
}

/// Toggles an optional leaf into a digest.
pub(crate) fn toggle(digest: &mut SetDigest, leaf: Option<&Leaf>) {
    if let Some(leaf) = leaf {
        digest.toggle(leaf);
    }
}
