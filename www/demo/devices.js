// The demo's devices: adding this browser to an account without the password (it shows a
// phrase; a device already logged in approves the request showing the same words), the
// account's devices with revoke, and the requests to join waiting for an approval.
// @ts-check
import { SyncClient } from "/pkg/vaultsync.js";

/** @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);
const element = (tag, props) => Object.assign(document.createElement(tag), props);

/**
 * Asks to join `username`'s account as this browser: shows the phrase, resolves to the
 * client once approved. `say` reports progress.
 */
export async function askToJoin(username, options, say) {
  if (!username) throw new Error("enter the username of the account to join");
  const request = SyncClient.requestLink(location.origin, username, $("link-label").value || "browser", options);
  $("link-phrase").textContent = request.phrase;
  $("link-ask").hidden = false;
  $("link-cancel").onclick = () => request.cancel();
  say("Waiting for another device to approve this one (compare the words)…");
  try {
    return await request.approved();
  } finally {
    $("link-ask").hidden = true;
  }
}

/** Shows the account's devices and pending requests to join, with their buttons. */
export async function showDevices(client, guard, say) {
  const [devices, links] = await Promise.all([client.devices(), client.pendingLinks()]);
  $("links").replaceChildren(
    ...links.map((offer) => {
      const li = element("li", { className: "link-offer" });
      li.dataset.requestId = offer.requestId;
      const approve = element("button", { textContent: "Approve", className: "approve" });
      approve.onclick = guard(async () => {
        await client.approveLink(offer.requestId);
        say(`Approved "${offer.label}": it can open the vault now.`);
        await showDevices(client, guard, say);
      });
      const deny = element("button", { textContent: "Deny", className: "deny" });
      deny.onclick = guard(async () => {
        await client.denyLink(offer.requestId);
        await showDevices(client, guard, say);
      });
      li.append(`"${offer.label}" asks to join. Approve only if it shows: `, element("strong", { textContent: offer.phrase }), " ", approve, deny);
      return li;
    }),
  );
  $("devices").replaceChildren(
    ...devices.map((d) => {
      const li = element("li", { className: d.current ? "device current" : "device" });
      li.dataset.id = String(d.id);
      const seen = d.last_seen_at ? `last seen ${new Date(d.last_seen_at).toLocaleString()}` : "never seen";
      li.append(`${d.label}${d.current ? " (this device)" : ""}, added ${new Date(d.created_at).toLocaleString()}, ${seen} `);
      if (!d.current) {
        const revoke = element("button", { textContent: "Revoke", className: "revoke" });
        revoke.onclick = guard(async () => {
          if (!confirm(`Revoke "${d.label}"? It loses access at once.`)) return;
          await client.revokeDevice(d.id);
          say(`Revoked "${d.label}".`);
          await showDevices(client, guard, say);
        });
        li.append(revoke);
      }
      return li;
    }),
  );
  return links.length;
}
