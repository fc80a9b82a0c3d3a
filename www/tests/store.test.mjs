// The device store in Node (the in-memory adapter and an application's own adapter) against
// the real server: a client persists into it as it goes, reopens from it with the password
// or a session secret, locks, reports its status, and refuses bad entries one by one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { FAST, codeOf, serverForTests } from "../lib/testing.mjs";

const server = serverForTests();

/**
 * An application's own adapter: a Map, with every write recorded.
 * @returns {import("vaultsync").VaultStore & { entries: Map<string, Uint8Array>, writes: any[] }}
 */
function recordingStore() {
  const entries = new Map();
  const writes = [];
  return {
    entries,
    writes,
    async get(key) {
      return entries.get(key)?.slice();
    },
    async list(prefix) {
      return [...entries].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => /** @type {[string, Uint8Array]} */ ([k, v.slice()]));
    },
    async write(puts, deletes) {
      writes.push({ puts: puts.map(([k, v]) => [k, v.length]), deletes: [...deletes] });
      for (const [k, v] of puts) entries.set(k, v.slice());
      for (const k of deletes) entries.delete(k);
    },
  };
}

const text = (bytes) => Buffer.from(bytes).toString("latin1");

test("a client persists as it goes: one edit writes its index bucket, a sync what it changed; nothing is plaintext", async () => {
  const store = recordingStore();
  const { client } = await SyncClient.register(server.url, "store-a", "pw", { ...FAST, store });
  const ids = [];
  for (let i = 0; i < 300; i++) ids.push(client.put({ n: i, secret: `PLAINTEXT-MARKER-${i}` }));
  await client.flush();
  await client.sync();
  assert.equal(client.status().pending, 0);
  const buckets = [...store.entries.keys()].filter((k) => k.startsWith("i/")).length;
  assert.ok(buckets > 150 && buckets <= 256, `${buckets} index buckets (300 random ids)`);
  assert.equal(store.entries.size, 2 + 2 * buckets, "envelope, meta, index and value buckets");

  store.writes.length = 0;
  client.put({ n: 0, secret: "PLAINTEXT-MARKER-edited" }, ids[0]);
  await client.flush();
  assert.equal(store.writes.length, 1, "one transaction");
  const [{ puts }] = store.writes;
  assert.equal(puts.length, 1, "one entry written");
  assert.match(puts[0][0], /^i\/[0-9a-f]{2}$/, "the record's index bucket (its value is not read)");
  assert.ok(puts[0][1] < 8192, `${puts[0][1]} bytes`);
  const bucket = puts[0][0];

  store.writes.length = 0;
  await client.sync();
  // The push in flight (its own entry), its answer, the pull: each step writes the
  // record's index and value buckets and the metadata it changed, and nothing else.
  const written = new Set(store.writes.flatMap((w) => w.puts.map(([k]) => k)));
  assert.deepEqual([...written].sort(), ["i/push", "meta", bucket, bucket.replace("i/", "v/")].sort());
  const valueWrites = store.writes.flatMap((w) => w.puts).filter(([k]) => k === bucket.replace("i/", "v/"));
  assert.equal(valueWrites.length, 1, "the value bucket is written once (not again when the pull brings the write back)");
  assert.equal(store.entries.has("i/push"), false, "the push in flight's entry goes once answered");

  for (const [key, value] of store.entries) {
    assert.ok(!text(value).includes("PLAINTEXT-MARKER"), `${key} holds plaintext`);
    assert.ok(!text(value).includes("store-a"), `${key} holds the username`);
  }
  client.free();
});

test("reopen with the password or a session secret; lock forgets the keys and the session", async () => {
  const statuses = [];
  const { client } = await SyncClient.register(server.url, "store-b", "pw", {
    ...FAST,
    store: "memory",
    onStatus: (s) => statuses.push(s),
  });
  const id = client.put({ note: "kept" });
  await client.sync();
  const status = client.status();
  assert.equal(status.syncing, false);
  assert.equal(status.lastError, null);
  assert.ok(status.lastSyncAt > 0);
  assert.ok(statuses.some((s) => s.syncing) && statuses.some((s) => !s.syncing));
  const secret = await client.sessionSecret();
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  const offline = client.put({ note: "offline edit" });
  await client.flush();
  client.free(); // a stopped worker

  assert.equal(await codeOf(SyncClient.open(server.url, "nobody", "pw", { store: "memory" })), "NO_STORE");
  const again = await SyncClient.openSession(server.url, "store-b", secret, { store: "memory" });
  assert.deepEqual(await again.get(id), { note: "kept" });
  assert.deepEqual(await again.get(offline), { note: "offline edit" });
  assert.equal(again.pendingCount, 1, "the pending edit survived the restart");
  await again.sync();
  assert.equal(again.pendingCount, 0);

  await again.lock();
  assert.equal(again.locked, true);
  assert.equal(await codeOf(again.get(id)), "LOCKED");
  assert.equal(await codeOf(again.sync()), "LOCKED");
  assert.equal(await codeOf(SyncClient.openSession(server.url, "store-b", secret, { store: "memory" })), "SESSION_INVALID");
  assert.equal(await codeOf(SyncClient.open(server.url, "store-b", "wrong", { store: "memory" })), "WRONG_PASSWORD");
  const withPassword = await SyncClient.open(server.url, "store-b", "pw", { store: "memory" });
  assert.deepEqual(await withPassword.get(offline), { note: "offline edit" });
  assert.equal(withPassword.pendingCount, 0);
  withPassword.free();
});

test("auto-lock: idle past autoLockMs locks the client, and its session secret stops working", async () => {
  const { client } = await SyncClient.register(server.url, "store-c", "pw", { ...FAST, store: "memory", autoLockMs: 1000 });
  const secret = await client.sessionSecret();
  await new Promise((ok) => setTimeout(ok, 1500));
  assert.equal(client.locked, true);
  assert.equal(await codeOf(SyncClient.openSession(server.url, "store-c", secret, { store: "memory" })), "SESSION_INVALID");
  assert.equal(await codeOf(SyncClient.login(server.url, "store-c", "pw", { store: /** @type {any} */ (7) })), "BAD_INPUT");
  assert.equal(await codeOf(SyncClient.login(server.url, "store-c", "pw", { autoLockMs: 5 })), "BAD_INPUT");
});

test("a corrupted, truncated or moved entry is refused alone; the next sync brings the record back", async () => {
  const store = recordingStore();
  const { client } = await SyncClient.register(server.url, "store-d", "pw", { ...FAST, store });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(client.put({ n: i }));
  await client.sync();
  client.free();
  // Value buckets (FORMAT.md): items of id (16) || length (u32 BE) || bytes.
  const items = (bytes) => {
    const out = new Map();
    for (let at = 0; at < bytes.length; ) {
      const id = Buffer.from(bytes.subarray(at, at + 16)).toString("base64url");
      const len = new DataView(bytes.buffer, bytes.byteOffset + at + 16, 4).getUint32(0);
      out.set(id, bytes.slice(at + 20, at + 20 + len));
      at += 20 + len;
    }
    return out;
  };
  const pack = (map) => {
    const parts = [];
    for (const [id, b] of map) {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, b.length);
      parts.push(Buffer.from(id, "base64url"), len, b);
    }
    return new Uint8Array(Buffer.concat(parts));
  };
  const bucketOf = (id) => [...store.entries].find(([k, v]) => k.startsWith("v/") && items(v).has(id))[0];
  const edit = (id, f) => {
    const name = bucketOf(id);
    const map = items(store.entries.get(name));
    map.set(id, f(map.get(id)));
    store.entries.set(name, pack(map));
  };
  const third = items(store.entries.get(bucketOf(ids[3]))).get(ids[3]);
  const names = [0, 1, 2].map((i) => `${bucketOf(ids[i])}:${ids[i]}`);
  edit(ids[0], (b) => Uint8Array.from(b, (x, i) => (i === 20 ? x ^ 1 : x)));
  edit(ids[1], (b) => b.slice(0, 9));
  edit(ids[2], () => third);
  const opened = await SyncClient.open(server.url, "store-d", "pw", { store });
  assert.deepEqual(opened.status().refusedEntries, [], "opening reads the index, not the values");
  assert.equal((await opened.records()).length, 7, "the rest is usable");
  const refused = opened.status().refusedEntries.map((r) => [r.entry, r.code]).sort();
  assert.deepEqual(refused, names.map((name) => [name, "STATE_TAMPERED"]).sort());
  assert.equal(await opened.get(ids[0]), undefined, "left out until the next sync");
  assert.equal(opened.pendingCount, 0, "nothing is uploaded from a refused entry");
  await opened.sync();
  assert.equal((await opened.records()).length, 10);
  assert.deepEqual(await opened.get(ids[0]), { n: 0 });

  // An edit whose base the store no longer holds intact: the sync reports the refusal
  // and goes on (a full pull); the edit is kept.
  await opened.flush();
  opened.free();
  edit(ids[5], (b) => Uint8Array.from(b, (x, i) => (i === 25 ? x ^ 1 : x)));
  const again = await SyncClient.open(server.url, "store-d", "pw", { store });
  again.put({ n: 5, mine: true }, ids[5]);
  await again.sync();
  assert.deepEqual(await again.get(ids[5]), { n: 5, mine: true });
  assert.equal(again.pendingCount, 0);
  assert.ok(again.status().refusedEntries.some((r) => r.entry.endsWith(`:${ids[5]}`)));
  again.free();

  // Metadata modified: the whole store is refused. A newer store: refused, not misread.
  const meta = store.entries.get("meta");
  store.entries.set("meta", Uint8Array.of(0x60, ...meta.slice(1)));
  assert.equal(await codeOf(SyncClient.open(server.url, "store-d", "pw", { store })), "UNSUPPORTED_FORMAT");
  meta[30] ^= 1;
  store.entries.set("meta", meta);
  assert.equal(await codeOf(SyncClient.open(server.url, "store-d", "pw", { store })), "STATE_TAMPERED");
});

test("a session saved with save() moves into a store; accounts and servers do not share one", async () => {
  const { client } = await SyncClient.register(server.url, "store-e", "pw", FAST);
  const id = client.put({ legacy: true });
  const saved = client.save();
  client.free();
  const moved = await SyncClient.resume(server.url, saved, "pw", { store: "memory" });
  moved.free();
  const reopened = await SyncClient.open(server.url, "store-e", "pw", { store: "memory" });
  assert.deepEqual(await reopened.get(id), { legacy: true });
  assert.equal(reopened.pendingCount, 1);
  reopened.free();
  // Another username, another server URL: another namespace.
  assert.equal(await codeOf(SyncClient.open(server.url, "store-f", "pw", { store: "memory" })), "NO_STORE");
  assert.equal(await codeOf(SyncClient.open(`${server.url}/other`, "store-e", "pw", { store: "memory" })), "NO_STORE");
});
