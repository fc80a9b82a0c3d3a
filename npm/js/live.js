// The live channel of a SyncClient (client.live()): a WebSocket to the server's
// /v1/events, or a long-poll on the changes route where there is no WebSocket. The
// server's hints go to the engine (port.hint), which says when to pull; pulls are
// ordinary syncs (port.sync), checked like any other. PROTOCOL.md, "Live updates".
//
// port: { url, vault, ticket(): Promise<string>, wait(seconds): Promise<number> (a
//         long-poll: the hinted cursor, 0 for none),
//         hint(cursor): ms until a pull is due (-1: none), sync(): Promise<SyncEvent[]> }

const HEARTBEAT_MS = 20000; // each side's heartbeat (MV3: a message within 30 s keeps the worker)
const SILENCE_MS = 60000; // nothing heard for this long: the socket is dead
const FATAL = new Set(["INVALID_TOKEN", "UNAUTHENTICATED", "LOCKED"]);

export function startLive(port, options) {
  const o = options ?? {};
  const WS = o.WebSocket === undefined ? globalThis.WebSocket : o.WebSocket;
  const pollMs = o.pollMs ?? 30000;
  let stopped = false;
  let connected = false;
  let attempt = 0;
  let socket = null;
  let pullTimer = null;
  let pollTimer = null;
  let pulling = false;
  const timers = new Set();
  const later = (fn, ms) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const sleep = (ms) => new Promise((done) => later(done, ms));
  const call = (fn, arg) => {
    try {
      fn?.(arg);
    } catch {
      // An application callback's throw is its own business.
    }
  };

  function setConnected(up) {
    if (up !== connected) {
      connected = up;
      call(o.onConnection, up);
    }
    if (!up && !pollTimer && pollMs > 0 && !stopped) {
      pollTimer = later(() => {
        pollTimer = null;
        if (!connected && !stopped) {
          hint(Number.MAX_SAFE_INTEGER); // a timer's "maybe": the pull finds out
          setConnected(false);
        }
      }, pollMs);
    }
  }

  // A hint (cursor >= 0) or a re-evaluation (-1): pull when the engine says so.
  function hint(cursor) {
    if (stopped) return;
    const due = port.hint(cursor);
    if (due >= 0 && !pulling && pullTimer === null) pullTimer = later(pull, due);
  }

  async function pull() {
    pullTimer = null;
    if (stopped) return;
    const due = port.hint(-1);
    if (due !== 0) {
      if (due > 0) pullTimer = later(pull, due);
      return;
    }
    pulling = true;
    try {
      const events = await port.sync();
      if (events.length > 0) call(o.onChange, events);
    } catch (error) {
      failed(error);
    } finally {
      pulling = false;
    }
    hint(-1);
  }

  // Reports an error; true when it ends the channel (a token that no longer works, a lock).
  function failed(error) {
    call(o.onError, error);
    if (FATAL.has(error?.code)) {
      stop();
      return true;
    }
    return false;
  }

  function backoff() {
    const ceiling = Math.min(60000, 1000 * 2 ** Math.min(attempt, 16));
    attempt += 1;
    return 1000 + Math.floor(Math.random() * (ceiling - 1000 + 1));
  }

  async function connect() {
    if (stopped) return;
    let ticket;
    try {
      ticket = await port.ticket();
    } catch (error) {
      if (!failed(error)) reconnect();
      return;
    }
    if (stopped) return;
    const ws = new WS(`${port.url.replace(/^http/, "ws")}/v1/events?ticket=${encodeURIComponent(ticket)}`);
    socket = ws;
    let heard = Date.now();
    let beat = null;
    ws.onopen = () => {
      ws.send(JSON.stringify({ t: "sub", vault: port.vault, cursor: 0 }));
      beat = setInterval(() => {
        if (Date.now() - heard > SILENCE_MS) ws.close();
        else ws.send('{"t":"ping"}');
      }, HEARTBEAT_MS);
    };
    ws.onmessage = (message) => {
      heard = Date.now();
      let m;
      try {
        m = JSON.parse(message.data);
      } catch {
        return;
      }
      if (m?.t === "link" && m.vault === port.vault) call(o.onLink);
      if (m?.t === "changed" && m.vault === port.vault && Number.isSafeInteger(m.cursor) && m.cursor >= 0) {
        attempt = 0;
        setConnected(true);
        hint(m.cursor);
      }
    };
    ws.onclose = (event) => {
      clearInterval(beat);
      if (socket === ws) socket = null;
      if (stopped) return;
      if (event.code === 4401) {
        failed(Object.assign(new Error("the token was revoked"), { name: "VaultsyncError", code: "INVALID_TOKEN" }));
      } else {
        reconnect();
      }
    };
    ws.onerror = () => {}; // a close event follows
  }

  function reconnect() {
    setConnected(false);
    if (!stopped) later(connect, backoff());
  }

  async function longPoll() {
    let seconds = 0; // the first answers at once: the channel is up
    while (!stopped) {
      try {
        const cursor = await port.wait(seconds);
        seconds = 25;
        if (stopped) return;
        attempt = 0;
        setConnected(true);
        if (cursor > 0) {
          hint(cursor);
          // The answer is immediate while this device is behind: let the pull catch up.
          await sleep(1000);
          while (!stopped && (pulling || pullTimer !== null)) await sleep(100);
        }
      } catch (error) {
        if (failed(error)) return;
        setConnected(false);
        seconds = 0;
        await sleep(backoff());
      }
    }
  }

  function stop() {
    if (stopped) return;
    stopped = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    socket?.close(1000);
    socket = null;
    if (connected) {
      connected = false;
      call(o.onConnection, false);
    }
  }

  setConnected(false); // polls until the channel is up
  if (WS) connect();
  else longPoll();
  return { stop };
}
