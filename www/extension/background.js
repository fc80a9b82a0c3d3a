// The vault lives in the service worker: keys stay in WASM memory here, and the popup talks
// to it by messages. Service workers allow no dynamic import() and no top-level await, so
// vaultsync is imported statically and initialised once, lazily.
// `vendor/` is a copy of the npm package's vaultsync.js and vaultsync_bg.wasm (see README.md).
import init, { createVault, unlock, SyncClient } from "./vendor/vaultsync.js";

const ready = init();
let vault = null;
/** The synced vault (SyncClient): its session is saved sealed in chrome.storage. */
let client = null;

const store = {
  get: async (key) => (await chrome.storage.local.get(key))[key],
  set: (key, value) => chrome.storage.local.set({ [key]: value }),
};

/** Each handler takes the message and returns a JSON-safe answer. */
const handlers = {
  async create({ password }) {
    const created = await createVault(password);
    vault = created.vault;
    await store.set("envelope", created.envelope);
    await store.set("records", {});
    return { recoveryCode: created.recoveryCode };
  },
  async unlock({ password }) {
    const envelope = await store.get("envelope");
    if (!envelope) throw Object.assign(new Error("no vault yet"), { code: "NO_VAULT" });
    vault = await unlock(envelope, password);
    return { vaultId: vault.vaultId };
  },
  async lock() {
    vault?.free();
    vault = null;
    return {};
  },
  async put({ value }) {
    const records = (await store.get("records")) ?? {};
    const id = vault.newRecordId();
    records[id] = { version: 1, sealed: vault.sealText(id, 1, false, JSON.stringify(value)) };
    await store.set("records", records);
    return { id };
  },
  // Sync with a vaultsync server: register or log in, then put/sync; the session (records,
  // pending edits, token) is stored sealed, so a restarted worker resumes with the password.
  async connect({ server, username, password, register }) {
    client?.free();
    client = register
      ? (await SyncClient.register(server, username, password)).client
      : await SyncClient.login(server, username, password);
    const events = await client.sync();
    await store.set("session", { server, saved: client.save() });
    return { vaultId: client.vaultId, events: events.length };
  },
  async resume({ password }) {
    const session = await store.get("session");
    if (!session) throw Object.assign(new Error("not connected"), { code: "NO_SESSION" });
    client = await SyncClient.resume(session.server, session.saved, password);
    return { pending: client.pendingCount };
  },
  async bookmark({ url }) {
    const id = client.put({ url });
    await store.set("session", { ...(await store.get("session")), saved: client.save() });
    return { id };
  },
  async sync() {
    const events = await client.sync();
    await store.set("session", { ...(await store.get("session")), saved: client.save() });
    return { events, bookmarks: client.records().map((r) => r.value.url) };
  },
  async list() {
    const records = (await store.get("records")) ?? {};
    return Object.entries(records).map(([id, r]) => ({
      id,
      value: JSON.parse(vault.openText(id, r.version, false, r.sealed)),
    }));
  },
};

async function handle(message) {
  await ready;
  if (!(message?.type in handlers)) throw new Error(`unknown message ${message?.type}`);
  const synced = ["connect", "resume", "bookmark", "sync"];
  if (synced.includes(message.type)) {
    if (!client && !["connect", "resume"].includes(message.type)) {
      throw Object.assign(new Error("not connected"), { code: "LOCKED" });
    }
    return handlers[message.type](message);
  }
  if (!vault && !["create", "unlock"].includes(message.type)) {
    throw Object.assign(new Error("the vault is locked"), { code: "LOCKED" });
  }
  return handlers[message.type](message);
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  handle(message).then(
    (result) => reply({ ok: true, result }),
    (e) => reply({ ok: false, code: e.code ?? "ERROR", message: e.message }),
  );
  return true; // answer asynchronously
});

// Used by the test suite (www/tests/browser.test.mjs) through the service worker.
self.vaultsyncExample = { handle };
