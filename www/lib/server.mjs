// Starts the real vaultsync-server binary (built by cargo) on a free loopback port with a
// fresh SQLite file, serving the demo page and the package like the README's run command.
import { spawn } from "node:child_process";
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

/** Starts the server; returns { url, stop }. */
export async function startServer(flags = []) {
  const dir = await mkdtemp(join(tmpdir(), "vaultsync-server-"));
  const child = spawn(
    await serverBinary(),
    [
      "--listen", "127.0.0.1:0",
      "--database", `sqlite://${join(dir, "vaultsync.db")}`,
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
    stop: async () => {
      child.kill("SIGTERM");
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.once("exit", ok)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
