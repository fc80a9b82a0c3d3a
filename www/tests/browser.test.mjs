// The npm package in headless Chromium: in a page (ESM, plus the WebCrypto cross-check of
// FORMAT.md) and bundled by Vite. The MV3 extension has its own file (extension.test.mjs).
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

test("page (ESM): package works and the WebCrypto cross-check (device linking's HPKE included) passes in Chromium", async () => {
  const result = await pageResult(browser.context, `${server.url}/www/tests/pages/package.html`);
  assert.equal(result.error, undefined);
  assert.deepEqual(result, {
    ok: true,
    checks: ["vectors", "package->webcrypto", "webcrypto->package", "hpke-rfc9180", "link-phrase", "link-grant"],
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
