// Pulls of many pages: while the engine takes one page, the package already asks for the
// next (the request a pull sends next), and never asks for a page twice.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncClient } from "vaultsync";
import { FAST, serverForTests } from "../lib/testing.mjs";

const server = serverForTests(["--max-page-size", "50"]);

/** A `fetch` that records the paths it was asked for, in `log` with other happenings. */
function countingFetch(log) {
  const paths = [];
  /** @type {typeof fetch} */
  const f = (url, init) => {
    const path = new URL(String(url)).pathname + new URL(String(url)).search;
    paths.push(path);
    if (path.includes("/changes")) log.push("request");
    return fetch(url, init);
  };
  return { fetch: f, pages: () => paths.filter((p) => p.includes("/changes")) };
}

test("a pull of many pages asks for each page once, the next one while the engine takes this one", async () => {
  const { client: a } = await SyncClient.register(server.url, "pages-a", "pw", FAST);
  for (let i = 0; i < 230; i++) a.put({ n: i });
  await a.sync();

  const log = [];
  const counted = countingFetch(log);
  const onProgress = (p) => p.phase === "pull" && log.push("page taken");
  const b = await SyncClient.login(server.url, "pages-a", "pw", { ...FAST, fetch: counted.fetch, onProgress });
  const events = await b.sync();
  assert.equal(events.filter((e) => e.type === "changed").length, 230);
  assert.equal((await b.records()).length, 230);
  const first = counted.pages();
  assert.equal(first.length, 5, first.join("\n"));
  assert.equal(new Set(first).size, first.length, `a page asked for twice:\n${first.join("\n")}`);
  assert.match(first[0], /since=0$/);
  for (const later of first.slice(1)) assert.match(later, /since=\d+&full=1$/);
  // Each page after the first was asked for before the engine took the one before it.
  assert.deepEqual(log.slice(0, 10), ["request", "request", "page taken", "request", "page taken", "request", "page taken", "request", "page taken", "page taken"]);

  // An incremental pull of several pages, then one with nothing new: no page asked twice,
  // and no request for a page that does not exist.
  for (let i = 0; i < 120; i++) a.put({ n: 1000 + i });
  await a.sync();
  const before = counted.pages().length;
  assert.equal((await b.sync()).length, 120);
  const incremental = counted.pages().slice(before);
  assert.equal(incremental.length, 3, incremental.join("\n"));
  assert.equal(new Set(incremental).size, 3);
  for (const page of incremental) assert.doesNotMatch(page, /full=1/);
  assert.equal((await b.records()).length, 350);
  a.free();
  b.free();
});
