// The bookmarks extension (www/extension/) in two Chromium profiles, each with the extension
// loaded, against the real server: bookmarks added, edited, moved and deleted in one profile
// reach the other; a conflicting edit merges; a stopped service worker resumes without the
// password (also when stopped in the middle of a sync); lock asks for the password again;
// nothing readable is left in chrome.storage.local or IndexedDB; the worker follows the vault
// live (a bookmark added in one profile appears in the other with no sync asked), also
// after a restart, and lock closes the live channel.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "../lib/harness.mjs";
import { startServer } from "../lib/server.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const PASSWORD = "bookmark pw";
const MARKER = "SECRET-BOOKMARK-MARKER";
let server;
const temps = [];
const profiles = [];

/** The extension as a user would load it: the folder plus the package in vendor/. */
async function extensionDir() {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-extension-"));
  temps.push(dir);
  await cp(join(repo, "www/extension"), dir, { recursive: true });
  await mkdir(join(dir, "vendor"), { recursive: true });
  for (const file of ["vaultsync.js", "vaultsync_bg.wasm", "snippets"]) {
    await cp(join(repo, "pkg", file), join(dir, "vendor", file), { recursive: true });
  }
  return dir;
}

/** A Chromium profile with the extension and its popup page open (to send messages from). */
/** Waits (up to 10 s) until `check()` holds. */
async function until(check, what) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function profile() {
  const ext = await launch({ extensionDir: await extensionDir() });
  let [worker] = ext.context.serviceWorkers();
  worker ??= await ext.context.waitForEvent("serviceworker", { timeout: 30_000 });
  const id = new URL(worker.url()).host;
  const page = await ext.context.newPage();
  await page.goto(`chrome-extension://${id}/popup.html`);
  const cdp = await ext.context.newCDPSession(page);
  await cdp.send("ServiceWorker.enable");
  const p = {
    ext,
    page,
    /** A message to the service worker, as the popup sends it. @param {any} message */
    send: (message) => page.evaluate((m) => chrome.runtime.sendMessage(m), message),
    /** @param {any} message */
    async ok(message) {
      const answer = await p.send(message);
      assert.ok(answer.ok, `${message.type}: ${answer.code} ${answer.message}`);
      return answer.result;
    },
    /** Runs `f(arg)` in the extension page (chrome.bookmarks, chrome.storage). */
    run: (f, arg) => page.evaluate(f, arg),
    /** Stops the extension's service worker, as Chrome does after 30 s idle. */
    stopWorker: () => cdp.send("ServiceWorker.stopAllWorkers"),
    /** Waits until the worker recorded `n` pending edits (bookmark events are handled asynchronously). */
    async pending(n) {
      for (let i = 0; i < 200; i++) {
        const status = await p.ok({ type: "status" });
        if (status.pending >= n) return status;
        await new Promise((ok) => setTimeout(ok, 50));
      }
      throw new Error(`never ${n} pending edits`);
    },
    /** Bookmarks (title, url, parent title) under the bookmarks bar, sorted. */
    bookmarks: () =>
      page.evaluate(async () => {
        const out = [];
        const walk = (node, parent) => {
          for (const child of node.children ?? []) {
            out.push({ title: child.title, url: child.url ?? null, parent });
            walk(child, child.title);
          }
        };
        const [tree] = await chrome.bookmarks.getTree();
        for (const root of tree.children) walk(root, root.title);
        return out.sort((a, b) => `${a.title}${a.url}`.localeCompare(`${b.title}${b.url}`));
      }),
  };
  profiles.push(p);
  return p;
}

before(async () => {
  server = await startServer();
});
after(async () => {
  for (const p of profiles) await p.ext.close().catch(() => {});
  await server?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

test("two profiles sync their bookmarks: add, edit, move, delete, a merged conflict", async () => {
  const a = await profile();
  const b = await profile();
  const account = { server: server.url, username: "bm-user", password: PASSWORD };
  // A has a bookmark before connecting: the first sync uploads it.
  await a.run(() => chrome.bookmarks.create({ parentId: "1", title: "Before", url: "https://before.example/" }));
  const connected = await a.ok({ type: "connect", register: true, ...account });
  assert.match(connected.recoveryCode, /^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
  assert.equal(connected.status.pending, 0);
  await b.ok({ type: "connect", ...account });
  assert.deepEqual(await b.bookmarks(), [{ title: "Before", url: "https://before.example/", parent: "Bookmarks bar" }]);

  // Added in A, appears in B with no sync asked of either: A syncs soon after the edit,
  // B is live (its worker follows the vault over a WebSocket).
  await until(async () => (await b.ok({ type: "status" })).live, "B's live channel");
  const added = Date.now();
  await a.run((m) => chrome.bookmarks.create({ parentId: "1", title: `${m} page`, url: "https://a.example/" }), MARKER);
  await until(async () => (await b.bookmarks()).some((x) => x.url === "https://a.example/" && x.title === `${MARKER} page`), "the bookmark in B");
  console.log(`a bookmark added in A appeared in B after ${Date.now() - added} ms (A's sync 2 s after the edit, then live)`);

  // B edits it and moves it into a new folder; A follows.
  await b.run(async () => {
    const [node] = await chrome.bookmarks.search({ url: "https://a.example/" });
    await chrome.bookmarks.update(node.id, { title: "Edited in B" });
    const folder = await chrome.bookmarks.create({ parentId: "1", title: "Folder" });
    await chrome.bookmarks.move(node.id, { parentId: folder.id });
  });
  await b.pending(2); // the bookmark (edited, moved) and the folder
  await b.ok({ type: "sync" });
  await a.ok({ type: "sync" });
  assert.deepEqual(
    (await a.bookmarks()).find((x) => x.url === "https://a.example/"),
    { title: "Edited in B", url: "https://a.example/", parent: "Folder" },
  );

  // Both edit the same bookmark offline: A its title, B its URL. Both edits survive.
  await a.run(async () => {
    const [node] = await chrome.bookmarks.search({ url: "https://before.example/" });
    await chrome.bookmarks.update(node.id, { title: "Title from A" });
  });
  await b.run(async () => {
    const [node] = await chrome.bookmarks.search({ url: "https://before.example/" });
    await chrome.bookmarks.update(node.id, { url: "https://from-b.example/" });
  });
  await a.pending(1);
  await b.pending(1);
  await a.ok({ type: "sync" });
  await b.ok({ type: "sync" });
  await a.ok({ type: "sync" });
  for (const p of [a, b]) {
    const merged = (await p.bookmarks()).find((x) => x.parent === "Bookmarks bar" && x.url);
    assert.deepEqual(merged, { title: "Title from A", url: "https://from-b.example/", parent: "Bookmarks bar" });
  }

  // A deletes the folder with its bookmark; B loses both.
  await a.run(async () => {
    const [folder] = await chrome.bookmarks.search({ title: "Folder" });
    await chrome.bookmarks.removeTree(folder.id);
  });
  await a.pending(2);
  await a.ok({ type: "sync" });
  await b.ok({ type: "sync" });
  assert.deepEqual(await b.bookmarks(), await a.bookmarks());
  assert.equal((await b.bookmarks()).length, 1);

  // Nothing readable in chrome.storage.local or IndexedDB.
  const stored = await a.run(async (marker) => {
    const local = JSON.stringify(await chrome.storage.local.get(null));
    const dbs = await indexedDB.databases();
    let idb = "";
    for (const { name } of dbs) {
      const db = await new Promise((ok, no) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
      });
      const values = await new Promise((ok) => {
        const r = db.transaction("entries").objectStore("entries").getAll();
        r.onsuccess = () => ok(r.result);
      });
      for (const v of values) idb += String.fromCharCode(...new Uint8Array(v));
      db.close();
    }
    return { local, idb: idb.length, dbs: dbs.map((d) => d.name), leak: local.includes(marker) || idb.includes(marker) || idb.includes("example") || local.includes("example") };
  }, MARKER);
  assert.deepEqual(stored.dbs, [`vaultsync/${server.url}/bm-user`]);
  assert.ok(stored.idb > 1000, "the vault is in IndexedDB");
  assert.equal(stored.leak, false, "a title or URL reached chrome.storage.local or IndexedDB");
});

test("a stopped service worker resumes without the password, even stopped mid-sync; lock asks for it", async (t) => {
  const a = await profile();
  const b = await profile();
  const account = { server: server.url, username: "bm-worker", password: PASSWORD };
  await a.ok({ type: "connect", register: true, ...account });
  await b.ok({ type: "connect", ...account });

  // Stopped: the next bookmark event wakes the worker, which reopens the vault with the
  // session secret from chrome.storage.session.
  await a.stopWorker();
  await a.run(() => chrome.bookmarks.create({ parentId: "1", title: "After restart", url: "https://restart.example/" }));
  const woke = await a.pending(1);
  assert.equal(woke.locked, false);
  await a.ok({ type: "sync" });

  // 150 bookmarks, and the worker stopped while their sync runs: nothing is lost, the
  // store opens, and the next sync finishes the job.
  await a.run(async () => {
    const folder = await chrome.bookmarks.create({ parentId: "1", title: "Many" });
    for (let i = 0; i < 150; i++) await chrome.bookmarks.create({ parentId: folder.id, title: `n${i}`, url: `https://many.example/${i}` });
  });
  await a.pending(151);
  await a.run(() => void chrome.runtime.sendMessage({ type: "sync" }));
  while (!(await a.ok({ type: "status" })).syncing) await new Promise((ok) => setTimeout(ok, 5));
  await a.stopWorker();
  const after = await a.ok({ type: "status" });
  t.diagnostic(`after the stop: ${after.pending} of 151 edits pending`);
  assert.equal(after.locked, false);
  assert.deepEqual(after.refusedEntries, []);
  await a.ok({ type: "sync" });
  assert.equal((await a.ok({ type: "status" })).pending, 0);
  await b.ok({ type: "sync" });
  const many = (await b.bookmarks()).filter((x) => x.parent === "Many");
  assert.equal(many.length, 150, "every bookmark arrived once");
  assert.ok((await b.bookmarks()).some((x) => x.url === "https://restart.example/"));

  // A restarted worker follows the vault live again once it reopens it.
  await b.stopWorker();
  await until(async () => (await b.ok({ type: "status" })).live, "B live again after a restart");
  await a.run(() => chrome.bookmarks.create({ parentId: "1", title: "Live again", url: "https://live-again.example/" }));
  await until(async () => (await b.bookmarks()).some((x) => x.url === "https://live-again.example/"), "the bookmark in B");

  // Lock: the keys and the session secret are gone; the password is needed again.
  const locked = await a.ok({ type: "lock" });
  assert.equal(locked.locked, true);
  assert.equal(locked.live, false, "lock closes the live channel");
  assert.deepEqual(await a.run(() => chrome.storage.session.get(null)), {});
  assert.equal((await a.send({ type: "sync" })).code, "LOCKED");
  await a.stopWorker();
  assert.equal((await a.ok({ type: "status" })).locked, true, "a restarted worker stays locked");
  assert.equal((await a.send({ type: "unlock", password: "wrong" })).code, "WRONG_PASSWORD");
  // An edit made while locked is picked up at unlock.
  await a.run(() => chrome.bookmarks.create({ parentId: "1", title: "While locked", url: "https://locked.example/" }));
  const unlocked = await a.ok({ type: "unlock", password: PASSWORD });
  assert.equal(unlocked.locked, false);
  assert.equal(unlocked.pending, 0);
  await b.ok({ type: "sync" });
  assert.ok((await b.bookmarks()).some((x) => x.url === "https://locked.example/"));
});

test("a folder with most bookmarks removed waits for the user, here and on the other profile", async () => {
  const a = await profile();
  const b = await profile();
  const account = { server: server.url, username: "bm-mass", password: PASSWORD };
  await a.ok({ type: "connect", register: true, ...account });
  await b.ok({ type: "connect", ...account });
  await a.run(async () => {
    const folder = await chrome.bookmarks.create({ parentId: "1", title: "Big" });
    for (let i = 0; i < 30; i++) await chrome.bookmarks.create({ parentId: folder.id, title: `b${i}`, url: `https://big.example/${i}` });
    for (let i = 0; i < 5; i++) await chrome.bookmarks.create({ parentId: "1", title: `s${i}`, url: `https://small.example/${i}` });
  });
  await a.pending(36);
  await a.ok({ type: "sync" });
  await b.ok({ type: "sync" });
  assert.equal((await b.bookmarks()).length, 36);
  const removeBig = () =>
    a.run(async () => {
      const [folder] = await chrome.bookmarks.search({ title: "Big" });
      await chrome.bookmarks.removeTree(folder.id);
    });
  const badge = (p) => p.run(() => chrome.action.getBadgeText({}));

  // Removed here: 31 of 36 records. Nothing is deleted; the popup asks.
  await removeBig();
  await until(async () => (await a.ok({ type: "status" })).heldRemoval === 31, "the removal held");
  assert.equal((await a.ok({ type: "status" })).pending, 0, "nothing deleted");
  assert.equal(await badge(a), "!");
  await a.ok({ type: "sync" });
  assert.equal((await b.bookmarks()).length, 36, "the other profile keeps them");
  // "Put them back": the folder and its 30 bookmarks return from the vault.
  const restored = await a.ok({ type: "restoreRemoval" });
  assert.equal(restored.heldRemoval, 0);
  assert.deepEqual(await a.bookmarks(), await b.bookmarks());
  assert.equal(await badge(a), "");

  // Removed again and confirmed: deleted everywhere... but the other profile holds them.
  await removeBig();
  await until(async () => (await a.ok({ type: "status" })).heldRemoval === 31, "the removal held again");
  const confirmed = await a.ok({ type: "confirmRemoval" });
  assert.equal(confirmed.heldRemoval, 0);
  assert.equal(confirmed.pending, 0, "pushed");
  const held = await b.ok({ type: "sync" });
  assert.equal(held.heldDeletions, 31);
  assert.equal((await b.bookmarks()).length, 36, "held: still in B's tree");
  assert.equal(await badge(b), "!");
  // B keeps them: written again, and A gets them back.
  await b.ok({ type: "keepDeletions" });
  await a.ok({ type: "sync" });
  assert.equal((await a.bookmarks()).filter((x) => x.parent === "Big").length, 30, "back in A");
  assert.equal(await badge(b), "");

  // Removed and confirmed in A, confirmed in B: gone from both.
  await removeBig();
  await until(async () => (await a.ok({ type: "status" })).heldRemoval === 31, "the removal held a third time");
  await a.ok({ type: "confirmRemoval" });
  assert.equal((await b.ok({ type: "sync" })).heldDeletions, 31);
  const done = await b.ok({ type: "confirmDeletions" });
  assert.equal(done.heldDeletions, 0);
  assert.equal((await b.bookmarks()).length, 5);
  assert.deepEqual(await b.bookmarks(), await a.bookmarks());
});
