// The demo web vault: register or log in against the server that serves this page, keep
// notes sealed with the npm package, and sync them with push/changes (PROTOCOL.md). This
// is deliberately small: conflicts keep both sides (the local edit becomes a "conflict
// copy" note), nothing is lost, and the server never sees a key or a plaintext.
import init, * as vs from "/pkg/vaultsync.js";

const $ = (id) => document.getElementById(id);
const state = {
  token: null,
  vaultId: null,
  vault: null,
  cursor: 0,
  syncs: 0,
  notes: new Map(), // record id -> { version, deleted, note: {title, text} }
  pending: new Map(), // record id -> { base, deleted, note }
  server: new Map(), // record id -> the record as the server sent it (ciphertext)
};

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = json?.error ?? { code: `HTTP_${response.status}`, message: text };
    throw new ApiError(response.status, error.code, error.message);
  }
  return json;
}

const vaultPath = (tail) => `/v1/vaults/${state.vaultId}/${tail}`;

async function register() {
  const username = $("username").value;
  const password = $("password").value;
  if (!username || !password) throw new Error("enter a username and a password");
  status("Creating the vault (PBKDF2, 600,000 iterations)…");
  const created = await vs.createVault(password);
  const session = await api("POST", "/v1/accounts", {
    username,
    auth_key: created.authKey,
    kdf: created.vault.kdf,
    vault_id: created.vault.vaultId,
    envelope: created.envelope,
    token_label: "demo page",
  });
  $("recovery-code").textContent = created.recoveryCode;
  $("recovery").hidden = false;
  opened(username, session, created.vault);
}

async function login() {
  const username = $("username").value;
  const password = $("password").value;
  status("Deriving keys…");
  const { kdf } = await api("POST", "/v1/prelogin", { username });
  const keys = await vs.deriveKeys(password, kdf);
  const session = await api("POST", "/v1/login", {
    username,
    auth_key: keys.authKey,
    token_label: "demo page",
  });
  state.token = session.token.secret;
  state.vaultId = session.vault_id;
  const envelope = await api("GET", vaultPath("envelope"));
  opened(username, session, keys.unlock(envelope.envelope));
  await sync();
}

function opened(username, session, vault) {
  Object.assign(state, {
    token: session.token.secret,
    vaultId: session.vault_id,
    vault,
    cursor: 0,
  });
  state.notes.clear();
  state.pending.clear();
  state.server.clear();
  $("password").value = "";
  $("who").textContent = `(${username})`;
  $("vault").hidden = false;
  $("account-form").hidden = true;
  render();
  status(`Unlocked. Token ${session.token.info.indicator} issued for this page.`);
}

function edit(id, note, deleted = false) {
  const known = state.notes.get(id);
  const queued = state.pending.get(id);
  const base = queued ? queued.base : known ? known.version : 0;
  state.pending.set(id, { base, deleted, note });
  state.notes.set(id, { version: known?.version ?? 0, deleted, note });
  render();
}

function seal(id, version, deleted, note) {
  return state.vault.sealText(id, version, deleted, JSON.stringify(deleted ? {} : note));
}

function accept(record) {
  state.server.set(record.record_id, record);
  const text = state.vault.openText(record.record_id, record.version, record.deleted, record.ciphertext);
  const note = record.deleted ? null : JSON.parse(text);
  state.notes.set(record.record_id, { version: record.version, deleted: record.deleted, note });
}

async function sync() {
  // Push every pending edit in one batch.
  const entries = [...state.pending.entries()];
  if (entries.length) {
    const items = entries.map(([id, p]) => ({
      record_id: id,
      base_version: p.base,
      deleted: p.deleted,
      ciphertext: seal(id, p.base + 1, p.deleted, p.note),
    }));
    const { results } = await api("POST", vaultPath("push"), { items });
    results.forEach((result, i) => {
      const [id, p] = entries[i];
      state.pending.delete(id);
      if (result.status === "applied") {
        const item = items[i];
        accept({ ...item, version: result.version, cursor: result.cursor });
      } else {
        // Someone else changed it first: keep theirs, and keep ours as a new note.
        if (result.current) accept(result.current);
        else state.notes.delete(id);
        if (!p.deleted) {
          const copy = state.vault.newRecordId();
          edit(copy, { title: `${p.note.title} (conflict copy)`, text: p.note.text });
        }
      }
    });
  }
  // Pull what changed since the last sync.
  for (;;) {
    let page;
    try {
      page = await api("GET", vaultPath(`changes?since=${state.cursor}`));
    } catch (e) {
      if (e.code !== "RESYNC_REQUIRED") throw e;
      state.cursor = 0; // deletes were purged: pull everything again
      for (const id of state.notes.keys()) if (!state.pending.has(id)) state.notes.delete(id);
      continue;
    }
    for (const record of page.changes) {
      if (!state.pending.has(record.record_id)) accept(record);
      else state.server.set(record.record_id, record);
    }
    state.cursor = page.cursor;
    if (!page.more) break;
  }
  if (state.pending.size) return sync(); // conflict copies made above
  render();
  state.syncs += 1;
  status(`Synced (#${state.syncs}) at ${new Date().toLocaleTimeString()}: cursor ${state.cursor}.`);
}

function render() {
  const list = $("notes");
  list.replaceChildren();
  const live = [...state.notes.entries()].filter(([, n]) => !n.deleted && n.note);
  live.sort((a, b) => a[1].note.title.localeCompare(b[1].note.title));
  for (const [id, { note }] of live) {
    const li = document.createElement("li");
    li.dataset.id = id;
    const title = Object.assign(document.createElement("span"), { className: "title", textContent: note.title });
    const text = Object.assign(document.createElement("div"), { className: "text", textContent: note.text });
    const editButton = Object.assign(document.createElement("button"), { textContent: "Edit", className: "edit" });
    editButton.onclick = () => {
      $("note-id").value = id;
      $("note-title").value = note.title;
      $("note-text").value = note.text;
    };
    const deleteButton = Object.assign(document.createElement("button"), { textContent: "Delete", className: "delete" });
    deleteButton.onclick = guard(async () => {
      edit(id, note, true);
      await sync();
    });
    li.append(title, " ", editButton, deleteButton, text);
    list.append(li);
  }
  $("pending").textContent = state.pending.size ? `${state.pending.size} change(s) not synced yet` : "";
  const rows = [...state.server.values()].sort((a, b) => a.cursor - b.cursor);
  $("server-view").replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const [value, cls] of [[r.record_id], [r.version], [r.deleted], [r.ciphertext.slice(0, 64) + "…", "ct"]]) {
        tr.append(Object.assign(document.createElement("td"), { textContent: String(value), className: cls ?? "" }));
      }
      return tr;
    }),
  );
}

function guard(action) {
  return async (event) => {
    event?.preventDefault();
    try {
      await action();
    } catch (e) {
      status(e.code ? `${e.code}: ${e.message.replace(`${e.code}: `, "")}` : String(e.message ?? e), true);
    }
  };
}

$("register").onclick = guard(register);
$("account-form").onsubmit = guard(login);
$("note-form").onsubmit = guard(async () => {
  const id = $("note-id").value || state.vault.newRecordId();
  edit(id, { title: $("note-title").value, text: $("note-text").value });
  $("note-form").reset();
  $("note-id").value = "";
  await sync();
});
$("cancel").onclick = () => {
  $("note-form").reset();
  $("note-id").value = "";
};
$("sync").onclick = guard(sync);
$("logout").onclick = guard(async () => {
  await api("DELETE", "/v1/tokens/current");
  state.vault?.free();
  Object.assign(state, { token: null, vault: null, vaultId: null });
  $("vault").hidden = true;
  $("account-form").hidden = false;
  $("recovery").hidden = true;
  status("Logged out; the token is revoked and the keys are wiped from memory.");
});

await init();
status("Ready: create an account or log in.");
window.__demoReady = true;
