//! The link grant (`0x4C`): what an approving device seals to a new one, its `info` and
//! `aad`, and the link phrase (FORMAT.md, "Device linking").

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{
    DeviceKeyPair, HpkeError, KEY_LEN, LINK_INFO, PHRASE_SALT, PHRASE_WORDS, REQUEST_ID_LEN,
    SealError, open, seal_with,
};
use crate::error::FormatError;
use crate::ids::VaultId;
use crate::rand::Entropy;
use crate::secret::RootKey;

/// The `info` of a link payload: `"vaultsync/v1/link"` ‖ vault id ‖ request id.
pub fn link_info(vault: &VaultId, request_id: &[u8; REQUEST_ID_LEN]) -> Vec<u8> {
    let mut info = LINK_INFO.to_vec();
    info.extend_from_slice(vault.as_bytes());
    info.extend_from_slice(request_id);
    info
}

/// The link phrase: six words (66 bits) of the BIP-39 list from HKDF-SHA256 over the new
/// device's public key (salt `"vaultsync/v1/link-phrase"`, info the request id). Both
/// devices compute it from what they hold; a server that put its own key in the request
/// must find a key pair whose phrase matches the new device's: about 2^66 X25519 key
/// generations (FORMAT.md, "Device linking").
pub fn link_phrase(
    public: &[u8; KEY_LEN],
    request_id: &[u8; REQUEST_ID_LEN],
) -> [&'static str; PHRASE_WORDS] {
    let mut bits = [0u8; 9];
    // 9 bytes are far below HKDF-SHA256's limit: this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(PHRASE_SALT), public).expand(request_id, &mut bits);
    let value = bits
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    core::array::from_fn(|i| crate::words::word(((value >> (61 - 11 * i)) & 0x7FF) as usize))
}

/// Format byte of a link payload's plaintext.
pub const LINK_FORMAT_V1: u8 = 0x4C;
/// Label that starts a link payload's associated data.
const LINK_AAD: &[u8] = b"vaultsync/v1/link-aad";
/// The largest sealed head a payload carries (the wire's limit on heads).
const MAX_HEAD: usize = 1650;

/// The associated data of a link payload: `"vaultsync/v1/link-aad"` ‖ request id ‖ the new
/// device's public key ‖ its label (UTF-8): the request as the approving device saw it.
pub fn link_aad(request_id: &[u8; REQUEST_ID_LEN], public: &[u8; KEY_LEN], label: &str) -> Vec<u8> {
    let mut aad = LINK_AAD.to_vec();
    aad.extend_from_slice(request_id);
    aad.extend_from_slice(public);
    aad.extend_from_slice(label.as_bytes());
    aad
}

/// What an approving device hands a new one: enough to unlock the vault without the
/// password, and what to trust (FORMAT.md, "Device linking").
pub struct LinkGrant {
    /// The vault's root key.
    pub root: RootKey,
    /// The envelope version the server had (the new device refuses an older one).
    pub envelope_version: u64,
    /// The envelope's generation (refused below it).
    pub generation: u64,
    /// The envelope's PBKDF2 iterations (refused below them).
    pub iterations: u32,
    /// The last vault head the approving device verified (its sealed bytes), if any: the
    /// new device's trust anchor.
    pub head: Option<Vec<u8>>,
}

impl core::fmt::Debug for LinkGrant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkGrant")
            .field("envelope_version", &self.envelope_version)
            .field("generation", &self.generation)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl LinkGrant {
    /// The plaintext: `0x4C` ‖ root key (32) ‖ envelope version (u64) ‖ generation (u64) ‖
    /// iterations (u32) ‖ head length (u16) ‖ sealed head (all big-endian).
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let head = self.head.as_deref().unwrap_or_default();
        let mut out = Zeroizing::new(Vec::with_capacity(55 + head.len()));
        out.push(LINK_FORMAT_V1);
        out.extend_from_slice(self.root.expose());
        out.extend_from_slice(&self.envelope_version.to_be_bytes());
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.extend_from_slice(&(head.len() as u16).to_be_bytes());
        out.extend_from_slice(head);
        out
    }

    fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = crate::codec::Reader::new(bytes);
        crate::codec::expect_format(&mut r, LINK_FORMAT_V1)?;
        let root = RootKey::from_bytes(r.array()?);
        let envelope_version = r.u64()?;
        let generation = r.u64()?;
        let iterations = r.u32()?;
        let len = usize::from(r.u16()?);
        if len > MAX_HEAD {
            return Err(FormatError::InvalidField { field: "head" });
        }
        let head = r.take(len)?.to_vec();
        r.finish()?;
        Ok(Self {
            root,
            envelope_version,
            generation,
            iterations,
            head: (!head.is_empty()).then_some(head),
        })
    }

    /// Seals this grant to the new device's key for `vault` and the request: `(enc,
    /// payload)`.
    pub fn seal(
        &self,
        vault: &VaultId,
        request_id: &[u8; REQUEST_ID_LEN],
        recipient: &[u8; KEY_LEN],
        label: &str,
        entropy: &mut (impl Entropy + ?Sized),
    ) -> Result<([u8; KEY_LEN], Vec<u8>), SealError> {
        let ephemeral = DeviceKeyPair::generate(entropy).map_err(SealError::Random)?;
        self.seal_with(&ephemeral, vault, request_id, recipient, label)
            .map_err(SealError::Hpke)
    }

    /// [`LinkGrant::seal`] with a given ephemeral key (the vectors).
    pub fn seal_with(
        &self,
        ephemeral: &DeviceKeyPair,
        vault: &VaultId,
        request_id: &[u8; REQUEST_ID_LEN],
        recipient: &[u8; KEY_LEN],
        label: &str,
    ) -> Result<([u8; KEY_LEN], Vec<u8>), HpkeError> {
        let info = link_info(vault, request_id);
        let aad = link_aad(request_id, recipient, label);
        seal_with(ephemeral, recipient, &info, &aad, &self.to_bytes())
    }

    /// Opens a payload sealed to `device` for `vault` and the request it made with
    /// `label`. Anything else (another key, vault, request or label; a modified payload)
    /// does not open.
    pub fn open(
        device: &DeviceKeyPair,
        vault: &VaultId,
        request_id: &[u8; REQUEST_ID_LEN],
        label: &str,
        enc: &[u8; KEY_LEN],
        payload: &[u8],
    ) -> Result<Self, LinkError> {
        let info = link_info(vault, request_id);
        let aad = link_aad(request_id, device.public(), label);
        let plain = open(device, enc, &info, &aad, payload).map_err(LinkError::Hpke)?;
        Self::parse(&plain).map_err(LinkError::Format)
    }
}

impl crate::vault::UnlockedVault {
    /// The grant an approving device seals to a new one: this vault's root key, the
    /// envelope version the server has, the envelope's generation and iterations, and the
    /// last verified head.
    pub fn link_grant(&self, envelope_version: u64, head: Option<Vec<u8>>) -> LinkGrant {
        LinkGrant {
            root: RootKey::from_bytes(*self.root_key().expose()),
            envelope_version,
            generation: self.envelope().generation(),
            iterations: self.envelope().kdf_params().iterations(),
            head,
        }
    }
}

impl crate::envelope::Envelope {
    /// Unlocks with a link grant's root key (no PBKDF2). The caller checks the grant's pins
    /// (version, generation, iterations) against this envelope first.
    pub fn unlock_with_grant(
        &self,
        grant: &LinkGrant,
    ) -> Result<crate::vault::UnlockedVault, crate::error::UnlockError> {
        let root = RootKey::from_bytes(*grant.root.expose());
        crate::vault::UnlockedVault::from_root(self.clone(), root)
    }
}

/// Why a link payload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// It does not open (`TAMPERED`).
    Hpke(HpkeError),
    /// It opens but does not parse: only a holder of the key could write it.
    Format(FormatError),
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Hpke(e) => e.fmt(f),
            Self::Format(e) => write!(f, "the link payload does not parse: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}
