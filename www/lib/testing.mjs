// What the package's Node tests share: the package initialised, a real server started for
// the file's tests (and stopped after them), fast PBKDF2 for new vaults, and the code of a
// VaultsyncError.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import init from "vaultsync";
import { startServer } from "./server.mjs";

/** PBKDF2 iterations for vaults made by tests (the minimum allowed; fast). */
export const FAST = { iterations: 100000 };

/**
 * Starts a server before the file's tests and stops it after them; `server.url` is set
 * once they run.
 * @param {string[]} [flags]
 */
export function serverForTests(flags = []) {
  const handle = { url: "", stop: async () => {} };
  before(async () => {
    await init();
    Object.assign(handle, await startServer(flags));
  });
  after(async () => {
    await handle.stop();
  });
  return handle;
}

/** The code of the VaultsyncError `promise` rejects with ("no error" if it resolves). @param {Promise<unknown>} promise */
export async function codeOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert.equal(/** @type {any} */ (e).name, "VaultsyncError", String(e));
    return /** @type {any} */ (e).code;
  }
  return "no error";
}
