// Large records are opened with WebCrypto (AES-GCM under the record's key, nonce and
// associated data) instead of AES in WASM: the values are the same, and a large record
// the server modified is still refused (TAMPERED) with nothing local changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { FAST, serverForTests } from "../lib/testing.mjs";

const server = serverForTests();

/** A fetch that flips one byte of the first large record of each changes page. */
const tampering = async (url, init) => {
  const response = await fetch(url, init);
  if (!url.includes("/changes")) return response;
  const page = await response.json();
  const large = page.changes.find((c) => c.ciphertext.length > 20000);
  if (large) {
    const i = 5000;
    large.ciphertext = large.ciphertext.slice(0, i) + (large.ciphertext[i] === "A" ? "B" : "A") + large.ciphertext.slice(i + 1);
  }
  return new Response(JSON.stringify(page), { status: response.status, headers: response.headers });
};

test("large records sync through WebCrypto with the same values; a modified one is refused", async () => {
  const { client: a } = await SyncClient.register(server.url, "large-a", "pw", FAST);
  const values = [];
  for (let i = 0; i < 12; i++) values.push({ n: i, text: `${i}:`.padEnd(40000 + i * 997, "z") });
  const ids = values.map((v) => a.put(v));
  const small = a.put({ small: true });
  await a.sync();

  const b = await SyncClient.login(server.url, "large-a", "pw");
  const events = await b.sync();
  assert.equal(events.length, 13);
  for (const [i, id] of ids.entries()) assert.deepEqual(await b.get(id), values[i]);
  assert.deepEqual(await b.get(small), { small: true });

  // An edit of a large record travels both ways.
  b.put({ ...values[3], text: "edited".padEnd(50000, "q") }, ids[3]);
  await b.sync();
  await a.sync();
  assert.equal(/** @type {any} */ (await a.get(ids[3])).text.slice(0, 6), "edited");

  // A device behind a server that modifies a large record: TAMPERED, nothing changes.
  const c = await SyncClient.login(server.url, "large-a", "pw", { fetch: tampering });
  let code;
  try {
    await c.sync();
  } catch (e) {
    code = e.code;
  }
  assert.equal(code, "TAMPERED");
  assert.equal((await c.records()).length, 0);
  c.free();
  a.free();
  b.free();
});
