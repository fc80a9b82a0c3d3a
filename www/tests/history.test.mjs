// Record history through the npm package against the real server (SQLite): past versions
// opened in the client, restore after an edit and after a delete (a new version each
// time, seen by another device), and the errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";

const server = serverForTests();

test("history: past versions, restore after an edit and after a delete", async () => {
  const { client: laptop } = await SyncClient.register(server.url, "history-user", "pw", FAST);
  const id = laptop.put({ title: "v1" });
  await laptop.sync();
  laptop.put({ title: "v2" }, id);
  await laptop.sync();
  laptop.put({ title: "v3" }, id);
  await laptop.sync();
  const past = await laptop.history(id);
  assert.deepEqual(
    past.map((p) => [p.version, p.value]),
    [
      [2, { title: "v2" }],
      [1, { title: "v1" }],
    ],
  );
  assert.ok(past.every((p) => p.replacedAt > Date.now() - 60_000));

  await laptop.restore(id, 1);
  assert.deepEqual(await laptop.get(id), { title: "v1" }, "restored locally at once");
  await laptop.sync();
  const phone = await SyncClient.login(server.url, "history-user", "pw");
  await phone.sync();
  assert.deepEqual(await phone.get(id), { title: "v1" });
  assert.equal((await phone.history(id)).length, 3, "nothing rewritten: v3, v2, v1");

  // Deleted on the phone, brought back on the laptop.
  phone.delete(id);
  await phone.sync();
  await laptop.sync();
  assert.equal(await laptop.get(id), undefined);
  const [newest] = await laptop.history(id);
  assert.deepEqual(newest.value, { title: "v1" });
  const deleted = await laptop.deletedRecords();
  assert.deepEqual(
    deleted.map((d) => [d.record_id, d.version]),
    [[id, newest.version]],
    "the deleted record is listed with its newest kept version",
  );
  await laptop.restore(id, newest.version);
  await laptop.sync();
  await phone.sync();
  assert.deepEqual(await phone.get(id), { title: "v1" });
  assert.deepEqual(await phone.deletedRecords(), [], "restored: no longer deleted");

  assert.equal(await codeOf(laptop.restore(id, 99)), "NOT_FOUND");
  assert.equal(await codeOf(laptop.history("not an id")), "BAD_INPUT");
  const fresh = laptop.put({ title: "new" });
  assert.deepEqual(await laptop.history(fresh), [], "never pushed: no history");
});
