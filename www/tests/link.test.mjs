// Adding a device without the password through the npm package, against the real server on
// SQLite and on PostgreSQL: the new device shows a phrase, the logged-in device lists the
// request with the same phrase and approves it, and the new device opens the vault and
// syncs. Denied, cancelled and unknown requests change nothing; the devices list, revoking
// a device (DEVICE_REVOKED when it comes back) and erasing its device store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { startPostgres, startServer } from "../lib/server.mjs";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";

const sqlite = serverForTests();
let pg;
let pgServer;
let pgReplica;

before(async () => {
  pg = await startPostgres();
  pgServer = await startServer([], { database: pg.url });
  pgReplica = await startServer([], { database: pg.url });
});
after(async () => {
  await pgServer?.stop();
  await pgReplica?.stop();
  await pg?.stop();
});

/** Resolves once `check()` is true (polled every 20 ms), or fails after 10 s. */
async function until(check, what) {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** Waits until `client` lists a pending request; returns it. */
async function offered(client, label) {
  for (let i = 0; i < 100; i++) {
    const found = (await client.pendingLinks()).find((o) => o.label === label);
    if (found) return found;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`no pending request from ${label}`);
}

/** The new device asks through `askUrl` (another replica on PostgreSQL). */
async function linkAndRevoke(url, username, askUrl = url) {
  const { client: laptop } = await SyncClient.register(url, username, "pw", { ...FAST, tokenLabel: "laptop" });
  const ids = [laptop.put({ title: "one" }), laptop.put({ title: "two" })];
  await laptop.sync();
  // The laptop follows the vault live: a request to join is announced at once.
  let connected = false;
  let announced = 0;
  laptop.live({ onConnection: (up) => (connected = up), onLink: () => (announced += 1) });
  await until(() => connected, "the live channel");

  const asked = Date.now();
  const request = SyncClient.requestLink(askUrl, username, "phone", { store: "memory" });
  assert.match(request.phrase, /^[a-z]+( [a-z]+){5}$/, "six words");
  assert.ok(request.expiresAt > Date.now() + 14 * 60_000);
  await until(() => announced > 0, "the live link hint");
  console.log(`link hint ${Date.now() - asked} ms after the request (${url === askUrl ? "same" : "another"} replica)`);
  laptop.stopLive();
  const offer = await offered(laptop, "phone");
  assert.equal(offer.phrase, request.phrase, "both devices show the same phrase");
  assert.match(offer.requestId, /^[A-Za-z0-9_-]{22}$/);
  await laptop.approveLink(offer.requestId);
  const phone = await request.approved();
  await phone.sync();
  assert.deepEqual((await phone.records()).map((r) => /** @type {any} */ (r.value).title).sort(), ["one", "two"]);
  assert.equal(phone.stateCode, laptop.stateCode, "the same vault state");
  assert.deepEqual(await laptop.pendingLinks(), [], "the request is spent");
  assert.equal(await codeOf(laptop.approveLink(offer.requestId)), "LINK_REFUSED", "approved once only");

  // Edits go both ways.
  phone.put({ title: "from the phone" });
  await phone.sync();
  await laptop.sync();
  assert.equal((await laptop.records()).length, 3);
  assert.equal(/** @type {any} */ (await laptop.get(ids[0])).title, "one");

  // The devices list, from both sides.
  const seenByLaptop = await laptop.devices();
  assert.deepEqual(seenByLaptop.map((d) => [d.label, d.current]).sort(), [["laptop", true], ["phone", false]]);
  const phoneEntry = seenByLaptop.find((d) => d.label === "phone");
  assert.match(phoneEntry.public_key, /^[A-Za-z0-9_-]{43}$/, "a linked device has its X25519 key");
  assert.equal((await phone.devices()).find((d) => d.current).id, phoneEntry.id);

  // Revoked: the phone learns it with a typed error, and erases its data when asked.
  phone.put({ title: "never pushed" });
  await laptop.revokeDevice(phoneEntry.id);
  assert.equal(await codeOf(phone.sync()), "DEVICE_REVOKED");
  assert.deepEqual((await laptop.devices()).map((d) => d.label), ["laptop"]);
  await phone.erase();
  assert.equal(phone.locked, true);
  assert.equal(await codeOf(SyncClient.open(url, username, "pw", { store: "memory" })), "NO_STORE", "nothing left");
  assert.equal(await codeOf(laptop.revokeDevice(1.5)), "BAD_INPUT");
  assert.equal(await codeOf(laptop.sync()), "no error", "the laptop goes on");
  return laptop;
}

test("link on SQLite: phrase, approve, first sync, devices, revoke, erase", async () => {
  await linkAndRevoke(sqlite.url, "link-sqlite");
});

test("link on PostgreSQL, asked through another replica: phrase, approve, first sync, devices, revoke, erase", async () => {
  await linkAndRevoke(pgServer.url, "link-pg", pgReplica.url);
});

test("link: denied, cancelled, unknown and malformed requests change nothing", async () => {
  const url = sqlite.url;
  const { client: laptop } = await SyncClient.register(url, "link-refusals", "pw", FAST);
  laptop.put({ title: "kept" });
  await laptop.sync();

  const denied = SyncClient.requestLink(url, "link-refusals", "tablet");
  await laptop.denyLink((await offered(laptop, "tablet")).requestId);
  assert.equal(await codeOf(denied.approved()), "LINK_REFUSED");

  const cancelled = SyncClient.requestLink(url, "link-refusals", "kiosk");
  await offered(laptop, "kiosk");
  cancelled.cancel();
  assert.equal(await codeOf(cancelled.approved()), "LINK_REFUSED");

  // An account that does not exist answers like one that does (no enumeration): the
  // request simply stays pending; cancelled here.
  const nobody = SyncClient.requestLink(url, "nobody-at-all", "x");
  await new Promise((ok) => setTimeout(ok, 200));
  nobody.cancel();
  assert.equal(await codeOf(nobody.approved()), "LINK_REFUSED");

  assert.equal(await codeOf(laptop.approveLink("AAAAAAAAAAAAAAAAAAAAAA")), "LINK_REFUSED", "unknown id");
  assert.equal(await codeOf(laptop.approveLink("not an id")), "BAD_INPUT");
  assert.equal(await codeOf(laptop.denyLink("short")), "BAD_INPUT");
  assert.throws(() => SyncClient.requestLink("ftp://x", "u", "l"), /http/);

  assert.deepEqual((await laptop.records()).map((r) => /** @type {any} */ (r.value).title), ["kept"]);
  assert.deepEqual((await laptop.devices()).length, 1, "no device added");
});
