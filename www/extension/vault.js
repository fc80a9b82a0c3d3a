// @ts-check
// The vault's life in the service worker: one SyncClient kept in the device store
// (IndexedDB, encrypted), unlocked with the password once per browser session. The session
// secret lives in chrome.storage.session (memory only, gone when the browser closes): a
// worker restarted by Chrome reopens the vault with it, without the password or PBKDF2.
// chrome.storage.local holds only the server URL and username.
import init, { SyncClient } from "./vendor/vaultsync.js";

const ready = init();
/** Lock after 30 minutes without use (the session secret stops working too). */
const AUTO_LOCK_MS = 30 * 60 * 1000;
/** @type {SyncClient | null} */
let client = null;
/** @type {Promise<SyncClient | null> | null} A reopening under way (events arrive together). */
let reopening = null;
/** @type {any} The last status the client reported (for the popup). */
let lastStatus = null;
/** @type {((client: SyncClient) => void) | null} Called with each client unlocked or reopened. */
let unlocked = null;
/** Whether the live channel is up (the popup shows it). */
let liveUp = false;

/**
 * Follows each unlocked client live (the background's hook): other devices' changes arrive
 * without waiting for the alarm, and the socket's heartbeats keep this worker alive while
 * the vault is unlocked (Chrome 116+). `lock()` closes it.
 * @param {(client: SyncClient) => void} hook
 */
export function onUnlocked(hook) {
  unlocked = hook;
}

/** @param {boolean} up */
export const setLive = (up) => (liveUp = up);

/** @param {SyncClient} c */
function opened(c) {
  client = c;
  unlocked?.(c);
  return c;
}

/** @param {string} code @param {string} message */
export const fail = (code, message) => Object.assign(new Error(message), { code });

/** @returns {import("./vendor/vaultsync.js").SyncClientOptions} */
const options = () => ({
  store: "indexeddb",
  autoLockMs: AUTO_LOCK_MS,
  tokenLabel: "bookmarks extension",
  /** @param {any} status */
  onStatus: (status) => (lastStatus = { ...lastStatus, ...status }),
});

/** @returns {Promise<{ server: string, username: string } | undefined>} */
export const account = async () => /** @type {any} */ (await chrome.storage.local.get("account")).account;

/** The unlocked client: this worker's, or reopened with the session secret; null if locked. */
export async function current() {
  await ready;
  if (client && !client.locked) return client;
  reopening ??= reopen().finally(() => (reopening = null));
  return reopening;
}

async function reopen() {
  const acct = await account();
  const secret = /** @type {string | undefined} */ ((await chrome.storage.session.get("secret")).secret);
  if (!acct || !secret) return null;
  try {
    return opened(await SyncClient.openSession(acct.server, acct.username, secret, options()));
  } catch (e) {
    if (/** @type {any} */ (e).code !== "SESSION_INVALID") throw e;
    await chrome.storage.session.remove("secret");
    return null;
  }
}

/** The unlocked client, or a LOCKED error for the popup. */
export async function required() {
  const c = await current();
  if (!c) throw fail("LOCKED", "the vault is locked: unlock it with the password");
  return c;
}

/** Hands out a session secret for this browser session. @param {SyncClient} c */
async function keepSession(c) {
  await chrome.storage.session.set({ secret: await c.sessionSecret() });
}

/**
 * Creates an account (`register`) or logs in on this profile; the vault goes to IndexedDB.
 * @param {{ server: string, username: string, password: string, register?: boolean }} args
 */
export async function connect({ server, username, password, register }) {
  await ready;
  client?.free();
  client = null;
  let recoveryCode;
  if (register) {
    const registered = await SyncClient.register(server, username, password, options());
    recoveryCode = registered.recoveryCode;
    client = registered.client;
  } else {
    client = await SyncClient.login(server, username, password, options());
  }
  await chrome.storage.local.set({ account: { server, username } });
  await keepSession(client);
  opened(client);
  return { client, recoveryCode };
}

/** Unlocks the stored vault with the password (after a browser restart or a lock). @param {string} password */
export async function unlock(password) {
  await ready;
  const acct = await account();
  if (!acct) throw fail("NO_STORE", "not connected: create an account or log in first");
  client?.free();
  client = await SyncClient.open(acct.server, acct.username, password, options());
  await keepSession(client);
  return opened(client);
}

/** Locks: keys forgotten, session secret gone; the next use needs the password. */
export async function lock() {
  await chrome.storage.session.remove("secret");
  if (client && !client.locked) await client.lock();
  client?.free();
  client = null;
}

/** What the popup shows. */
export async function status() {
  const acct = await account();
  const c = await current();
  return {
    account: acct ?? null,
    locked: !c,
    live: Boolean(c) && liveUp,
    ...(c ? c.status() : {}),
    lastError: c ? c.status().lastError : lastStatus?.lastError ?? null,
  };
}
