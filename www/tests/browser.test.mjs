// The npm package in headless Chromium: in a page (ESM, plus the WebCrypto cross-check of
// FORMAT.md), in an MV3 extension's service worker, and bundled by Vite.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import init, { SyncClient } from "vaultsync";
import { serveStatic, launch, pageResult } from "../lib/harness.mjs";
import { startServer } from "../lib/server.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
let server;
let syncServer;
let browser;
const temps = [];

before(async () => {
  await init();
  server = await serveStatic(repo);
  syncServer = await startServer(["--static", `/tests=${join(repo, "www/tests/pages")}`]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await syncServer?.stop();
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

test("page (ESM): package works and the WebCrypto cross-check passes in Chromium", async () => {
  const result = await pageResult(browser.context, `${server.url}/www/tests/pages/package.html`);
  assert.equal(result.error, undefined);
  assert.deepEqual(result, {
    ok: true,
    checks: ["vectors", "package->webcrypto", "webcrypto->package"],
    value: { n: 1 },
    code: "WRONG_PASSWORD",
  });
});

test("page: SyncClient registers, syncs and logs in against the server", async () => {
  const result = await pageResult(browser.context, `${syncServer.url}/tests/sync.html`);
  assert.equal(result.error, undefined);
  assert.equal(result.ok, true);
  assert.deepEqual(result.value, { n: 1 });
  assert.deepEqual(result.events, [{ type: "changed", id: result.id, value: { n: 1 } }]);
});

test("MV3 extension service worker: register, bookmark, sync, lock, unlock with the password, sync again", async () => {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-extension-"));
  temps.push(dir);
  await cp(join(repo, "www/extension"), dir, { recursive: true });
  await cp(join(repo, "pkg/vaultsync.js"), join(dir, "vendor/vaultsync.js"));
  await cp(join(repo, "pkg/vaultsync_bg.wasm"), join(dir, "vendor/vaultsync_bg.wasm"));
  const ext = await launch({ extensionDir: dir });
  try {
    let [worker] = ext.context.serviceWorkers();
    worker ??= await ext.context.waitForEvent("serviceworker", { timeout: 30_000 });
    // SyncClient in the worker against the real server (host permission, no CORS), the
    // session saved sealed in chrome.storage.local, locked and unlocked with the password.
    const synced = await worker.evaluate(async (server) => {
      const { handle } = /** @type {any} */ (self).vaultsyncExample;
      const code = async (message) => {
        try {
          await handle(message);
          return "no error";
        } catch (e) {
          return e.code;
        }
      };
      const out = { hasDocument: typeof document !== "undefined" };
      const args = { server, username: "ext-user", password: "ext pw", register: true };
      out.connected = await handle({ type: "connect", ...args });
      await handle({ type: "bookmark", url: "https://synced.example" });
      out.first = await handle({ type: "sync" });
      await handle({ type: "lock" });
      out.locked = await code({ type: "list" });
      out.wrong = await code({ type: "unlock", password: "wrong" });
      out.stored = JSON.stringify(await chrome.storage.local.get(null));
      out.unlocked = await handle({ type: "unlock", password: "ext pw" });
      out.again = await handle({ type: "sync" });
      return out;
    }, syncServer.url);
    assert.equal(synced.hasDocument, false);
    assert.match(synced.connected.recoveryCode, /^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    assert.deepEqual(synced.first.bookmarks, ["https://synced.example"]);
    assert.equal(synced.locked, "LOCKED");
    assert.equal(synced.wrong, "WRONG_PASSWORD");
    assert.equal(synced.unlocked.pending, 0);
    assert.deepEqual(synced.again.bookmarks, ["https://synced.example"]);
    assert.ok(!synced.stored.includes("synced.example"), "plaintext reached chrome.storage");
    const phone = await SyncClient.login(syncServer.url, "ext-user", "ext pw");
    await phone.sync();
    assert.deepEqual(phone.records().map((r) => /** @type {any} */ (r.value).url), ["https://synced.example"]);
    phone.free();
  } finally {
    await ext.close();
  }
});

test("bundler (Vite): the package imported by name works in the bundle", async () => {
  const out = await mkdtemp(join(tmpdir(), "vaultsync-vite-"));
  temps.push(out);

  await build({
    root: join(repo, "www/bundler-app"),
    logLevel: "warn",
    build: { outDir: out, emptyOutDir: true, target: "es2022" },
  });
  const assets = await readdir(join(out, "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `no .wasm emitted: ${assets}`);
  const dist = await serveStatic(out);
  try {
    const result = await pageResult(browser.context, `${dist.url}/index.html`);
    assert.deepEqual(result, { ok: true, text: "through the bundler" });
  } finally {
    await dist.close();
  }
});
