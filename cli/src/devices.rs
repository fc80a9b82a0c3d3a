//! `vaultsync link`, `links`, `approve`, `deny`, `devices`, `revoke-device`: the account's
//! devices, and adding one without the password (PROTOCOL.md, "Devices and linking").

use std::path::Path;
use std::time::Duration;

use vaultsync::client::{Client, Options};
use vaultsync::crypto::{from_base64url, to_base64url};

use super::{Failure, fail, keep};

/// The new device: asks, prints the phrase, waits for an approval, then keeps the store.
pub fn link(
    path: &Path,
    server: &str,
    username: &str,
    label: &str,
    options: &Options,
) -> Result<(), Failure> {
    let asking = Client::request_link(server, username, label, options)?;
    eprintln!(
        "asked to join {username}'s account as {label:?}. On a device already logged in, run \
         `vaultsync links` and approve only if it shows this phrase:"
    );
    println!("{}", asking.phrase());
    eprintln!("waiting up to 15 minutes for an approval…");
    let mut client = asking.wait(Duration::from_secs(15 * 60))?;
    keep(path, &mut client)?;
    client.sync()?;
    eprintln!(
        "linked: {} records; store in {} (later commands unlock it with the account's \
         password, as on any device)",
        client.engine().records().count(),
        path.display()
    );
    Ok(())
}

/// Pending requests, a JSON line each, with their phrases.
pub fn links(client: &Client) -> Result<(), Failure> {
    for offer in client.pending_links()? {
        let line = serde_json::json!({
            "request_id": to_base64url(&offer.request_id),
            "label": offer.label,
            "phrase": offer.phrase,
            "expires_at": offer.expires_at,
        });
        println!("{line}");
    }
    Ok(())
}

/// Approves a request, only if `phrase` (what the new device shows) is its phrase.
pub fn approve(client: &Client, request_id: &str, phrase: &str) -> Result<(), Failure> {
    let offer = client
        .pending_links()?
        .into_iter()
        .find(|o| to_base64url(&o.request_id) == request_id)
        .ok_or_else(|| {
            Failure(format!(
                "no pending request {request_id}: see `vaultsync links`"
            ))
        })?;
    let typed = phrase
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if typed != offer.phrase {
        return fail(
            "the phrase differs from this request's: do not approve it (someone else's key may \
             be in the request); ask again on the new device",
        );
    }
    client.approve_link(&offer)?;
    eprintln!(
        "approved {:?}: the new device can now open the vault",
        offer.label
    );
    Ok(())
}

/// Denies a request.
pub fn deny(client: &Client, request_id: &str) -> Result<(), Failure> {
    let id: [u8; 16] = from_base64url(request_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Failure("a request id is 16 bytes of base64url".into()))?;
    client.deny_link(&id)?;
    Ok(())
}

/// The account's devices, a JSON line each.
pub fn devices(client: &Client) -> Result<(), Failure> {
    for device in client.devices()? {
        println!("{}", vaultsync_wire::json::to_string(&device));
    }
    Ok(())
}
