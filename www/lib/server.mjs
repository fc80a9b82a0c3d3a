// Starts the real vaultsync-server binary (built by cargo) on a free loopback port with a
// fresh SQLite file (or a given database), serving the demo page and the package like the
// README's run command; and a throwaway PostgreSQL cluster for replicas.
import { execFile, spawn } from "node:child_process";
import { createServer as createNetServer } from "node:net";
import { promisify } from "node:util";
import { mkdtemp, rm, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** The newest server binary cargo built (the tests run after `cargo test`). */
async function serverBinary() {
  if (process.env.VAULTSYNC_SERVER_BIN) return process.env.VAULTSYNC_SERVER_BIN;
  for (const profile of ["debug", "release"]) {
    const bin = join(REPO, "target", profile, "vaultsync-server");
    try {
      await access(bin);
      return bin;
    } catch {}
  }
  throw new Error("no vaultsync-server binary: run `cargo build -p vaultsync-server` first");
}

/**
 * Starts the server (on a fresh SQLite file unless `database` is given); returns { url, stop }.
 * @param {string[]} [flags]
 * @param {{ database?: string, bin?: string }} [options] `bin`: another server binary
 */
export async function startServer(flags = [], { database, bin } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-server-"));
  const child = spawn(
    bin ?? (await serverBinary()),
    [
      "--listen", "127.0.0.1:0",
      "--database", database ?? `sqlite://${join(dir, "vaultsync.db")}`,
      "--static", `/=${join(REPO, "www/demo")}`,
      "--static", `/pkg=${join(REPO, "pkg")}`,
      ...flags,
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, VAULTSYNC_LOG: "warn" } },
  );
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`vaultsync-server exited with ${code}`)));
    lines.once("line", (line) => resolve(line.replace("vaultsync-server listening on ", "")));
  });
  return {
    url,
    dir,
    pid: child.pid,
    /** SIGKILL: a replica that dies without finishing anything. */
    kill: async () => {
      child.kill("SIGKILL");
      await new Promise((ok) => (child.exitCode !== null || child.signalCode !== null ? ok(undefined) : child.once("exit", ok)));
    },
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((ok) => (child.exitCode !== null ? ok(undefined) : child.once("exit", ok)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const PG_BIN = "/usr/lib/postgresql/15/bin";
const run = promisify(execFile);

/** A free loopback port. */
async function freePort() {
  const probe = createNetServer();
  await new Promise((ok) => probe.listen(0, "127.0.0.1", () => ok(undefined)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (probe.address());
  await new Promise((ok) => probe.close(ok));
  return port;
}

/**
 * A throwaway PostgreSQL cluster on a free loopback port (Debian's server binaries, run as
 * the postgres user when we are root: initdb refuses root), with one empty database.
 * Returns { url, stop }.
 */
export async function startPostgres() {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-pg-"));
  const root = process.getuid?.() === 0;
  const asPostgres = (bin, args) =>
    root ? run("runuser", ["-u", "postgres", "--", join(PG_BIN, bin), ...args]) : run(join(PG_BIN, bin), args);
  if (root) await run("chown", ["postgres", dir]);
  const data = join(dir, "data");
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  await asPostgres("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", options, "-w", "start"]);
  await run(join(PG_BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-q", "-c", "CREATE DATABASE vaultsync"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/vaultsync`,
    stop: async () => {
      await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
