// The benchmark: prints, from one run, unlock (cold and warm) and seal+open figures of the
// package vs WebCrypto vs @noble/ciphers in Node and in headless Chromium, the native
// figures (cargo example `bench`), and the .wasm size. Usage: node bench/run.mjs [--reps N]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import init, * as pkg from "vaultsync";
import { gcm } from "@noble/ciphers/aes.js";
import { warmBench, median } from "./core.mjs";
import { serveStatic, launchBrowser, pageResult } from "../lib/harness.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const reps = Number(process.argv[process.argv.indexOf("--reps") + 1] || 5) || 5;
const COLD_RUNS = 5;
const log = (m) => process.stderr.write(`[bench] ${m}\n`);
await init();

const password = "benchmark password";
const { envelope } = await pkg.createVault(password);

// Node
log("Node: warm");
const node = await warmBench({ pkg, gcm, reps, log });
for (const mode of ["package", "webcrypto", "fallback"]) {
  log(`Node: cold ${mode}`);
  const runs = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const r = spawnSync(process.execPath, ["bench/node-cold.mjs", mode, envelope, password], {
      cwd: fileURLToPath(new URL("../", import.meta.url)),
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(r.stderr);
    runs.push(JSON.parse(r.stdout));
  }
  node[`cold_${mode}`] = median(runs.map((x) => x.ms));
  if (mode === "package") node.load = median(runs.map((x) => x.loadMs));
}

// Chromium
const server = await serveStatic(repo);
const browser = await launchBrowser();
const chromium = {};
try {
  const page = async (query) => {
    const context = await browser.newContext();
    try {
      const r = await pageResult(context, `${server.url}/www/bench/page.html?${query}`, 600_000);
      if (!r.ok) throw new Error(r.error);
      return r;
    } finally {
      await context.close();
    }
  };
  log("Chromium: warm");
  Object.assign(chromium, (await page(`mode=warm&reps=${reps}`)).figures);
  for (const mode of ["package", "webcrypto", "fallback"]) {
    log(`Chromium: cold ${mode}`);
    const runs = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const q = new URLSearchParams({ mode, envelope, password });
      runs.push(await page(q.toString()));
    }
    chromium[`cold_${mode}`] = median(runs.map((x) => x.ms));
    if (mode === "package") chromium.load = median(runs.map((x) => x.loadMs));
  }
} finally {
  await browser.close();
  await server.close();
}

// Native
log("native: cargo run --release --example bench");
const nativeRun = spawnSync("cargo", ["run", "-q", "--release", "--example", "bench"], {
  cwd: repo,
  encoding: "utf8",
});
if (nativeRun.status !== 0) throw new Error(nativeRun.stderr);
const native = JSON.parse(nativeRun.stdout);

const wasm = readFileSync(new URL("../../pkg/vaultsync_bg.wasm", import.meta.url));
const gz = gzipSync(wasm, { level: 9 }).length;

const f = (x) => (x === undefined ? "–" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
const rows = [];
const row = (...cells) => rows.push(`| ${cells.join(" | ")} |`);
console.log(`Benchmark ${new Date().toISOString()}, median of ${reps} warm runs, ${COLD_RUNS} cold runs; ms, lower is better.\n`);
row("operation", "Node: package", "Node: WebCrypto", "Node: @noble", "Chromium: package", "Chromium: WebCrypto", "Chromium: @noble", "native");
row("---", "---", "---", "---", "---", "---", "---", "---");
row("unlock warm (PBKDF2 600k + unwrap) vs PBKDF2 alone", f(node.unlockPackage), f(node.pbkdf2WebCrypto), "", f(chromium.unlockPackage), f(chromium.pbkdf2WebCrypto), "", f(native.unlock));
row("unlock cold (first call after load) vs PBKDF2 alone", f(node.cold_package), f(node.cold_webcrypto), "", f(chromium.cold_package), f(chromium.cold_webcrypto), "", "");
row("package load (import + compile + init), once per runtime", f(node.load), "", "", f(chromium.load), "", "", "");
row("unlock cold, pure-WASM fallback (no WebCrypto)", f(node.cold_fallback), "", "", f(chromium.cold_fallback), "", "", f(native.pbkdf2));
row("seal+open 10,000 x 1 KiB", f(node.sealOpen1kPackage), f(node.sealOpen1kWebCrypto), f(node.sealOpen1kNoble), f(chromium.sealOpen1kPackage), f(chromium.sealOpen1kWebCrypto), f(chromium.sealOpen1kNoble), f(native.sealOpen1k));
row("seal+open 100 x 64 KiB", f(node.sealOpen64kPackage), f(node.sealOpen64kWebCrypto), f(node.sealOpen64kNoble), f(chromium.sealOpen64kPackage), f(chromium.sealOpen64kWebCrypto), f(chromium.sealOpen64kNoble), f(native.sealOpen64k));
console.log(rows.join("\n"));
console.log(`
Ratios (targets in BENCHMARKS.md):
- unlock warm / WebCrypto PBKDF2: Node ${ratio(node.unlockPackage, node.pbkdf2WebCrypto)}, Chromium ${ratio(chromium.unlockPackage, chromium.pbkdf2WebCrypto)} (target <= 1.25x)
- unlock cold / WebCrypto PBKDF2 cold: Node ${ratio(node.cold_package, node.cold_webcrypto)}, Chromium ${ratio(chromium.cold_package, chromium.cold_webcrypto)} (target <= 1.25x)
- seal+open 1 KiB, package / WebCrypto: Node ${ratio(node.sealOpen1kPackage, node.sealOpen1kWebCrypto)}, Chromium ${ratio(chromium.sealOpen1kPackage, chromium.sealOpen1kWebCrypto)} (target <= 1.3x in Chromium)
- seal+open 1 KiB, @noble / package: Node ${ratio(node.sealOpen1kNoble, node.sealOpen1kPackage)}, Chromium ${ratio(chromium.sealOpen1kNoble, chromium.sealOpen1kPackage)} (target >= 4x)
- seal+open 64 KiB, package / WebCrypto: Node ${ratio(node.sealOpen64kPackage, node.sealOpen64kWebCrypto)}, Chromium ${ratio(chromium.sealOpen64kPackage, chromium.sealOpen64kWebCrypto)}
- .wasm: ${wasm.length} B raw, ${gz} B gzip -9 (${(gz / 1024).toFixed(1)} KiB; target <= 60 KiB)`);
