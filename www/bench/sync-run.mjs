// Sync benchmark (figures, not pass/fail), in one run against the release server on a
// fresh SQLite file: initial sync of 10,000 x 1 KiB records in Node and headless Chromium,
// delta sync (1 change) vs an empty sync in a 100,000-record vault, export/import of the
// 10,000-record session, the WASM memory after the initial sync in Chromium, and a key
// rotation of the 10,000-record vault against its first push.
// Usage: node bench/sync-run.mjs [--reps N]   (scripts/bench-sync.sh builds first)
import { join } from "node:path";
import init, { SyncClient, deriveKeys } from "vaultsync";
import { startServer, REPO } from "../lib/server.mjs";
import { launchBrowser, pageResult } from "../lib/harness.mjs";
import { initialSync, deltaSync, exportImport, record, now } from "./sync-core.mjs";

const reps = Number(process.argv[process.argv.indexOf("--reps") + 1] || 3) || 3;
const log = (m) => process.stderr.write(`[bench-sync] ${m}\n`);
await init();
const server = await startServer([
  "--static", `/bench=${join(REPO, "www/bench")}`,
  "--login-attempts-per-address", "100000",
  "--login-attempts-per-account", "100000",
]);
const password = "bench password";
const opts = { iterations: 100000 };
try {
  log("seeding 10,000 x 1 KiB");
  const { client: seed } = await SyncClient.register(server.url, "bench10k", password, opts);
  for (let i = 0; i < 10000; i++) seed.put(record(i, 1024));
  let t = now();
  await seed.sync();
  const push10k = now() - t;

  log("Node: initial sync");
  const nodeRuns = [];
  let last;
  for (let i = 0; i < reps; i++) {
    last?.client.free();
    last = await initialSync(SyncClient, server.url, "bench10k", password);
    nodeRuns.push(last.ms);
  }
  nodeRuns.sort((a, b) => a - b);
  const nodeInitial = nodeRuns[Math.floor(nodeRuns.length / 2)];
  const nodeIo = await exportImport(SyncClient, server.url, last.client, password);
  /** @type {import("vaultsync").VaultsyncKdf} */
  const kdf = { algorithm: "pbkdf2-sha256", iterations: opts.iterations, salt: "AAAAAAAAAAAAAAAAAAAAAA" };
  t = now();
  (await deriveKeys(password, kdf)).free();
  const nodePbkdf2 = now() - t;

  log("Chromium: initial sync");
  const browser = await launchBrowser();
  let chromium;
  try {
    const context = await browser.newContext();
    const q = new URLSearchParams({ user: "bench10k", password, reps: String(reps), kdf: JSON.stringify(kdf) });
    chromium = await pageResult(context, `${server.url}/bench/sync-page.html?${q}`, 300_000);
    if (!chromium.ok) throw new Error(chromium.error);
  } finally {
    await browser.close();
  }

  log("seeding a 100,000-record vault (256 B records)");
  const { client: big } = await SyncClient.register(server.url, "bench100k", password, opts);
  for (let i = 0; i < 100000; i++) big.put(record(i, 256));
  t = now();
  await big.sync();
  const push100k = now() - t;
  const reader = await SyncClient.login(server.url, "bench100k", password);
  t = now();
  await reader.sync();
  const initial100k = now() - t;
  log("Node: delta sync");
  const delta = await deltaSync(reader, big, 20);

  log("Node: key rotation of the 10,000-record vault");
  let batches = 0;
  const rotator = await SyncClient.resume(server.url, seed.save(), password, {
    onProgress: (p) => p.phase === "rotate" && batches++,
  });
  t = now();
  await rotator.rotateKeys();
  const rotate10k = now() - t;

  const f = (x) => x.toFixed(x < 10 ? 2 : 0);
  console.log("vaultsync sync benchmark (release server on SQLite, package in Node and headless Chromium)");
  console.log(`push 10,000 x 1 KiB from one device: ${f(push10k)} ms`);
  console.log(`initial sync of 10,000 x 1 KiB (pull, verify, decrypt): Node ${f(nodeInitial)} ms, Chromium ${f(chromium.initial)} ms (target < 1000 ms in Chromium); ${chromium.count} records`);
  console.log(`WASM memory after the initial sync in Chromium: ${(chromium.memoryBytes / 1048576).toFixed(1)} MiB`);
  console.log(`save() of the 10,000-record session: Node ${f(nodeIo.save)} ms, Chromium ${f(chromium.io.save)} ms (${(nodeIo.bytes / 1048576).toFixed(1)} MiB); resume(): Node ${f(nodeIo.resume)} ms, Chromium ${f(chromium.io.resume)} ms, of which PBKDF2 100,000 Node ${f(nodePbkdf2)} ms, Chromium ${f(chromium.pbkdf2)} ms`);
  console.log(`100,000-record vault (256 B records): push ${f(push100k)} ms, initial sync ${f(initial100k)} ms`);
  console.log(`sync with 1 change in the 100,000-record vault: ${f(delta.one)} ms vs empty sync ${f(delta.empty)} ms = ${(delta.one / delta.empty).toFixed(2)}x (target < 2x)`);
  console.log(`key rotation of the 10,000 x 1 KiB vault (re-seal and push every record in ${batches} batches, retire the old key): ${f(rotate10k)} ms = ${(rotate10k / push10k).toFixed(2)}x the first push of the same records`);
  console.log(JSON.stringify({ push10k, nodeInitial, chromium, nodeIo, nodePbkdf2, push100k, initial100k, delta, rotate10k }));
} finally {
  await server.stop();
}
