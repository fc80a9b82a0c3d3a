// Live-update benchmark (figures, not pass/fail): push-to-visible latency over 200 edits
// on one replica (SQLite) and through two replicas on one PostgreSQL (writer on one,
// reader on the other); the server's memory per idle socket and the time to hint 1,000
// subscribers of one push; and the delay when the socket is down and the reader polls.
// Usage: node --experimental-websocket bench/live.mjs   (scripts/bench-live.sh builds first)
import { readFileSync } from "node:fs";
import { SyncClient } from "vaultsync";
import { startPostgres, startServer } from "../lib/server.mjs";
import { startHostileHints } from "../lib/relay.mjs";

const log = (m) => process.stderr.write(`[bench-live] ${m}\n`);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const FAST = { iterations: 100000 };
const FLAGS = ["--login-attempts-per-address", "100000", "--live-sockets-per-token", "2000", "--live-tickets-per-minute", "5000"];
const PAIRS = 10;
const EDITS = 20; // per pair: 200 in all
// Edits of one pair are spaced past the client's one-pull-a-second coalescing, so each
// edit measures one hint and one pull, not the coalescing wait.
const SPACING_MS = 1100;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50)} ms, p99 ${pct(s, 99)} ms, max ${s.at(-1)} ms (n=${s.length})`;
};

/** A reader following live; resolves `arrived(id)` when a change shows. */
async function reader(url, username, options = {}) {
  const client = await SyncClient.login(url, username, "pw");
  await client.sync();
  const waiting = new Map();
  let up = false;
  client.live({
    ...options,
    onChange: (events) => {
      const at = performance.now();
      for (const e of /** @type {any[]} */ (events)) waiting.get(e.id)?.(at);
    },
    onConnection: (c) => (up = c),
  });
  const deadline = Date.now() + 10_000;
  // A reader whose hints are withheld never comes up: it polls.
  while (!up && !options.pollMs && Date.now() < deadline) await sleep(20);
  return {
    client,
    arrived: (id) => new Promise((ok) => waiting.set(id, ok)),
  };
}

/** 200 edits from writers on `writeUrl` seen by live readers on `readUrl`. */
async function latency(label, writeUrl, readUrl) {
  const samples = [];
  const pushes = [];
  await Promise.all(
    Array.from({ length: PAIRS }, async (_, p) => {
      const username = `${label}-${p}-${Date.now()}`;
      const { client: writer } = await SyncClient.register(writeUrl, username, "pw", FAST);
      await writer.sync();
      const r = await reader(readUrl, username);
      await sleep(SPACING_MS);
      for (let i = 0; i < EDITS; i++) {
        const id = writer.put({ pair: p, edit: i, at: Date.now() });
        const seen = r.arrived(id);
        const started = performance.now();
        await writer.sync();
        pushes.push(Math.round(performance.now() - started));
        samples.push(Math.round((await seen) - started));
        await sleep(SPACING_MS);
      }
      r.client.stopLive();
    }),
  );
  log(`${label}: push to visible ${summary(samples)}; the writer's sync alone ${summary(pushes)}`);
  return { samples, pushes };
}

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

const b64 = (n) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("base64url");

/** 1,000 idle sockets on one server: memory per socket, time to hint all of one push. */
async function fanOut(server, n = 1000) {
  // The HTTP API directly (the server keeps envelopes and ciphertext opaque).
  const vault = b64(16);
  const body = { username: `fan-${Date.now()}`, auth_key: b64(32), vault_id: vault, envelope: b64(120), recovery_key: b64(32), kdf: { algorithm: "pbkdf2-sha256", iterations: 600000, salt: b64(16) } };
  const post = (path, json, token) =>
    fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: json && JSON.stringify(json) }).then((r) => r.json());
  const token = (await post("/v1/accounts", body)).token.secret;
  const before = rssKiB(server.pid);
  const sockets = [];
  let hinted = 0;
  let allHinted;
  const done = new Promise((ok) => (allHinted = ok));
  for (let i = 0; i < n; i++) {
    const { ticket } = await post("/v1/events/ticket", null, token);
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/events?ticket=${ticket}`);
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = fail;
    });
    ws.send(JSON.stringify({ t: "sub", vault, cursor: 0 }));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.t === "changed" && msg.cursor === 1 && ++hinted === n) allHinted(performance.now());
    };
    sockets.push(ws);
  }
  await sleep(3000);
  const after = rssKiB(server.pid);
  const started = performance.now();
  const item = { record_id: b64(16), base_version: 0, deleted: false, ciphertext: b64(64) };
  await post(`/v1/vaults/${vault}/push`, { envelope_version: 1, base_seq: 0, head: b64(90), items: [item] }, token);
  const pushed = performance.now();
  const all = await done;
  log(`${n} idle sockets: server RSS ${before} -> ${after} KiB, ${Math.round(((after - before) * 1024) / n)} B per socket (target < 64 KiB)`);
  log(`one push hinted to ${n} subscribers: ${Math.round(all - started)} ms from the push request (the push itself ${Math.round(pushed - started)} ms)`);
  for (const ws of sockets) ws.close();
}

const results = {};
log("one replica on SQLite");
const sqlite = await startServer(FLAGS);
results.sqlite = await latency("one replica (SQLite)", sqlite.url, sqlite.url);

log("two replicas on one PostgreSQL");
const pg = await startPostgres();
const a = await startServer(FLAGS, { database: pg.url });
const b = await startServer(FLAGS, { database: pg.url });
results.replicas = await latency("two replicas (PostgreSQL)", a.url, b.url);

log("polling while the socket is down (a server that withholds hints; poll every 2 s)");
{
  const mute = await startHostileHints(sqlite.url, "withhold");
  const username = `poll-${Date.now()}`;
  const { client: writer } = await SyncClient.register(sqlite.url, username, "pw", FAST);
  await writer.sync();
  const r = await reader(mute.url, username, { pollMs: 2000 });
  const delays = [];
  for (let i = 0; i < 10; i++) {
    await sleep(300 + Math.random() * 2000);
    const id = writer.put({ poll: i });
    const seen = r.arrived(id);
    const started = performance.now();
    await writer.sync();
    delays.push(Math.round((await seen) - started));
  }
  r.client.stopLive();
  await mute.close();
  log(`socket down, polling every 2000 ms: delay ${summary(delays)}`);
}

log("1,000 idle sockets on one replica (SQLite)");
await fanOut(sqlite);
await a.stop();
await b.stop();
await pg.stop();
await sqlite.stop();
