// The npm package in headless Chromium: in a page (ESM, plus the WebCrypto cross-check of
// FORMAT.md), in an MV3 extension's service worker, and bundled by Vite.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { serveStatic, launch, pageResult } from "../lib/harness.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
let server;
let browser;
const temps = [];

before(async () => {
  server = await serveStatic(repo);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
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

test("MV3 extension service worker: create, seal, store, unlock, open", async () => {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-extension-"));
  temps.push(dir);
  await cp(join(repo, "www/extension"), dir, { recursive: true });
  await cp(join(repo, "pkg/vaultsync.js"), join(dir, "vendor/vaultsync.js"));
  await cp(join(repo, "pkg/vaultsync_bg.wasm"), join(dir, "vendor/vaultsync_bg.wasm"));
  const ext = await launch({ extensionDir: dir });
  try {
    let [worker] = ext.context.serviceWorkers();
    worker ??= await ext.context.waitForEvent("serviceworker", { timeout: 30_000 });
    const result = await worker.evaluate(async () => {
      const { handle } = self.vaultsyncExample;
      const out = { hasDocument: typeof document !== "undefined" };
      out.created = await handle({ type: "create", password: "sw password" });
      await handle({ type: "put", value: { url: "https://example.com" } });
      await handle({ type: "lock" });
      try {
        await handle({ type: "unlock", password: "wrong" });
      } catch (e) {
        out.wrong = e.code;
      }
      await handle({ type: "unlock", password: "sw password" });
      out.list = await handle({ type: "list" });
      out.stored = JSON.stringify(await chrome.storage.local.get(null));
      return out;
    });
    assert.equal(result.hasDocument, false);
    assert.match(result.created.recoveryCode, /^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    assert.equal(result.wrong, "WRONG_PASSWORD");
    assert.equal(result.list.length, 1);
    assert.deepEqual(result.list[0].value, { url: "https://example.com" });
    assert.ok(!result.stored.includes("example.com"), "plaintext reached chrome.storage");
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
