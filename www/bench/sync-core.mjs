// Sync benchmark steps shared by Node and the Chromium page: each returns milliseconds.
export const now = () => performance.now();

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A 1 KiB-ish JSON record (the JSON text is about `bytes` long). */
export function record(i, bytes) {
  return { n: i, text: "x".repeat(Math.max(0, bytes - 24)) };
}

/** Logs in as a fresh device and times its first sync (pull, verify, decrypt). */
export async function initialSync(SyncClient, server, username, password) {
  const client = await SyncClient.login(server, username, password);
  const start = now();
  await client.sync();
  const ms = now() - start;
  const count = (await client.records()).length;
  return { client, ms, count };
}

/** Times `reps` empty syncs and `reps` syncs that each pull one change made by `writer`. */
export async function deltaSync(reader, writer, reps) {
  const empty = [];
  const one = [];
  for (let i = 0; i < reps; i++) {
    let t = now();
    await reader.sync();
    empty.push(now() - t);
    writer.put({ change: i });
    await writer.sync();
    t = now();
    const events = await reader.sync();
    one.push(now() - t);
    if (events.length !== 1) throw new Error(`expected 1 change, got ${events.length}`);
  }
  return { empty: median(empty), one: median(one) };
}

/** Times save() and resume() of a client (resume includes one PBKDF2 of the vault). */
export async function exportImport(SyncClient, server, client, password, reps = 3) {
  const saves = [];
  const resumes = [];
  let saved;
  for (let i = 0; i < reps; i++) {
    let t = now();
    saved = client.save();
    saves.push(now() - t);
    t = now();
    const again = await SyncClient.resume(server, saved, password);
    resumes.push(now() - t);
    again.free();
  }
  return { save: median(saves), resume: median(resumes), bytes: saved.length };
}

/** Registers `username`, puts `n` records of about 1 KiB and times the sync that pushes them. */
export async function pushSync(SyncClient, server, username, password, n) {
  const { client } = await SyncClient.register(server, username, password, { iterations: 100000 });
  for (let i = 0; i < n; i++) await client.put(record(i, 1024));
  const start = now();
  await client.sync();
  const ms = now() - start;
  client.free();
  return ms;
}
