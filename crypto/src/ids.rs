//! Opaque random identifiers. The types are the wire types ([`vaultsync_wire::VaultId`],
//! [`vaultsync_wire::RecordId`]): one definition for client, server and the bytes bound into
//! every envelope and record. This module adds random generation.

use crate::error::RandomError;
use crate::rand::{Entropy, random_array};

pub use vaultsync_wire::{ID_LEN, IdError, RecordId, VaultId};

/// Fresh random ids: `RecordId::generate(&mut OsEntropy)`.
pub trait GenerateId: Sized {
    /// A fresh random id.
    fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError>;
}

impl GenerateId for VaultId {
    fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        random_array(entropy).map(Self::from_bytes)
    }
}

impl GenerateId for RecordId {
    fn generate(entropy: &mut (impl Entropy + ?Sized)) -> Result<Self, RandomError> {
        random_array(entropy).map(Self::from_bytes)
    }
}
