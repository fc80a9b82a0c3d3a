// A/B benchmark of two builds of the npm package (figures, not pass/fail): the push of
// 10,000 x 1 KiB records by a new account, and the initial sync of such a vault by a new
// device, run alternately A, B, A, B… in one Node process and in one Chromium, each side
// against its own release server (`--a-server`/`--b-server`; both default to the current
// build, so that a protocol change can be compared with the server of its time).
// Usage: node bench/ab-sync.mjs --a DIR --b DIR [--a-server BIN] [--b-server BIN] [--reps N]
//   (DIRs hold a built pkg/)
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startServer, REPO } from "../lib/server.mjs";
import { launchBrowser } from "../lib/harness.mjs";
import { initialSync, pushSync, median, record } from "./sync-core.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const reps = Number(arg("reps", 7));
const N = 10000;
const log = (m) => process.stderr.write(`[ab-sync] ${m}\n`);
const password = "bench password";
const limits = ["--login-attempts-per-address", "100000", "--login-attempts-per-account", "100000"];

const sides = [];
try {
  for (const name of ["a", "b"]) {
    const dir = resolve(arg(name, join(REPO, "pkg")));
    const bin = arg(`${name}-server`, undefined);
    const server = await startServer(
      ["--static", `/bench=${join(REPO, "www/bench")}`, "--static", `/pkg-ab=${dir}`, ...limits],
      { bin: bin && resolve(bin) },
    );
    const pkg = await import(pathToFileURL(join(dir, "node.js")).href);
    sides.push({ name, dir, bin: bin ?? "current build", server, pkg, node: { push: [], initial: [] }, page: { push: [], initial: [] } });
  }
  for (const side of sides) {
    log(`seeding ${N} x 1 KiB on ${side.name}`);
    const { client } = await side.pkg.SyncClient.register(side.server.url, "ab10k", password, { iterations: 100000 });
    for (let i = 0; i < N; i++) await client.put(record(i, 1024));
    await client.sync();
    client.free();
  }

  log(`Node: ${reps} pushes and initial syncs each, alternately`);
  for (let i = 0; i < reps; i++) {
    for (const side of sides) {
      side.node.push.push(await pushSync(side.pkg.SyncClient, side.server.url, `node${i}`, password, N));
      const run = await initialSync(side.pkg.SyncClient, side.server.url, "ab10k", password);
      if (run.count !== N) throw new Error(`${side.name} synced ${run.count} records`);
      side.node.initial.push(run.ms);
      run.client.free();
    }
  }

  log(`Chromium: ${reps} pushes and initial syncs each, alternately`);
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    for (const side of sides) {
      side.tab = await context.newPage();
      await side.tab.goto(`${side.server.url}/bench/ab-page.html`);
      await side.tab.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
    }
    for (let i = 0; i < reps; i++) {
      for (const side of sides) {
        await side.tab.bringToFront();
        side.page.push.push(await side.tab.evaluate(([u, p, n]) => window.bench?.push(u, p, n), [`page${i}`, password, N]));
        const run = await side.tab.evaluate(([u, p]) => window.bench?.initial(u, p), ["ab10k", password]);
        if (run.count !== N) throw new Error(`${side.name} synced ${run.count} records in Chromium`);
        side.page.initial.push(run.ms);
      }
    }
  } finally {
    await browser.close();
  }

  const [a, b] = sides;
  const us = (ms) => ((ms * 1000) / N).toFixed(1);
  const line = (what, where, key) => {
    const [ma, mb] = [median(a[where][key]), median(b[where][key])];
    return `| ${what} | ${ma.toFixed(0)} (${us(ma)} µs/record) | ${mb.toFixed(0)} (${us(mb)} µs/record) | ${us(mb - ma)} µs | ${(mb / ma).toFixed(3)}x |`;
  };
  for (const side of sides) console.log(`${side.name.toUpperCase()} = ${side.dir} with server ${side.bin}`);
  console.log(`\n| median of ${reps}, 10,000 x 1 KiB, ms | A | B | B - A per record | B/A |`);
  console.log("| --- | --- | --- | --- | --- |");
  console.log(line("push, Node", "node", "push"));
  console.log(line("initial sync, Node", "node", "initial"));
  console.log(line("push, Chromium", "page", "push"));
  console.log(line("initial sync, Chromium", "page", "initial"));
} finally {
  for (const side of sides) await side.server.stop();
}
