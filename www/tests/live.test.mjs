// Live updates of the npm package against the real server: devices in Node (WebSocket and
// long-poll) and in a Chromium page, through two replicas on one PostgreSQL behind a
// balancer, see each other's edits without calling sync(); a killed replica loses nothing;
// a server that spams or withholds hints costs at most extra pulls or a delay.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { startPostgres, startServer } from "../lib/server.mjs";
import { startBalancer, startHostileHints } from "../lib/relay.mjs";
import { launch } from "../lib/harness.mjs";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";

const sqlite = serverForTests();
let pg;
let replicas = [];
let balancer;
let browser;

before(async () => {
  assert.equal(typeof WebSocket, "function", "the test command runs Node with a WebSocket (--experimental-websocket on Node 20)");
  pg = await startPostgres();
  replicas = [
    await startServer(["--live-recheck", "1s"], { database: pg.url }),
    await startServer(["--live-recheck", "1s"], { database: pg.url }),
  ];
  balancer = await startBalancer(replicas.map((r) => r.url));
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await balancer?.close();
  for (const r of replicas) await r.stop().catch(() => {});
  await pg?.stop();
});

/** Resolves once `check()` is true (polled every 20 ms), or fails after `ms`. */
async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** A Node device following the vault live; `seen` holds what its live pulls changed. */
async function follower(url, username, options = {}) {
  const client = await SyncClient.login(url, username, "pw", { tokenLabel: options.label ?? "node" });
  await client.sync();
  const device = { client, seen: new Map(), connected: false, errors: [] };
  client.live({
    ...options,
    onChange: (events) => {
      for (const e of /** @type {any[]} */ (events)) device.seen.set(e.id, { ...e, at: Date.now() });
    },
    onConnection: (up) => (device.connected = up),
    onError: (/** @type {any} */ e) => device.errors.push(e.code ?? String(e)),
  });
  await until(() => device.connected, 10_000, `${username}'s live channel`);
  return device;
}

test("two replicas on PostgreSQL: Node (socket, long-poll) and a page see edits without sync(); a killed replica loses nothing", async () => {
  const { client: writer } = await SyncClient.register(replicas[0].url, "live-a", "pw", FAST);
  const socketDevice = await follower(balancer.url, "live-a", { label: "socket" });
  const pollDevice = await follower(balancer.url, "live-a", { label: "long-poll", WebSocket: null });
  const page = await browser.context.newPage();
  await page.goto(`${balancer.url}/pkg/package.json`);
  await page.evaluate(async (url) => {
    const vs = await import("/pkg/vaultsync.js");
    await vs.default();
    const client = await vs.SyncClient.login(url, "live-a", "pw", { tokenLabel: "page" });
    await client.sync();
    const w = /** @type {any} */ (window);
    w.seen = {};
    w.client = client;
    client.live({
      onChange: (events) => events.forEach((/** @type {any} */ e) => (w.seen[e.id] = { ...e, at: Date.now() })),
      onConnection: (up) => (w.connected = up),
    });
  }, balancer.url);
  await page.waitForFunction(() => /** @type {any} */ (window).connected === true, null, { timeout: 10_000 });

  const pageSaw = (id) => page.evaluate((id) => /** @type {any} */ (window).seen[id], id);
  const latencies = [];
  const edit = async (value) => {
    const id = writer.put(value);
    const started = Date.now();
    await writer.sync();
    const seenBy = async () => [socketDevice.seen.has(id), pollDevice.seen.has(id), Boolean(await pageSaw(id))];
    await until(async () => (await seenBy()).every(Boolean), 5_000, `edit ${JSON.stringify(value)} (socket, long-poll, page)`).catch(async (e) => {
      throw new Error(`${e.message}: seen ${await seenBy()}; errors ${socketDevice.errors} / ${pollDevice.errors}`);
    });
    const seen = [socketDevice.seen.get(id), pollDevice.seen.get(id), await pageSaw(id)];
    latencies.push(seen.map((e) => e.at - started).join("/"));
    for (const { at, ...event } of seen) assert.deepEqual(event, { type: "changed", id, value });
    return id;
  };
  for (let n = 0; n < 5; n++) await edit({ n });
  // An edit made in the page reaches the Node devices the same way.
  const fromPage = await page.evaluate(async () => {
    const client = /** @type {any} */ (window).client;
    const id = client.put({ from: "page" });
    await client.sync();
    return id;
  });
  await until(() => socketDevice.seen.has(fromPage) && pollDevice.seen.has(fromPage), 5_000, "the page's edit");
  console.log(`push to visible (socket/long-poll/page) through two replicas: ${latencies.join(", ")} ms`);

  // A replica dies with live connections on it: the devices reconnect through the other.
  assert.ok(balancer.active(1) > 0, "some device is connected through the second replica");
  await replicas[1].kill();
  const after = [];
  for (let n = 0; n < 3; n++) after.push(await edit({ after: n }));
  for (const id of after) assert.ok(socketDevice.seen.has(id) && pollDevice.seen.has(id));
  assert.deepEqual(await socketDevice.client.records(), await writer.records());
  assert.deepEqual(await pollDevice.client.records(), await writer.records());

  // stopLive: nothing more arrives; lock ends the channel too.
  socketDevice.client.stopLive();
  const quiet = writer.put({ quiet: true });
  await writer.sync();
  await until(() => pollDevice.seen.has(quiet), 5_000, "the long-poll device");
  await new Promise((ok) => setTimeout(ok, 1500));
  assert.equal(socketDevice.seen.has(quiet), false, "stopLive stopped the pulls");
  await pollDevice.client.lock();
  assert.equal(pollDevice.connected, false);
  await page.evaluate(() => /** @type {any} */ (window).client.lock());
  await page.close();
  assert.deepEqual(socketDevice.errors.filter((c) => c !== "NETWORK"), []);
});

test("a revoked device's live channel stops with INVALID_TOKEN", async () => {
  const { client: owner } = await SyncClient.register(sqlite.url, "live-revoke", "pw", FAST);
  const lost = await follower(sqlite.url, "live-revoke", { label: "lost" });
  const tokens = await owner.tokens();
  await owner.revokeToken(tokens.find((t) => t.label === "lost").id);
  await until(() => lost.errors.includes("INVALID_TOKEN") && !lost.connected, 5_000, "the revocation");
  assert.equal(await codeOf(lost.client.sync()), "INVALID_TOKEN");
});

test("a server that spams hints causes at most a pull a second; one that withholds them, a delay until the poll", async () => {
  const { client: writer } = await SyncClient.register(sqlite.url, "live-hostile", "pw", FAST);
  const record = writer.put({ real: true });
  await writer.sync();

  const spam = await startHostileHints(sqlite.url, "spam");
  spam.counts.vault = writer.vaultId;
  const flooded = await SyncClient.login(spam.url, "live-hostile", "pw");
  await flooded.sync();
  const before = spam.counts.pulls;
  const changes = [];
  flooded.live({ onChange: (events) => changes.push(...events), pollMs: 0 });
  await new Promise((ok) => setTimeout(ok, 3000));
  flooded.stopLive();
  const pulls = spam.counts.pulls - before;
  console.log(`3 s of hint spam (thousands of hints): ${pulls} pulls`);
  assert.ok(pulls >= 1 && pulls <= 4, `at most one pull a second: ${pulls}`);
  assert.deepEqual(changes, [], "the pulls found nothing to change");
  assert.deepEqual(await flooded.records(), [{ id: record, value: { real: true } }]);
  assert.equal(flooded.status().lastError, null);
  await spam.close();

  const mute = await startHostileHints(sqlite.url, "withhold");
  const starved = await SyncClient.login(mute.url, "live-hostile", "pw");
  await starved.sync();
  const seen = [];
  starved.live({ onChange: (events) => seen.push(...events), pollMs: 1000 });
  const late = writer.put({ late: true });
  const started = Date.now();
  await writer.sync();
  await until(() => seen.some((e) => e.id === late), 5_000, "the poll");
  console.log(`withheld hints: the change arrived by polling after ${Date.now() - started} ms (poll every 1000 ms)`);
  starved.stopLive();
  await mute.close();
});
