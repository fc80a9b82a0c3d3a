// A/B benchmark of two builds of the npm package (figures, not pass/fail): the initial
// sync of a 10,000 x 1 KiB vault, run alternately A, B, A, B… in the same Node process
// and in the same Chromium page, against one release server. Used to check that a change
// (a size optimisation, a new format) does not slow the sync down: compare in one run.
// Usage: node bench/ab-sync.mjs --a DIR --b DIR [--reps N]   (DIRs hold a built pkg/)
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startServer, REPO } from "../lib/server.mjs";
import { launchBrowser, pageResult } from "../lib/harness.mjs";
import { initialSync, median, record, now } from "./sync-core.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const dirs = { a: resolve(arg("a", join(REPO, "pkg"))), b: resolve(arg("b", join(REPO, "pkg"))) };
const reps = Number(arg("reps", 7));
const log = (m) => process.stderr.write(`[ab-sync] ${m}\n`);

const server = await startServer([
  "--static", `/bench=${join(REPO, "www/bench")}`,
  "--static", `/pkg-a=${dirs.a}`,
  "--static", `/pkg-b=${dirs.b}`,
  "--login-attempts-per-address", "100000",
  "--login-attempts-per-account", "100000",
]);
const password = "bench password";
try {
  const [a, b] = await Promise.all([dirs.a, dirs.b].map((d) => import(pathToFileURL(join(d, "node.js")).href)));
  log("seeding 10,000 x 1 KiB with A");
  const registered = await a.SyncClient.register(server.url, "ab10k", password, { iterations: 100000 });
  const seed = registered.client;
  for (let i = 0; i < 10000; i++) await seed.put(record(i, 1024));
  await seed.sync();

  log(`Node: ${reps} initial syncs each, alternately`);
  const node = { a: [], b: [] };
  for (let i = 0; i < reps; i++) {
    for (const [name, pkg] of [["a", a], ["b", b]]) {
      const run = await initialSync(pkg.SyncClient, server.url, "ab10k", password);
      if (run.count !== 10000) throw new Error(`${name} synced ${run.count} records`);
      node[name].push(run.ms);
      run.client.free();
    }
  }

  log(`Chromium: ${reps} initial syncs each, alternately`);
  const browser = await launchBrowser();
  let chromium;
  try {
    const context = await browser.newContext();
    const q = new URLSearchParams({ user: "ab10k", password, reps: String(reps) });
    chromium = await pageResult(context, `${server.url}/bench/ab-page.html?${q}`, 600_000);
    if (!chromium.ok) throw new Error(chromium.error);
  } finally {
    await browser.close();
  }
  const line = (where, runs) => {
    const [ma, mb] = [median(runs.a), median(runs.b)];
    return `| ${where} | ${ma.toFixed(0)} | ${mb.toFixed(0)} | ${(mb / ma).toFixed(3)}x |`;
  };
  console.log(`A = ${dirs.a}\nB = ${dirs.b}\n`);
  console.log("| initial sync, 10,000 x 1 KiB (median ms) | A | B | B/A |");
  console.log("| --- | --- | --- | --- |");
  console.log(line("Node", node));
  console.log(line("Chromium", chromium.runs));
} finally {
  await server.stop();
}
