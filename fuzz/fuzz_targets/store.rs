//! Untrusted device-store bytes (a copied or damaged profile): whatever bytes a value
//! bucket or any entry holds, opening the store and loading values refuse them with a
//! typed error, never panic, and a refused value leaves the record out without touching
//! the rest.
#![no_main]

mod common;

use common::vault;
use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::RecordId;
use vaultsync::sync::store;

fuzz_target!(|data: &[u8]| {
    let vault = vault();
    // A value bucket's items, and each one opened as any record's value.
    if let Ok(items) = store::value_items(data) {
        for (id, bytes) in items {
            let _ = store::open_item(vault, &id, 1, bytes);
        }
    }
    // The same bytes as the metadata, an index bucket and the push in flight.
    let index = vec![
        ("i/00".to_string(), data.to_vec()),
        (store::PUSH.to_string(), data.to_vec()),
    ];
    let _ = store::open(vault, data, index);
    let _ = store::open_item(vault, &RecordId::from_bytes([7; 16]), 3, data);
});
