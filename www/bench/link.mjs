// Device-linking benchmark (figures, not pass/fail): a new device joins a vault of 1,000
// records of 1 KiB without the password, end to end: the request, the approving device
// seeing it (live hint, then pendingLinks), the approval, the new device's claim (it asks
// every 1.5 s), and its first sync. The new device runs in Node and in a Chromium page;
// the approving device is a Node client. Medians of RUNS links each.
// Usage: node --experimental-websocket bench/link.mjs   (scripts/bench-link.sh builds first)
import { SyncClient } from "vaultsync";
import { startServer } from "../lib/server.mjs";
import { launchBrowser } from "../lib/harness.mjs";

const log = (m) => process.stderr.write(`[bench-link] ${m}\n`);
const RUNS = Number(process.env.RUNS ?? 5);
const RECORDS = 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startServer(["--login-attempts-per-address", "100000", "--login-attempts-per-account", "100000"]);
const browser = await launchBrowser();
try {
  const { client: laptop } = await SyncClient.register(server.url, "bench-link", "pw", { iterations: 100000 });
  for (let i = 0; i < RECORDS; i++) laptop.put({ title: `record ${i}`, body: "x".repeat(1000) });
  await laptop.sync();
  let hints = 0;
  let up = false;
  laptop.live({ onLink: () => (hints += 1), onConnection: (c) => (up = c) });
  while (!up) await new Promise((ok) => setTimeout(ok, 20));

  /** The approving side: waits for the live hint after `before` hints, finds the phrase, approves. */
  async function approve(phrase, before) {
    const deadline = Date.now() + 10_000;
    while (hints === before) {
      if (Date.now() > deadline) throw new Error("no live hint of the request");
      await new Promise((ok) => setTimeout(ok, 2));
    }
    const hinted = performance.now();
    const offer = (await laptop.pendingLinks()).find((o) => o.phrase === phrase);
    if (!offer) throw new Error("the request is not listed with its phrase");
    await laptop.approveLink(offer.requestId);
    return hinted;
  }

  const rows = [];
  // Node: the new device in this process.
  const node = { hint: [], approved: [], sync: [], total: [] };
  for (let run = 0; run < RUNS; run++) {
    const before = hints;
    const t0 = performance.now();
    const request = SyncClient.requestLink(server.url, "bench-link", `node ${run}`);
    const hinted = await approve(request.phrase, before);
    const approvedAt = performance.now();
    const phone = await request.approved();
    const claimed = performance.now();
    await phone.sync();
    const synced = performance.now();
    if ((await phone.records()).length !== RECORDS) throw new Error("the first sync is incomplete");
    node.hint.push(hinted - t0);
    node.approved.push(claimed - approvedAt);
    node.sync.push(synced - claimed);
    node.total.push(synced - t0);
    phone.free();
  }
  rows.push(["Node", node]);
  log("Node done");

  // Chromium: the new device in a page of the server's origin.
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => /** @type {any} */ (window).__demoReady === true);
  const chromium = { hint: [], approved: [], sync: [], total: [] };
  for (let run = 0; run < RUNS; run++) {
    const before = hints;
    const t0 = performance.now();
    const phrase = await page.evaluate(async (label) => {
      const { SyncClient } = await import("/pkg/vaultsync.js");
      const w = /** @type {any} */ (window);
      w.t0 = performance.now();
      w.request = SyncClient.requestLink(location.origin, "bench-link", label);
      w.done = (async () => {
        const phone = await w.request.approved();
        const claimed = performance.now();
        await phone.sync();
        const synced = performance.now();
        const n = (await phone.records()).length;
        phone.free();
        return { claimed: claimed - w.t0, synced: synced - w.t0, n };
      })();
      return w.request.phrase;
    }, `chromium ${run}`);
    const hinted = await approve(phrase, before);
    const approvedAfter = performance.now() - t0;
    const r = await page.evaluate(() => /** @type {any} */ (window).done);
    if (r.n !== RECORDS) throw new Error("the first sync in the page is incomplete");
    chromium.hint.push(hinted - t0);
    chromium.approved.push(r.claimed - approvedAfter);
    chromium.sync.push(r.synced - r.claimed);
    chromium.total.push(r.synced);
  }
  rows.push(["Chromium", chromium]);
  laptop.stopLive();

  const ms = (xs) => `${Math.round(median(xs))} ms`;
  console.log(`| median of ${RUNS}, vault of ${RECORDS} x 1 KiB | request to approver's live hint | approval to client (claim poll 1.5 s) | first sync | end to end (with the approval at once) |`);
  console.log("| --- | --- | --- | --- | --- |");
  for (const [name, r] of rows) console.log(`| ${name} | ${ms(r.hint)} | ${ms(r.approved)} | ${ms(r.sync)} | ${ms(r.total)} |`);
} finally {
  await browser.close();
  await server.stop();
}
