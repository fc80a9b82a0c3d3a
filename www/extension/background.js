// @ts-check
// The vault lives in the service worker: keys stay in WASM memory here, and the popup talks
// to it by messages. One storage model: the SyncClient's session (records, pending edits,
// token), sealed under the vault's key and kept in chrome.storage.local; a restarted worker
// resumes it with the password. Service workers allow no dynamic import() and no top-level
// await, so vaultsync is imported statically and initialised once, lazily.
// `vendor/` is a copy of the npm package's vaultsync.js and vaultsync_bg.wasm (see README.md).
import init, { SyncClient } from "./vendor/vaultsync.js";

const ready = init();
/** @type {SyncClient | null} The unlocked, synced vault. */
let client = null;

const store = {
  /** @param {string} key @returns {Promise<any>} */
  get: async (key) => (await chrome.storage.local.get(key))[key],
  /** @param {string} key @param {unknown} value */
  set: (key, value) => chrome.storage.local.set({ [key]: value }),
};

/** @param {string} code @param {string} message */
const fail = (code, message) => Object.assign(new Error(message), { code });

/** Saves the session (sealed) after every change. @param {SyncClient} c */
async function persist(c) {
  await store.set("session", { ...(await store.get("session")), saved: c.save() });
}

/** Each handler takes the message and returns a JSON-safe answer. @type {Record<string, (message: any) => Promise<any>>} */
const handlers = {
  /** Register (`register: true`) or log in, then sync. */
  async connect({ server, username, password, register }) {
    client?.free();
    let recoveryCode;
    if (register) {
      const registered = await SyncClient.register(server, username, password);
      recoveryCode = registered.recoveryCode;
      client = registered.client;
    } else {
      client = await SyncClient.login(server, username, password);
    }
    const events = await client.sync();
    await store.set("session", { server, saved: client.save() });
    return { vaultId: client.vaultId, events: events.length, recoveryCode };
  },
  /** A restarted worker (or a locked vault) opens the saved session with the password. */
  async unlock({ password }) {
    const session = await store.get("session");
    if (!session) throw fail("NO_SESSION", "not connected: register or log in first");
    client?.free();
    client = await SyncClient.resume(session.server, session.saved, password);
    return { pending: client.pendingCount };
  },
  async lock() {
    client?.free();
    client = null;
    return {};
  },
  async bookmark({ url }) {
    const id = requireClient().put({ url });
    await persist(requireClient());
    return { id };
  },
  async sync() {
    const c = requireClient();
    const events = await c.sync();
    await persist(c);
    return { events, bookmarks: list(c) };
  },
  async list() {
    return list(requireClient());
  },
};

/** @param {SyncClient} c */
const list = (c) => c.records().map((r) => /** @type {{ url: string }} */ (r.value).url);

function requireClient() {
  if (!client) throw fail("LOCKED", "the vault is locked: unlock it with the password");
  return client;
}

/** @param {any} message */
async function handle(message) {
  await ready;
  const handler = handlers[/** @type {keyof typeof handlers} */ (message?.type)];
  if (!handler) throw new Error(`unknown message ${message?.type}`);
  return handler(message);
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  handle(message).then(
    (result) => reply({ ok: true, result }),
    (e) => reply({ ok: false, code: e.code ?? "ERROR", message: e.message }),
  );
  return true; // answer asynchronously
});

// Used by the test suite (www/tests/browser.test.mjs) through the service worker.
/** @type {any} */ (self).vaultsyncExample = { handle };
