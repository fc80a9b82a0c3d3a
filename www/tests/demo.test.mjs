// The demo web vault end to end: the real server serves the page and the package, separate
// Chromium profiles register, log in, add, edit and delete notes, and each sees the
// other's changes; a conflict keeps both values; a key rotation, a password change and a
// recovery reach every browser; the server only ever holds ciphertext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { launch } from "../lib/harness.mjs";
import { startServer } from "../lib/server.mjs";

let server;
const browsers = [];

before(async () => {
  server = await startServer();
});
after(async () => {
  for (const b of browsers) await b.close();
  await server?.stop();
});

async function openDemo() {
  const browser = await launch();
  browsers.push(browser);
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => window.__demoReady === true, null, { timeout: 30_000 });
  return Object.assign(page, { errors });
}

const status = (page) => page.locator("#status").textContent();
const titles = (page) => page.locator("#notes .title").allTextContents();

/** Clicks `selector` and waits for a new status line that matches `pattern`. */
async function act(page, selector, pattern) {
  const before = await status(page);
  await page.locator(selector).first().click();
  await page.waitForFunction(
    ([source, old]) => {
      const text = document.getElementById("status").textContent;
      return text !== old && new RegExp(source).test(text);
    },
    [pattern.source, before],
    { timeout: 30_000 },
  );
}

test("demo: browsers register, log in, sync notes both ways, merge a conflict, rotate keys, change the password and recover; the server holds ciphertext only", async () => {
  const a = await openDemo();
  await a.fill("#username", "demo-user");
  await a.fill("#password", "demo password 1");
  await act(a, "#register", /Unlocked/);
  assert.match(await a.locator("#recovery-code").textContent(), /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);

  await a.fill("#note-title", "Groceries");
  await a.fill("#note-text", "SECRET-MARKER oat milk");
  await act(a, "#save", /Synced/);
  assert.deepEqual(await titles(a), ["Groceries"]);
  const shown = await a.locator("#server-view").textContent();
  assert.ok(!shown.includes("SECRET-MARKER"), "the server view shows ciphertext");

  // Wrong password: a clear error, nothing opened.
  const b = await openDemo();
  await b.fill("#username", "demo-user");
  await b.fill("#password", "wrong");
  await act(b, "#login", /INVALID_CREDENTIALS/);
  assert.equal(await b.locator("#vault").isHidden(), true);

  await b.fill("#password", "demo password 1");
  await act(b, "#login", /Synced/);
  assert.deepEqual(await titles(b), ["Groceries"]);
  assert.match(await b.locator("#notes .text").first().textContent(), /oat milk/);

  // B edits; A sees it without pressing Sync (live updates).
  await b.click("#notes .edit");
  await b.fill("#note-text", "SECRET-MARKER oat milk, bread");
  await act(b, "#save", /Synced/);
  await a.waitForFunction(() => /bread/.test(document.querySelector("#notes .text")?.textContent ?? ""), null, { timeout: 10_000 });
  assert.match(await a.locator("#status").textContent(), /^Live: 1 change\(s\) from another device/);
  assert.equal(await a.locator("#live-state").textContent(), "(connected)");
  await act(a, "#sync", /Synced/);
  // Both devices at the same vault head show the same state code: a seq and four words.
  const stateCode = await a.locator("#state-code").textContent();
  assert.match(stateCode, /^\d+( [a-z]+){4}$/);
  assert.equal(await b.locator("#state-code").textContent(), stateCode);
  assert.equal(await a.locator("#reseed").isHidden(), true);
  assert.match(await a.locator("#sync-status").textContent(), /^Last sync: .+; 0 pending\.$/);

  // Both devices go offline (live updates off) for the rest: the steps below sync by hand.
  await a.uncheck("#live");
  await b.uncheck("#live");
  // A concurrent edit of one field on both sides: B keeps its own value and shows A's
  // beside it, so nothing is lost; A then gets B's merged note.
  await a.click("#notes .edit");
  await a.fill("#note-text", "from A");
  await b.click("#notes .edit");
  await b.fill("#note-text", "from B");
  await act(a, "#save", /Synced/);
  await act(b, "#save", /Synced/);
  assert.deepEqual(await titles(b), ["Groceries"]);
  const conflict = await b.locator("#notes .conflict").textContent();
  assert.match(conflict, /\/text: kept "from B"; the other device's "from A"/);
  await b.click("#notes .dismiss");
  assert.equal(await b.locator("#notes .conflict").count(), 0);
  await act(a, "#sync", /Synced/);
  assert.deepEqual(await a.locator("#notes .text").allTextContents(), ["from B"]);

  // A rotates the keys: every note is re-sealed under key 2; B follows on its next sync.
  await act(a, "#rotate", /Keys rotated/);
  const keyIds = await a.locator("#server-view td:nth-child(4)").allTextContents();
  assert.ok(keyIds.length > 0 && keyIds.every((k) => k === "2"), keyIds.join(","));
  await act(b, "#sync", /another device rotated the keys/);
  assert.deepEqual(await b.locator("#notes .text").allTextContents(), ["from B"]);

  // A changes the password; B learns it on its next sync.
  await a.fill("#new-password", "demo password 2");
  await act(a, "#change-password", /Password changed/);
  await act(b, "#sync", /another device changed the password/);

  // The password is forgotten: a third browser recovers with the code and a new one.
  const code = await a.locator("#recovery-code").textContent();
  const c = await openDemo();
  await c.fill("#username", "demo-user");
  await c.fill("#recover-code", "0000-0000-0000-0000-0000-0000-0000-0000");
  await c.fill("#recover-password", "demo password 3");
  await act(c, "#recover", /INVALID_CREDENTIALS/);
  await c.fill("#recover-code", code);
  await act(c, "#recover", /Synced/);
  assert.deepEqual(await titles(c), ["Groceries"]);
  await act(a, "#sync", /another device changed the password/);

  while ((await titles(a)).length) await act(a, "#notes .delete", /Synced/);
  assert.deepEqual(await titles(a), []);
  await act(b, "#sync", /Synced/);
  assert.deepEqual(await titles(b), []);

  await act(a, "#logout", /Logged out/);
  assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);

  // The database file never held the plaintext.
  const db = await readFile(join(server.dir, "vaultsync.db"));
  let wal = Buffer.alloc(0);
  try { wal = await readFile(join(server.dir, "vaultsync.db-wal")); } catch {}
  assert.ok(!Buffer.concat([db, wal]).includes("SECRET-MARKER"), "no plaintext in the database");
  for (const secret of ["demo password", code]) {
    assert.ok(!Buffer.concat([db, wal]).includes(secret), "no password or recovery code in the database");
  }
});

test("demo: a second browser profile joins without the password by comparing phrases; the first sees the devices, revokes it, and it erases its data", async () => {
  const a = await openDemo();
  await a.fill("#username", "demo-linker");
  await a.fill("#password", "demo password");
  await act(a, "#register", /Unlocked/);
  await a.fill("#note-title", "Shared note");
  await act(a, "#save", /Synced/);

  const b = await openDemo();
  await b.fill("#username", "demo-linker");
  await b.fill("#link-label", "second profile");
  await b.locator("#link").click();
  await b.waitForFunction(() => /^[a-z]+( [a-z]+){5}$/.test(document.getElementById("link-phrase").textContent));
  const phrase = await b.locator("#link-phrase").textContent();

  // The first profile sees the request (within its 5 s refresh) with the same words.
  const offer = a.locator("#links .link-offer");
  await offer.waitFor({ timeout: 15_000 });
  assert.equal(await offer.locator("strong").textContent(), phrase, "both profiles show the same phrase");
  await act(a, "#links .approve", /Approved "second profile"/);
  await b.waitForFunction(() => /Synced/.test(document.getElementById("status").textContent), null, { timeout: 30_000 });
  assert.deepEqual(await titles(b), ["Shared note"], "the new profile opened the vault without the password");

  // Both profiles list both devices; the first revokes the second.
  await a.locator("#devices-refresh").click();
  await a.locator("#devices .device").nth(1).waitFor();
  assert.deepEqual(
    (await a.locator("#devices .device").allTextContents()).map((t) => t.split(",")[0]).sort(),
    ["demo page (this device)", "second profile"],
  );
  a.once("dialog", (d) => d.accept());
  await act(a, "#devices .device:not(.current) .revoke", /Revoked "second profile"/);
  await act(b, "#sync", /DEVICE_REVOKED/);
  assert.equal(await b.locator("#erase").isVisible(), true, "the revoked profile offers to erase");
  b.once("dialog", (d) => d.accept());
  await act(b, "#erase", /Erased/);
  assert.equal(await b.locator("#vault").isVisible(), false);
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test("demo: a note's history is shown and an earlier version restored as a new one", async () => {
  const a = await openDemo();
  await a.fill("#username", "demo-history");
  await a.fill("#password", "demo password");
  await act(a, "#register", /Unlocked/);
  await a.fill("#note-title", "First title");
  await act(a, "#save", /Synced/);
  await a.locator("#notes .edit").first().click();
  await a.fill("#note-title", "Second title");
  await act(a, "#save", /Synced/);
  assert.deepEqual(await titles(a), ["Second title"]);
  await a.locator("#notes .show-history").first().click();
  const past = a.locator("#notes .history .past");
  await past.first().waitFor();
  assert.match(await past.first().textContent(), /v1, .*"First title"/);
  await act(a, "#notes .history .restore", /Restored version 1 of "Second title"/);
  assert.deepEqual(await titles(a), ["First title"]);
  assert.deepEqual(a.errors, []);
});
