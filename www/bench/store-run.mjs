// Device-store benchmark (figures, not pass/fail): in headless Chromium against the
// release server, for a 10,000 x 1 KiB and a 50,000 x 256 B vault: the first sync into
// IndexedDB vs in memory, one edit persisted (time, bytes), reopening with the session
// secret and with the password, the WASM memory, and save()/resume() of the same vault
// measured in the same page as the reference. Then large records: the first sync of
// 1,000 x 64 KiB (opened with WebCrypto) vs WebCrypto's decryption alone and vs AES in WASM.
// Usage: node bench/store-run.mjs   (scripts/bench-store.sh builds first; SMALL_ONLY=1: only
// 10,000 x 1 KiB and no large records; LARGE_ONLY=1: only
// the large records)
import { join } from "node:path";
import init, { SyncClient } from "vaultsync";
import { startServer, REPO } from "../lib/server.mjs";
import { launchBrowser, pageResult } from "../lib/harness.mjs";
import { record } from "./sync-core.mjs";

const log = (m) => process.stderr.write(`[bench-store] ${m}\n`);
await init();
const server = await startServer([
  "--static", `/bench=${join(REPO, "www/bench")}`,
  "--login-attempts-per-address", "100000",
  "--login-attempts-per-account", "100000",
]);
const password = "bench password";
const iterations = 100000;
const kdf = { algorithm: "pbkdf2-sha256", iterations, salt: "AAAAAAAAAAAAAAAAAAAAAA" };
const rows = [];
try {
  const browser = await launchBrowser();
  try {
    const sizes = process.env.SMALL_ONLY ? [[10000, 1024]] : [[10000, 1024], [50000, 256]];
    for (const [count, size] of process.env.LARGE_ONLY ? [] : sizes) {
      const user = `store${count}`;
      log(`seeding ${count} x ${size} B`);
      const { client } = await SyncClient.register(server.url, user, password, { iterations });
      for (let i = 0; i < count; i++) client.put(record(i, size));
      await client.sync();
      client.free();
      log(`Chromium: ${count} x ${size} B`);
      const context = await browser.newContext();
      const q = new URLSearchParams({ user, password, count: String(count), kdf: JSON.stringify(kdf) });
      const r = await pageResult(context, `${server.url}/bench/store-page.html?${q}`, 600_000);
      await context.close();
      if (!r.ok) throw new Error(r.error);
      if (r.records !== count) throw new Error(`reopened ${r.records} of ${count} records`);
      rows.push({ size, ...r });
    }
  } finally {
    await browser.close();
  }
  const ms = (x) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
  const mib = (x) => `${(x / 1048576).toFixed(1)} MiB`;
  console.log("| Chromium, IndexedDB store | " + rows.map((r) => `${r.count} x ${r.size} B`).join(" | ") + " |");
  console.log("| --- |" + rows.map(() => " ---: |").join(""));
  const line = (name, f) => console.log(`| ${name} | ${rows.map(f).join(" | ")} |`);
  line("first sync into IndexedDB (login + sync), median of 3", (r) => `${ms(r.idbLoginAndSync)} (${r.idbRuns})`);
  line("first sync in memory (reference, same page)", (r) => ms(r.memorySync));
  line("one edit persisted (put + flush), median of 50", (r) => ms(r.editMs));
  line("bytes written for one edit (the entries it changed)", (r) => `${r.editBytes} B`);
  line("reopen with the session secret, to the first get", (r) => ms(r.reopenSession));
  line("reopen with the password, to the first get", (r) => ms(r.reopenPassword));
  line("PBKDF2 alone (100,000 iterations)", (r) => ms(r.pbkdf2));
  line("save() (reference: the whole vault)", (r) => `${ms(r.save)}, ${mib(r.savedBytes)}`);
  line("resume() (reference, PBKDF2 included)", (r) => ms(r.resume));
  line("WASM memory after the first sync into IndexedDB", (r) => mib(r.wasmAfterSync));
  line("WASM memory after reopening 3 + 1 times (high-water)", (r) => mib(r.wasmEnd));
  line("records' plaintext", (r) => mib(r.count * r.size));

  if (!process.env.SMALL_ONLY) await largeRecords();
} finally {
  await server.stop();
}

async function largeRecords() {
  log("seeding 1,000 x 64 KiB");
  const { client: large } = await SyncClient.register(server.url, "large1000", password, { iterations });
  for (let i = 0; i < 1000; i++) large.put({ n: i, text: "z".repeat(65536 - 40) });
  await large.sync();
  large.free();
  log("Chromium: 1,000 x 64 KiB");
  const browser2 = await launchBrowser();
  try {
    const context = await browser2.newContext();
    const q = new URLSearchParams({ user: "large1000", password, count: "1000", size: String(65536 + 16) });
    const r = await pageResult(context, `${server.url}/bench/large-page.html?${q}`, 600_000);
    if (!r.ok) throw new Error(r.error);
    if (r.records !== 1000) throw new Error(`synced ${r.records} of 1000 large records`);
    console.log("\n| Chromium, 1,000 x 64 KiB | ms | vs WebCrypto alone |");
    console.log("| --- | ---: | ---: |");
    console.log(`| first sync, the package (large records through WebCrypto) | ${r.sync.toFixed(0)} | ${(r.sync / r.webcrypto).toFixed(2)}x |`);
    console.log(`| first sync, the package with WebCrypto hidden (AES in WASM) | ${r.wasmSync.toFixed(0)} | ${(r.wasmSync / r.webcrypto).toFixed(2)}x |`);
    console.log(`| WebCrypto's decryption alone of 1,000 x 64 KiB (reference) | ${r.webcrypto.toFixed(0)} | 1x |`);
  } finally {
    await browser2.close();
  }
}
