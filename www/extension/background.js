// @ts-check
// The service worker of the bookmarks extension: the browser's bookmarks synced, encrypted,
// through a vaultsync server. Bookmark events become record edits (bookmarks.js); a sync
// (soon after an edit, on a chrome.alarms timer, or from the popup) pushes them and writes
// other devices' changes into the tree; while the vault is unlocked, the live channel
// brings other devices' changes within a second (client.live). The vault lives in vault.js. Service workers allow
// no dynamic import() and no top-level await: everything is imported statically and
// awaited inside handlers.
import * as vault from "./vault.js";
import { applyRemote, confirmRemoval, heldRemoval, isApplying, localChanged, localRemoved, reconcile, restoreRemoval } from "./bookmarks.js";

/** Minutes between background syncs (chrome.alarms; at least 0.5 in a packed extension). */
const SYNC_PERIOD_MINUTES = 1;

/** One sync at a time; a request during one runs once more after it. */
let syncing = null;
let again = false;

/** What came in is written into the bookmark tree one batch at a time, in order. */
let applying = Promise.resolve();
/** @param {any} client @param {any[]} changes */
function apply(client, changes) {
  applying = applying.catch(() => {}).then(() => applyRemote(client, changes));
  return applying;
}

/** Syncs and writes what came in into the bookmark tree. */
async function syncNow() {
  if (syncing) {
    again = true;
    return syncing;
  }
  syncing = (async () => {
    try {
      do {
        again = false;
        const client = await vault.required();
        await apply(client, await client.sync());
      } while (again);
    } finally {
      syncing = null;
      await badge().catch(() => {});
    }
  })();
  return syncing;
}

/**
 * What the popup shows: the vault's status, and the bookmarks held from a mass deletion
 * (another device's, `heldDeletions`; or removed here, `heldRemoval`).
 */
async function status() {
  return { ...(await vault.status()), heldRemoval: (await heldRemoval()).length };
}

/** The icon's badge says "!" while a mass deletion waits for the user. */
async function badge() {
  const s = await status();
  const waiting = (s.heldDeletions ?? 0) + s.heldRemoval > 0;
  await chrome.action.setBadgeText({ text: waiting ? "!" : "" });
}

/** A sync a little after a burst of edits (the alarm catches up if the worker stops). */
let soon = null;
function syncSoon() {
  clearTimeout(soon);
  soon = setTimeout(() => syncNow().catch(() => {}), 2000);
}

/** Bookmark events are handled one at a time, in the order they came. */
let events = Promise.resolve();

/**
 * Runs a bookmark event's change when the vault is unlocked (locked: reconciled at unlock).
 * @param {(client: any) => Promise<boolean>} change
 */
function onBookmarkEvent(change) {
  if (isApplying()) return; // the extension's own writes
  events = events.then(async () => {
    const client = await vault.current();
    if (client && (await change(client))) {
      await client.flush();
      syncSoon();
    }
    await badge();
  }).catch(() => {});
}

chrome.bookmarks.onCreated.addListener((id) => onBookmarkEvent((c) => localChanged(c, id)));
chrome.bookmarks.onChanged.addListener((id) => onBookmarkEvent((c) => localChanged(c, id)));
chrome.bookmarks.onMoved.addListener((id) => onBookmarkEvent((c) => localChanged(c, id)));
chrome.bookmarks.onRemoved.addListener((_id, info) => onBookmarkEvent((c) => localRemoved(c, info.node)));

// Live: the alarm stays as the fallback (pollMs 0: no timer of the package's own, which
// a stopped worker would lose anyway); it also wakes a stopped worker, which reopens the
// vault and with it the live channel.
vault.onUnlocked((client) =>
  client.live({
    pollMs: 0,
    onChange: (changes) => void apply(client, changes).then(badge).catch(() => {}),
    onConnection: vault.setLive,
  }),
);

chrome.runtime.onInstalled.addListener(() => chrome.alarms.create("sync", { periodInMinutes: SYNC_PERIOD_MINUTES }));
chrome.runtime.onStartup.addListener(() => chrome.alarms.create("sync", { periodInMinutes: SYNC_PERIOD_MINUTES }));
chrome.alarms.onAlarm.addListener(async (alarm) => {
  if (alarm.name === "sync" && (await vault.current())) await syncNow().catch(() => {});
});

/** The popup's requests; each answers JSON. @type {Record<string, (message: any) => Promise<any>>} */
const handlers = {
  /** Create an account (`register: true`) or log in on this profile, then merge the trees. */
  async connect(message) {
    const { client, recoveryCode } = await vault.connect(message);
    if (!message.register) await apply(client, await client.sync());
    await reconcile(client);
    await syncNow();
    return { recoveryCode, status: await status() };
  },
  async unlock({ password }) {
    const client = await vault.unlock(password);
    await reconcile(client); // what changed while locked
    await syncNow();
    return status();
  },
  async lock() {
    await vault.lock();
    return status();
  },
  async sync() {
    await syncNow();
    return status();
  },
  status,
  /** Another device deleted most bookmarks (held): delete them here too. */
  async confirmDeletions() {
    const client = await vault.required();
    await apply(client, client.confirmDeletions());
    await client.flush();
    await badge();
    return status();
  },
  /** Another device deleted most bookmarks (held): keep them, and give them back to every device. */
  async keepDeletions() {
    const client = await vault.required();
    client.keepDeletions();
    await syncNow();
    return status();
  },
  /** Many bookmarks removed here (held): delete them on every device. */
  async confirmRemoval() {
    await confirmRemoval(await vault.required());
    await syncNow();
    return status();
  },
  /** Many bookmarks removed here (held): put them back in this browser. */
  async restoreRemoval() {
    await restoreRemoval(await vault.required());
    await badge();
    return status();
  },
};

/** @param {any} message */
async function handle(message) {
  const handler = handlers[message?.type];
  if (!handler) throw new Error(`unknown message ${message?.type}`);
  return handler(message);
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  handle(message).then(
    (result) => reply({ ok: true, result }),
    (e) => reply({ ok: false, code: e.code ?? "ERROR", message: e.message }),
  );
  return true; // answers asynchronously
});

// For the test suite (www/tests/extension.test.mjs), which drives the worker directly.
/** @type {any} */ (self).vaultsyncExample = { handle, vault };
