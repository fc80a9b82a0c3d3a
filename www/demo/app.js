// The demo web vault: notes kept by the npm package's SyncClient against the server that
// serves this page. Everything is sealed in the page; the table at the bottom shows what
// the server holds (observed through SyncClient's `fetch` option): ids, versions and
// ciphertext. Conflicts merge field by field; both values of a field both devices changed
// are shown, so nothing is lost.
// @ts-check
import init, { SyncClient } from "/pkg/vaultsync.js";
import { askToJoin, showDevices } from "./devices.js";
import { showHistory } from "./history.js";

/** The element of `id` (inputs and forms are used through their properties). @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);
const state = {
  client: null,
  syncs: 0,
  devicesTimer: /** @type {any} */ (0),
  server: new Map(), // record id -> { version, deleted, ciphertext, cursor } as the server holds it
};

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

/** `fetch` for SyncClient that also notes what the server stores, for the table. */
async function observingFetch(url, init) {
  const response = await fetch(url, init);
  if (response.ok && url.includes("/changes?")) {
    const page = await response.clone().json();
    for (const r of page.changes) state.server.set(r.record_id, r);
  } else if (response.ok && url.endsWith("/push")) {
    const { items } = JSON.parse(init.body);
    const { results } = await response.clone().json();
    results.forEach((result, i) => {
      if (result.status === "applied") {
        const { record_id, deleted, ciphertext } = items[i];
        state.server.set(record_id, { record_id, version: result.version, deleted, ciphertext, cursor: result.cursor });
      } else if (result.current) {
        state.server.set(result.current.record_id, result.current);
      }
    });
  }
  return response;
}

const options = () => ({
  tokenLabel: "demo page",
  fetch: observingFetch,
  onProgress: (p) => {
    if (p.phase === "rotate") status(`Re-sealing every note under the new key: ${p.done} of ${p.total}…`);
  },
  onStatus: showSyncStatus,
});

/** The client's sync status: last success, last error, pending edits, a sync running. */
function showSyncStatus(s) {
  if (!("pending" in s)) return;
  const when = s.lastSyncAt ? new Date(s.lastSyncAt).toLocaleTimeString() : "never";
  const error = s.lastError ? `; last error ${s.lastError.code}` : "";
  $("sync-status").textContent = s.syncing ? "Syncing…" : `Last sync: ${when}${error}; ${s.pending} pending.`;
}

function credentials() {
  const username = $("username").value;
  const password = $("password").value;
  if (!username || !password) throw new Error("enter a username and a password");
  return { username, password };
}

async function register() {
  const { username, password } = credentials();
  status("Creating the vault (PBKDF2, 600,000 iterations)…");
  const { client, recoveryCode } = await SyncClient.register(location.origin, username, password, options());
  $("recovery-code").textContent = recoveryCode;
  $("recovery").hidden = false;
  opened(client, "Unlocked.");
}

async function login() {
  const { username, password } = credentials();
  status("Deriving keys…");
  const client = await SyncClient.login(location.origin, username, password, options());
  opened(client, "Unlocked.");
  await sync();
}

async function recover() {
  const username = $("username").value;
  const code = $("recover-code").value;
  const password = $("recover-password").value;
  if (!username || !code || !password) throw new Error("enter the username, the recovery code and a new password");
  status("Recovering with the recovery code…");
  const client = await SyncClient.recover(location.origin, username, code, password, options());
  $("recover-form").reset();
  opened(client, "Recovered: the new password is set.");
  await sync();
}

async function link() {
  const client = await askToJoin($("username").value, options(), status);
  opened(client, "This browser joined the account without the password.");
  await sync();
}

/** The devices and the requests to join: shown now, then every 5 s while unlocked. */
async function devices() {
  const client = state.client;
  if (!client || client.locked) return;
  const waiting = await showDevices(client, guard, status);
  if (waiting && state.client === client) status(`${waiting} device(s) ask to join: see "Devices".`);
}

function opened(client, message) {
  state.client?.free();
  state.client = client;
  state.server.clear();
  $("password").value = "";
  $("who").textContent = `(${client.username})`;
  $("vault").hidden = false;
  $("account-form").hidden = true;
  $("recover-form").hidden = true;
  $("link-form").hidden = true;
  $("erase").hidden = true;
  render();
  clearInterval(state.devicesTimer);
  state.devicesTimer = setInterval(guard(devices), 5000);
  guard(devices)();
  status(`${message} This page holds a device token; the server never sees a key.`);
  follow();
}

/** Live updates (client.live): other devices' changes appear without pressing Sync. */
function follow() {
  const client = state.client;
  if (!client) return;
  client.stopLive();
  $("live-state").textContent = "";
  if (!$("live").checked) return;
  client.live({
    onChange: (events) => {
      if (state.client !== client) return;
      state.syncs += 1;
      render();
      const notes = events.flatMap(describe);
      status(
        `Live: ${events.length} change(s) from another device at ${new Date().toLocaleTimeString()}.` +
          (notes.length ? ` Note: ${notes.join("; ")}.` : ""),
      );
    },
    onConnection: (up) => ($("live-state").textContent = up ? "(connected)" : "(reconnecting…)"),
    // A device asks to join: list it now rather than at the next 5 s refresh.
    onLink: guard(devices),
  });
}

function describe(event) {
  if (event.type === "integrity") return [`the server had hidden or lost something (${event.code}); a full pull put it right`];
  if (event.type === "reuploaded") return [`${event.count} note(s) the server had lost are being uploaded again`];
  if (event.type !== "envelopeChanged") return [];
  if (event.password) return ["another device changed the password (use the new one from now on)"];
  return event.keys ? ["another device rotated the keys"] : [];
}

async function sync() {
  const events = await state.client.sync();
  state.syncs += 1;
  render();
  const notes = events.flatMap(describe);
  const cursor = Math.max(0, ...[...state.server.values()].map((r) => r.cursor ?? 0));
  status(
    `Synced (#${state.syncs}) at ${new Date().toLocaleTimeString()}: cursor ${cursor}.` +
      (notes.length ? ` Note: ${notes.join("; ")}.` : ""),
  );
}

async function render() {
  const client = state.client;
  const list = $("notes");
  list.replaceChildren();
  const live = (await client.records()).filter((r) => r.value && typeof r.value.title === "string");
  live.sort((a, b) => a.value.title.localeCompare(b.value.title));
  for (const { id, value } of live) {
    const li = document.createElement("li");
    li.dataset.id = id;
    const title = Object.assign(document.createElement("span"), { className: "title", textContent: value.title });
    const text = Object.assign(document.createElement("div"), { className: "text", textContent: value.text ?? "" });
    const editButton = Object.assign(document.createElement("button"), { textContent: "Edit", className: "edit" });
    editButton.onclick = () => {
      $("note-id").value = id;
      $("note-title").value = value.title;
      $("note-text").value = value.text ?? "";
    };
    const deleteButton = Object.assign(document.createElement("button"), { textContent: "Delete", className: "delete" });
    deleteButton.onclick = guard(async () => {
      client.delete(id);
      await sync();
    });
    const historyButton = Object.assign(document.createElement("button"), { textContent: "History", className: "show-history" });
    historyButton.onclick = guard(() =>
      showHistory(client, id, li, guard, async (version) => {
        await sync();
        status(`Restored version ${version} of "${value.title}" as a new version.`);
      }),
    );
    li.append(title, " ", editButton, deleteButton, historyButton, text);
    const conflicts = client.conflicts(id);
    if (conflicts.length) {
      const box = Object.assign(document.createElement("div"), { className: "conflict" });
      const lines = conflicts.map(
        (c) => {
          const [kept, local, remote] = [c.kept, c.local, c.remote].map((v) => JSON.stringify(v ?? null));
          const [whose, other] = kept === remote ? ["this device's", local] : ["the other device's", remote];
          return `${c.path || "the note"}: kept ${kept}; ${whose} ${other}`;
        },
      );
      box.textContent = `Both devices changed ${lines.join(" | ")}`;
      const dismiss = Object.assign(document.createElement("button"), { textContent: "Dismiss", className: "dismiss" });
      dismiss.onclick = () => {
        client.dismissConflicts(id);
        render();
      };
      box.append(" ", dismiss);
      li.append(box);
    }
    list.append(li);
  }
  const pending = client.pendingCount;
  $("pending").textContent = pending ? `${pending} change(s) not synced yet` : "";
  // The vault state code: the same on every device at the same vault head.
  $("state-code").textContent = client.stateCode ?? "(after the first sync)";
  showSyncStatus(client.status());
  $("reseed").hidden = !client.serverBehind;
  const rows = [...state.server.values()].sort((a, b) => (a.cursor ?? 0) - (b.cursor ?? 0));
  $("server-view").replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      const cells = [[r.record_id], [r.version], [r.deleted], [keyIdOf(r.ciphertext)], [r.ciphertext.slice(0, 64) + "…", "ct"]];
      for (const [value, cls] of cells) {
        tr.append(Object.assign(document.createElement("td"), { textContent: String(value), className: cls ?? "" }));
      }
      return tr;
    }),
  );
}

/** The key id a sealed record names (FORMAT.md: format byte, then the key id, u32). */
function keyIdOf(ciphertext) {
  const head = atob(ciphertext.slice(0, 8).replace(/-/g, "+").replace(/_/g, "/"));
  return [1, 2, 3, 4].reduce((id, i) => id * 256 + head.charCodeAt(i), 0);
}

function guard(action) {
  return async (event) => {
    event?.preventDefault();
    try {
      await action();
    } catch (e) {
      if (e.code === "DEVICE_REVOKED") {
        // Revoked by another device: stop asking the server, offer to erase.
        clearInterval(state.devicesTimer);
        state.client?.stopLive();
        $("erase").hidden = false;
      }
      status(e.code ? `${e.code}: ${e.message}` : String(e.message ?? e), true);
    }
  };
}

$("reseed").onclick = guard(async () => {
  const ok = confirm(
    "The server has less than this device saw: restored from a backup? " +
      "Upload this device's notes again? (Nothing on the server is deleted.)",
  );
  if (!ok) return;
  status("Uploading this device's notes again…");
  await state.client.reseed();
  render();
  status(`Re-seeded: the server holds this device's notes (vault state ${state.client.stateCode}).`);
});
$("register").onclick = guard(register);
$("account-form").onsubmit = guard(login);
$("recover-form").onsubmit = guard(recover);
$("note-form").onsubmit = guard(async () => {
  const id = $("note-id").value || undefined;
  state.client.put({ title: $("note-title").value, text: $("note-text").value }, id);
  $("note-form").reset();
  $("note-id").value = "";
  await sync();
});
$("cancel").onclick = () => {
  $("note-form").reset();
  $("note-id").value = "";
};
$("sync").onclick = guard(sync);
$("live").onchange = follow;
$("change-password").onclick = guard(async () => {
  const password = $("new-password").value;
  if (!password) throw new Error("enter the new password");
  status("Changing the password…");
  await state.client.changePassword(password);
  $("new-password").value = "";
  status("Password changed: other devices learn it on their next sync.");
});
$("rotate").onclick = guard(async () => {
  status("Rotating the vault key…");
  await state.client.rotateKeys();
  render();
  status("Keys rotated: every note is sealed under the new key; the old key is retired.");
});
/** Back to the account forms. */
function closed(message) {
  clearInterval(state.devicesTimer);
  state.client.free();
  state.client = null;
  $("vault").hidden = true;
  $("account-form").hidden = false;
  $("recover-form").hidden = false;
  $("link-form").hidden = false;
  $("recovery").hidden = true;
  status(message);
}
$("logout").onclick = guard(async () => {
  state.client.stopLive();
  await state.client.logout();
  closed("Logged out; the token is revoked and the keys are wiped from memory.");
});
$("erase").onclick = guard(async () => {
  if (!confirm("This device was revoked. Erase its copy of the vault? Edits it never synced are lost.")) return;
  await state.client.erase();
  closed("Erased: this device's keys and data are gone.");
});
$("link-form").onsubmit = guard(link);
$("devices-refresh").onclick = guard(devices);

await init();
status("Ready: create an account, log in, or recover with a recovery code.");
window.__demoReady = true;
