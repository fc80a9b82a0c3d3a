// SyncClient in Node against the real server: two devices register/log in, edit offline,
// sync and converge; conflicts keep both values; sessions are saved and resumed; tokens are
// listed and revoked; errors carry the server's codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { readFileSync } from "node:fs";
import { startPostgres, startServer } from "../lib/server.mjs";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";
import * as spec from "../lib/spec.mjs";

const server = serverForTests();

test("two devices edit offline, sync and converge; nothing is lost", async () => {
  const registered = await SyncClient.register(server.url, "alice", "pw one", { ...FAST, tokenLabel: "laptop" });
  assert.match(registered.recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  const a = registered.client;
  const note = a.put({ title: "groceries", items: ["milk"] });
  assert.equal(a.pendingCount, 1);
  assert.deepEqual(await a.sync(), []);
  assert.equal(a.pendingCount, 0);

  assert.equal(await codeOf(SyncClient.login(server.url, "alice", "wrong")), "INVALID_CREDENTIALS");
  const b = await SyncClient.login(server.url, "ALICE", "pw one", { tokenLabel: "phone" });
  assert.equal(b.vaultId, a.vaultId);
  const events = await b.sync();
  assert.deepEqual(events, [{ type: "changed", id: note, value: { title: "groceries", items: ["milk"] } }]);

  // Offline on both devices: different fields merge, the same field is a kept conflict.
  a.put({ title: "groceries (A)", items: ["milk"], shop: "corner" }, note);
  b.put({ title: "groceries (B)", items: ["milk", "bread"] }, note);
  const other = b.put({ title: "todo" });
  await a.sync();
  const merged = await b.sync();
  assert.deepEqual(await b.get(note), { title: "groceries (B)", items: ["milk", "bread"], shop: "corner" });
  const conflict = merged.find((e) => e.type === "conflict");
  assert.equal(conflict.id, note);
  assert.deepEqual(b.conflicts(note).map((c) => [c.path, c.local, c.remote]), [["/title", "groceries (B)", "groceries (A)"]]);
  await a.sync();
  assert.deepEqual(await a.get(note), await b.get(note));
  assert.deepEqual(await a.get(other), { title: "todo" });

  // A delete travels; an edit made meanwhile elsewhere would survive it.
  assert.equal(a.delete(other), true);
  await a.sync();
  const deleted = await b.sync();
  assert.deepEqual(deleted, [{ type: "deleted", id: other }]);
  assert.equal(await b.get(other), undefined);
  assert.deepEqual((await a.records()), (await b.records()));

  // Save and resume (a restart): records and pending edits survive, sealed.
  b.put({ title: "offline draft" });
  const saved = b.save();
  assert.ok(!saved.includes("offline draft") && !saved.includes("groceries"));
  assert.equal(await codeOf(SyncClient.resume(server.url, saved, "wrong")), "WRONG_PASSWORD");
  const [envelope, blob] = saved.split(".");
  const flipped = `${envelope}.${blob.slice(0, -2)}${blob.at(-2) === "A" ? "B" : "A"}${blob.at(-1)}`;
  assert.equal(await codeOf(SyncClient.resume(server.url, flipped, "pw one")), "STATE_TAMPERED");
  const b2 = await SyncClient.resume(server.url, saved, "pw one");
  assert.equal(b2.pendingCount, 1);
  await b2.sync();
  await a.sync();
  assert.deepEqual((await a.records()), (await b2.records()));

  // Tokens: both devices listed; revoking one logs it out at once.
  const tokens = await a.tokens();
  assert.deepEqual(tokens.map((t) => t.label).sort(), ["laptop", "phone"]);
  const phone = tokens.find((t) => t.label === "phone");
  assert.equal(await codeOf(a.revokeToken(phone.id + 0.5)), "BAD_INPUT");
  assert.equal(await codeOf(a.revokeToken(-1)), "BAD_INPUT");
  await a.revokeToken(phone.id);
  assert.equal(await codeOf(b2.sync()), "INVALID_TOKEN");
  await a.logout();
  assert.equal(await codeOf(a.tokens()), "INVALID_TOKEN");
  a.free();
  b.free();
  b2.free();
});

test("WebCrypto alone checks the vault head the package wrote, its state code, and an E2 envelope", async () => {
  // The device's own requests, observed: its token and the server's raw answers.
  let auth;
  const observe = async (url, init) => {
    auth = new Headers(init?.headers).get("authorization") ?? auth;
    return fetch(url, init);
  };
  const { client } = await SyncClient.register(server.url, "head-check", "pw", { ...FAST, fetch: observe });
  const ids = [client.put({ n: 1 }), client.put({ n: 2 }), client.put({ n: 3 })];
  await client.sync();
  client.delete(ids[1]);
  client.put({ n: 1, edited: true }, ids[0]);
  await client.sync();
  const raw = async (path) => (await fetch(`${server.url}/v1/vaults/${client.vaultId}/${path}`, {
    headers: { authorization: auth },
  })).json();
  const page = await raw("changes?since=0");
  const { envelope } = await raw("envelope");
  const ring = await spec.unlockWithPassword(envelope, "pw");
  const keys = await spec.headKeys(ring.root);
  const live = page.changes.filter((r) => !r.deleted);
  assert.equal(live.length, 2);
  const leaves = await Promise.all(
    live.map((r) => spec.leaf(keys, ring.vaultId, r.record_id, r.version, r.ciphertext)),
  );
  const headBytes = spec.fromB64url(page.head.head);
  const head = spec.parseHead(headBytes);
  assert.equal(head.seq, page.head.seq);
  assert.equal(spec.hex(head.vaultId), spec.hex(ring.vaultId));
  assert.ok(await spec.headVerifies(keys, head, spec.digest(leaves)), "the tag is the one of the live set");
  assert.ok(!(await spec.headVerifies(keys, head, spec.digest(leaves.slice(1)))), "a hidden record changes it");
  const words = readFileSync(new URL("../../crypto/src/words/bip39-english.txt", import.meta.url), "utf8").trim().split("\n");
  assert.equal(await spec.stateCode(headBytes, words), client.stateCode);
  // A password change writes an E2 envelope (generation 1), which WebCrypto unlocks.
  await client.changePassword("pw two", 100000);
  const changed = (await raw("envelope")).envelope;
  assert.equal(spec.fromB64url(changed)[0], 0xe2);
  const again = await spec.unlockWithPassword(changed, "pw two");
  assert.equal(again.envelope.generation, 1);
  assert.equal(spec.hex(again.root), spec.hex(ring.root));
});

test("bad input and unreachable servers are clear errors; local edits stay", async () => {
  assert.equal(await codeOf(SyncClient.register("ftp://x", "u", "p", FAST)), "BAD_INPUT");
  assert.equal(await codeOf(SyncClient.register(server.url, "alice", "x", FAST)), "USERNAME_TAKEN");
  const { client } = await SyncClient.register(server.url, "carol", "pw", { ...FAST, conflictPolicy: "server-wins" });
  // @ts-expect-error an unknown policy, on purpose
  assert.equal(await codeOf(SyncClient.register(server.url, "dave", "pw", { conflictPolicy: "nope" })), "BAD_INPUT");
  // @ts-expect-error a policy that is not a string, on purpose
  assert.equal(await codeOf(SyncClient.register(server.url, "dave", "pw", { conflictPolicy: 5 })), "BAD_INPUT");
  assert.throws(() => client.put(undefined), /JSON/);
  await assert.rejects(client.get("not-an-id"), /record id/);
  const id = client.put({ kept: true });
  const saved = client.save();
  // The same session against a port where nothing listens.
  const offline = await SyncClient.resume("http://127.0.0.1:9", saved, "pw");
  assert.equal(await codeOf(offline.sync()), "NETWORK");
  assert.deepEqual(await offline.get(id), { kept: true });
  assert.equal(offline.pendingCount, 1);
  await client.sync();
  assert.equal(client.pendingCount, 0);
});

test("the README's device.mjs syncs a vault between two Node processes", async () => {
  const { readFileSync, writeFileSync, rmSync } = await import("node:fs");
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const example = /<!-- sync-example -->\n```js\n([\s\S]*?)```/.exec(readme)[1];
  const file = fileURLToPath(new URL("./.device-example.mjs", import.meta.url));
  writeFileSync(file, example);
  const run = (env, ...args) => {
    const out = spawnSync(process.execPath, [file, server.url, "readme-user", "correct horse", ...args], {
      encoding: "utf8",
      env: { ...process.env, ...env },
    });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim().split("\n").sort();
  };
  try {
    assert.deepEqual(run({ NEW_ACCOUNT: "1" }, "hello from one"), ["hello from one"]);
    assert.deepEqual(run({}, "hello from two"), ["hello from one", "hello from two"]);
    assert.deepEqual(run({}), ["hello from one", "hello from two"]);
  } finally {
    rmSync(file, { force: true });
  }
});

test("a password change on one device reaches the other on its next sync", async () => {
  const { client: a } = await SyncClient.register(server.url, "erin", "old pw", FAST);
  const id = a.put({ secret: "kept" });
  await a.sync();
  const b = await SyncClient.login(server.url, "erin", "old pw");
  await b.sync();
  await a.changePassword("new pw");
  const events = await b.sync();
  assert.deepEqual(events, [{ type: "envelopeChanged", password: true, keys: false }]);
  const saved = b.save();
  assert.equal(await codeOf(SyncClient.resume(server.url, saved, "old pw")), "WRONG_PASSWORD");
  const b2 = await SyncClient.resume(server.url, saved, "new pw");
  assert.deepEqual(await b2.get(id), { secret: "kept" });
  assert.equal(await codeOf(SyncClient.login(server.url, "erin", "old pw")), "INVALID_CREDENTIALS");
  const c = await SyncClient.login(server.url, "erin", "new pw");
  await c.sync();
  assert.deepEqual(await c.get(id), { secret: "kept" });
  // A change from a device that has not seen the latest envelope is refused.
  await a.changePassword("third pw");
  assert.equal(await codeOf(c.changePassword("fourth pw")), "CONFLICT");
  await c.sync();
  await c.changePassword("fourth pw");
  assert.ok(await SyncClient.login(server.url, "erin", "fourth pw"));
});

test("one sync pushes every pending edit, however many batches it takes", async () => {
  const { client: a } = await SyncClient.register(server.url, "frank", "pw", FAST);
  const n = 64 * 500 + 600; // more batches than any fixed round limit would allow
  for (let i = 0; i < n; i++) a.put({ i });
  await a.sync();
  assert.equal(a.pendingCount, 0);
  const progress = [];
  const b = await SyncClient.login(server.url, "frank", "pw", { onProgress: (p) => progress.push(p) });
  const events = await b.sync();
  assert.equal(events.length, n);
  assert.equal((await b.records()).length, n);
  // One report per page of 1000, the last one complete.
  assert.equal(progress.length, Math.ceil(n / 1000));
  assert.deepEqual(progress.at(-1), { phase: "pull", done: n, more: false });
  assert.ok(progress.every((p, i) => p.phase === "pull" && p.done === Math.min(n, (i + 1) * 1000)));
});

test("an application callback decides conflicting fields", async () => {
  const { client: a } = await SyncClient.register(server.url, "gina", "pw", FAST);
  const id = a.put({ title: "base", n: 1 });
  await a.sync();
  const seen = [];
  const b = await SyncClient.login(server.url, "gina", "pw", {
    onConflict: (c) => {
      seen.push(c);
      return c.path === "/title" ? `${c.local} + ${c.remote}` : undefined;
    },
  });
  await b.sync();
  a.put({ title: "from A", n: 2 }, id);
  await a.sync();
  b.put({ title: "from B", n: 3 }, id);
  const events = await b.sync();
  assert.deepEqual(await b.get(id), { title: "from B + from A", n: 3 });
  assert.deepEqual(seen.map((c) => [c.path, c.local, c.remote]).sort(), [
    ["/n", 3, 2],
    ["/title", "from B", "from A"],
  ]);
  assert.ok(events.some((e) => e.type === "conflict"));
  await a.sync();
  assert.deepEqual(await a.get(id), { title: "from B + from A", n: 3 });
  // @ts-expect-error not a function, on purpose
  assert.equal(await codeOf(SyncClient.login(server.url, "gina", "pw", { onConflict: 5 })), "BAD_INPUT");
});

/** The key id of a sealed record (FORMAT.md: format byte, then key id u32). */
const keyIdOf = (ciphertext) => Buffer.from(ciphertext, "base64url").readUInt32BE(1);

test("recovery on a new device, and a key rotation cut off half-way and finished by another device", async () => {
  const { client: a, recoveryCode } = await SyncClient.register(server.url, "hana", "forgotten", FAST);
  const n = 1200; // three re-seal batches of 500
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(a.put({ i }));
  await a.sync();
  const b = await SyncClient.login(server.url, "hana", "forgotten");
  await b.sync();

  // Recovery: the password is forgotten; the code (typed in lower case) sets a new one.
  assert.equal(await codeOf(SyncClient.recover(server.url, "hana", "not a code", "x")), "BAD_INPUT");
  const wrong = "0000-0000-0000-0000-0000-0000-0000-0000";
  assert.equal(await codeOf(SyncClient.recover(server.url, "hana", wrong, "x")), "INVALID_CREDENTIALS");
  const c = await SyncClient.recover(server.url, "hana", recoveryCode.toLowerCase(), "recovered", {
    tokenLabel: "recovered",
  });
  await c.sync();
  assert.deepEqual((await c.records()), (await a.records()));
  assert.equal(await codeOf(SyncClient.login(server.url, "hana", "forgotten")), "INVALID_CREDENTIALS");
  assert.deepEqual(await b.sync(), [{ type: "envelopeChanged", password: true, keys: false }]);
  assert.equal(await codeOf(SyncClient.resume(server.url, b.save(), "forgotten")), "WRONG_PASSWORD");

  // A rotation on device a whose network fails after the first re-sealed batch.
  const seen = new Map(); // record id -> the ciphertext the server last sent or took
  let pushes = 0;
  const flaky = async (url, init) => {
    if (init.method === "POST" && url.endsWith("/push") && ++pushes > 1) throw new TypeError("network down");
    return fetch(url, init);
  };
  const progressA = [];
  const a2 = await SyncClient.resume(server.url, a.save(), "forgotten", {
    fetch: flaky,
    onProgress: (p) => p.phase === "rotate" && progressA.push(p),
  });
  a.free();
  assert.equal(await codeOf(a2.rotateKeys()), "NETWORK");
  assert.deepEqual(progressA, [{ phase: "rotate", done: 500, total: n }]);
  assert.equal(a2.rotationPending, true);

  // Meanwhile device b writes offline, under the old envelope; it syncs and adopts the
  // rotation's envelope on the way (its push sealed against the old one is refused).
  b.put({ i: 0, by: "b" }, ids[0]);
  const events = await b.sync();
  assert.ok(events.some((e) => e.type === "envelopeChanged" && e.keys), JSON.stringify(events));
  assert.equal(b.pendingCount, 0);
  assert.equal(b.rotationPending, true);

  // Device c finishes the rotation.
  const progressC = [];
  const observe = async (url, init) => {
    const response = await fetch(url, init);
    if (url.includes("/changes?")) {
      for (const r of (await response.clone().json()).changes) seen.set(r.record_id, r.ciphertext);
    }
    return response;
  };
  const c2 = await SyncClient.resume(server.url, c.save(), "recovered", {
    fetch: observe,
    onProgress: (p) => progressC.push(p),
  });
  await c2.rotateKeys();
  assert.equal(c2.rotationPending, false);
  const last = progressC.filter((p) => p.phase === "rotate").at(-1);
  assert.equal(last.done, last.total);
  assert.ok(last.total >= n - 500 - 1 && last.total <= n - 500, JSON.stringify(last));

  // Every record on the server is under key 2; every device converges on it.
  const fresh = await SyncClient.login(server.url, "hana", "recovered", { fetch: observe });
  seen.clear();
  await fresh.sync();
  assert.equal(seen.size, n);
  assert.deepEqual([...new Set([...seen.values()].map(keyIdOf))], [2]);
  for (const device of [b, c2, fresh]) {
    await device.sync();
    assert.equal(device.rotationPending, false);
    assert.deepEqual(await device.get(ids[0]), { i: 0, by: "b" });
    assert.equal((await device.records()).length, n);
  }
  assert.deepEqual((await b.records()), (await fresh.records()));
  for (const device of [b, c, c2, fresh, a2]) device.free();
});

test("an application's fetch that throws or is not a function is a clear error", async () => {
  const { client } = await SyncClient.register(server.url, "ivan", "pw", FAST);
  const saved = client.save();
  const broken = await SyncClient.resume(server.url, saved, "pw", {
    fetch: () => {
      throw new Error("no route");
    },
  });
  client.put({ kept: 1 });
  assert.equal(await codeOf(broken.sync()), "NETWORK");
  // @ts-expect-error not a function, on purpose
  assert.equal(await codeOf(SyncClient.resume(server.url, saved, "pw", { fetch: 5 })), "BAD_INPUT");
  client.free();
  broken.free();
});

test("on PostgreSQL through two server replicas: devices converge, and a password change and a key rotation reach the other", async () => {
  const pg = await startPostgres();
  const replicas = [];
  try {
    for (let i = 0; i < 2; i++) replicas.push(await startServer([], { database: pg.url }));
    const [one, two] = replicas.map((r) => r.url);
    const { client: a } = await SyncClient.register(one, "jo", "pw", FAST);
    const shared = a.put({ title: "shared", n: 0 });
    await a.sync();
    const b = await SyncClient.login(two, "jo", "pw");
    await b.sync();

    // Offline on both, different fields of one record and a new record each: all converge.
    a.put({ title: "shared (a)", n: 0 }, shared);
    b.put({ title: "shared", n: 1 }, shared);
    const fromA = a.put({ from: "a" });
    const fromB = b.put({ from: "b" });
    await Promise.all([a.sync(), b.sync()]);
    await a.sync();
    await b.sync();
    assert.deepEqual(await a.get(shared), { title: "shared (a)", n: 1 });
    assert.deepEqual((await a.records()), (await b.records()));
    assert.deepEqual([await a.get(fromB), await b.get(fromA)], [{ from: "b" }, { from: "a" }]);

    // A password change through one replica, a key rotation through the other.
    await b.changePassword("pw 2");
    assert.deepEqual(await a.sync(), [{ type: "envelopeChanged", password: true, keys: false }]);
    await a.rotateKeys();
    const events = await b.sync();
    assert.deepEqual(events, [{ type: "envelopeChanged", password: false, keys: true }]);
    assert.equal(b.rotationPending, false);
    const c = await SyncClient.login(one, "jo", "pw 2");
    await c.sync();
    assert.deepEqual((await c.records()), (await a.records()));
    for (const device of [a, b, c]) device.free();
  } finally {
    for (const r of replicas) await r.stop();
    await pg.stop();
  }
});

test("operations of one client take turns: overlapping syncs and a rotation all succeed", async () => {
  const { client: a } = await SyncClient.register(server.url, "kim", "pw", FAST);
  for (let i = 0; i < 1200; i++) a.put({ i });
  const results = await Promise.allSettled([a.sync(), a.sync(), a.rotateKeys(), a.sync()]);
  assert.deepEqual(
    results.filter((r) => r.status === "rejected").map((r) => `${r.reason.code}: ${r.reason.message}`),
    [],
  );
  assert.equal(a.pendingCount, 0);
  assert.equal(a.rotationPending, false);
  const b = await SyncClient.login(server.url, "kim", "pw");
  await b.sync();
  assert.equal((await b.records()).length, 1200);
  a.free();
  b.free();
});

test("callbacks may use the client: onProgress freely, onConflict gets BUSY from a synchronous read (it has both values) and the sync goes on", async () => {
  const { client: a } = await SyncClient.register(server.url, "lee", "pw", FAST);
  const id = a.put({ title: "base" });
  await a.sync();
  const codes = [];
  let seenDuringProgress = 0;
  let b;
  b = await SyncClient.login(server.url, "lee", "pw", {
    onConflict: () => {
      try {
        void b.pendingCount;
      } catch (e) {
        codes.push(e.code);
      }
      return undefined;
    },
    onProgress: () => {
      // Reads are asynchronous: this one runs once the step that reported ends.
      void b.records().then((list) => {
        seenDuringProgress = list.length;
      });
    },
  });
  await b.sync();
  await new Promise((ok) => setTimeout(ok, 0)); // the read started by onProgress ends
  assert.equal(seenDuringProgress, 1);
  a.put({ title: "from a" }, id);
  await a.sync();
  b.put({ title: "from b" }, id);
  await b.sync();
  assert.deepEqual(codes, ["BUSY"]);
  assert.deepEqual(await b.get(id), { title: "from b" });
  assert.equal(b.pendingCount, 0);
  a.free();
  b.free();
});
