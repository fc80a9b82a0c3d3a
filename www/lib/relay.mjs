// Network pieces for the live tests: a TCP load balancer in front of server replicas (as
// a deployment has), and a hostile hint server: the real server for every route, except
// the live socket, which it answers itself (spamming hints, or withholding them).
import { createServer as createNetServer, connect } from "node:net";
import { createServer as createHttpServer, request } from "node:http";
import { createHash } from "node:crypto";

/**
 * Round-robin TCP balancer over `backends` (http://host:port URLs); a backend that refuses
 * the connection is skipped. Returns { url, active(i), close }.
 */
export async function startBalancer(backends) {
  const targets = backends.map((b) => new URL(b));
  const active = targets.map(() => new Set());
  let next = 0;
  const server = createNetServer((client) => {
    client.pause();
    const attempt = (tries) => {
      if (tries === targets.length) return client.destroy();
      const i = next++ % targets.length;
      const upstream = connect(Number(targets[i].port), targets[i].hostname);
      upstream.once("error", () => attempt(tries + 1));
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        active[i].add(upstream);
        const drop = () => {
          active[i].delete(upstream);
          client.destroy();
          upstream.destroy();
        };
        upstream.on("error", drop).on("close", drop);
        client.on("error", drop).on("close", drop);
        client.pipe(upstream).pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(undefined)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    /** Open connections to backend `i`. */
    active: (i) => active[i].size,
    close: () => {
      for (const set of active) for (const s of set) s.destroy();
      return new Promise((ok) => server.close(() => ok(undefined)));
    },
  };
}

/** One unmasked WebSocket text frame (server to client). */
function textFrame(text) {
  const body = Buffer.from(text);
  const head = body.length < 126 ? Buffer.from([0x81, body.length]) : Buffer.from([0x81, 126, body.length >> 8, body.length & 255]);
  return Buffer.concat([head, body]);
}

/**
 * A hostile server in front of the real one at `upstream`: every HTTP route is passed
 * through (and counted: `pulls` counts changes requests), but the live socket is answered
 * here. Set `counts.vault` to the client's vault id. `mode` "spam": a flood of hints claiming the largest cursor (and some for another
 * vault, and malformed ones); "withhold": the socket opens and then says nothing.
 */
export async function startHostileHints(upstream, mode) {
  const target = new URL(upstream);
  /** @type {{ pulls: number, sockets: number, vault?: string }} */
  const counts = { pulls: 0, sockets: 0 };
  const sockets = new Set();
  const server = createHttpServer((req, res) => {
    if (req.url.includes("/changes")) counts.pulls += 1;
    const forward = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  server.on("upgrade", (req, socket) => {
    counts.sockets += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (mode !== "spam") return;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      for (let i = 0; i < 20; i++) {
        socket.write(textFrame(JSON.stringify({ t: "changed", vault: "AAAAAAAAAAAAAAAAAAAAAA", cursor: 9007199254740991 })));
        socket.write(textFrame("not json"));
        socket.write(textFrame(JSON.stringify({ t: "changed", vault: counts.vault, cursor: 9007199254740991 })));
      }
    }, 10);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(undefined)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok(undefined)));
    },
  };
}
