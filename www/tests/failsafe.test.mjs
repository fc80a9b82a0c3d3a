// The mass-deletion failsafe through the npm package against the real server (SQLite): a
// device that deletes most of the vault does not make the others delete it. Their sync
// holds the deletions (event, status), applies everything else, and waits for the
// application: confirm or keep. A bulk delete is checked against the same guard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";

const server = serverForTests();

test("failsafe: a mass deletion is held, then kept or confirmed", async () => {
  const { client: faulty } = await SyncClient.register(server.url, "mass-user", "pw", FAST);
  const ids = Array.from({ length: 40 }, (_, n) => faulty.put({ n }));
  await faulty.sync();
  // The other device keeps its vault in a device store (values away until used).
  const statuses = [];
  const phone = await SyncClient.login(server.url, "mass-user", "pw", { store: "memory", onStatus: (s) => statuses.push(s) });
  await phone.sync();
  await phone.flush();

  // The bulk delete: refused past the guard, nothing deleted; then confirmed.
  const err = await codeOf(Promise.resolve().then(() => faulty.deleteMany(ids.slice(0, 30))));
  assert.equal(err, "MASS_DELETE");
  assert.equal((await faulty.records()).length, 40, "nothing deleted");
  assert.equal(faulty.deleteMany(ids.slice(0, 30), { confirmed: true }), 30);
  faulty.put({ n: 35, edited: true }, ids[35]);
  await faulty.sync();

  phone.put({ n: 38, mine: true }, ids[38]);
  const events = await phone.sync();
  assert.deepEqual(events.filter((e) => e.type === "deletionsHeld"), [{ type: "deletionsHeld", count: 30 }]);
  assert.equal(events.filter((e) => e.type === "deleted").length, 0, "no deletion applied");
  assert.ok(events.some((e) => e.type === "changed" && e.id === ids[35]), "other changes applied");
  assert.equal(phone.pendingCount, 0, "its own edit went out");
  assert.equal(phone.status().heldDeletions, 30);
  assert.equal(statuses.at(-1).heldDeletions, 30, "onStatus told");
  assert.deepEqual(phone.heldDeletions().sort(), ids.slice(0, 30).sort());
  assert.deepEqual(await phone.get(ids[4]), { n: 4 }, "still readable");
  assert.equal((await phone.records()).length, 40);

  // Held across a restart: the device store keeps them.
  await phone.flush();
  await phone.lock();
  const reopened = await SyncClient.open(server.url, "mass-user", "pw", { store: "memory" });
  assert.equal(reopened.heldDeletions().length, 30);
  assert.deepEqual(await reopened.get(ids[4]), { n: 4 });
  assert.deepEqual(await reopened.sync(), [], "a sync again changes nothing");

  // Kept: written again, every device gets them back.
  assert.equal(reopened.keepDeletions(), 30);
  assert.equal(reopened.status().heldDeletions, 0);
  await reopened.sync();
  await faulty.sync();
  assert.equal((await faulty.records()).length, 40);

  // Deleted again, then confirmed: a deleted event each.
  faulty.deleteMany(ids.slice(0, 30), { confirmed: true });
  await faulty.sync();
  await reopened.sync();
  const confirmed = reopened.confirmDeletions();
  assert.equal(confirmed.length, 30);
  assert.ok(confirmed.every((e) => e.type === "deleted"));
  assert.equal((await reopened.records()).length, 10);
  assert.equal(await reopened.get(ids[4]), undefined);

  // Options: off, or a guard of one's own; bad ones are BAD_INPUT.
  const off = await SyncClient.login(server.url, "mass-user", "pw", { massDelete: false });
  await off.sync();
  assert.equal(off.deleteMany(off.heldDeletions().concat((await off.records()).map((r) => r.id))), 10);
  const strict = await SyncClient.login(server.url, "mass-user", "pw", { massDelete: { min: 2, percent: 10 } });
  await strict.sync();
  assert.equal(await codeOf(Promise.resolve().then(() => strict.deleteMany(ids.slice(30, 33)))), "MASS_DELETE");
  assert.equal(strict.deleteMany(ids.slice(30, 32)), 2);
  for (const bad of [true, { percent: 101 }, { min: -1 }, "20:50"]) {
    const options = /** @type {any} */ ({ massDelete: bad });
    assert.equal(await codeOf(SyncClient.login(server.url, "mass-user", "pw", options)), "BAD_INPUT", JSON.stringify(bad));
  }
  assert.equal(await codeOf(Promise.resolve().then(() => strict.deleteMany(["not an id"]))), "BAD_INPUT");
});
