// The npm package in Node (imported by its name, as users do) and the WebCrypto cross-check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import init, * as vs from "vaultsync";
import { crossCheck, linkCheck } from "../lib/crosscheck.mjs";

await init();
const vectors = JSON.parse(
  readFileSync(new URL("../../tests/data/vectors-v1.json", import.meta.url), "utf8"),
);

test("FORMAT.md cross-check, device linking: WebCrypto's X25519, HMAC and AES-GCM reproduce RFC 9180 and the package's grant", async () => {
  const read = (path) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), "utf8"));
  const words = readFileSync(new URL("../../crypto/src/words/bip39-english.txt", import.meta.url), "utf8").trim().split("\n");
  assert.deepEqual(await linkCheck(read("tests/data/hpke-rfc9180-x25519.json"), read("tests/data/link-v1.json"), words), [
    "hpke-rfc9180",
    "link-phrase",
    "link-grant",
  ]);
});

test("FORMAT.md cross-check: WebCrypto alone reads the package and vice versa", async () => {
  assert.deepEqual(await crossCheck(vs, vectors), [
    "vectors",
    "package->webcrypto",
    "webcrypto->package",
  ]);
});

test("the README example works, as written", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const example = /```js\n([\s\S]*?)```/.exec(readme)[1];
  // Run from www/ so that "vaultsync" resolves like in an application.
  const file = fileURLToPath(new URL("./.readme-example.mjs", import.meta.url));
  writeFileSync(file, example);
  try {
    const run = spawnSync(process.execPath, [file], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /url: 'https:\/\/example\.com'/);
  } finally {
    rmSync(file, { force: true });
  }
});

test("errors are Error objects with stable codes", async () => {
  const { vault, envelope } = await vs.createVault("pw", 100000);
  const codeOf = async (f) => {
    try {
      await f();
    } catch (e) {
      assert.ok(e instanceof Error);
      assert.equal(e.name, "VaultsyncError");
      return /** @type {import("vaultsync").VaultsyncError} */ (e).code;
    }
    assert.fail("no error thrown");
  };
  assert.equal(await codeOf(() => vs.unlock(envelope, "wrong")), "WRONG_PASSWORD");
  assert.equal(await codeOf(() => vs.unlock("", "pw")), "BAD_INPUT");
  assert.equal(await codeOf(() => vs.unlock("AQ", "pw")), "UNSUPPORTED_FORMAT");
  assert.equal(await codeOf(() => vs.createVault("pw", 99999)), "KDF_TOO_WEAK");
  assert.equal(await codeOf(() => vs.createVault("pw", 2 ** 31)), "KDF_TOO_EXPENSIVE");
  assert.equal(await codeOf(() => vault.open("x", 1, false, "AA")), "BAD_INPUT");
  const id = vault.newRecordId();
  const sealed = vault.sealText(id, 1, false, "x");
  assert.equal(await codeOf(() => vault.openText(id, 1, true, sealed)), "TAMPERED");
  assert.equal(await codeOf(() => vault.openText(id, 2 ** 53, false, sealed)), "BAD_INPUT");
  assert.equal(
    await codeOf(() => vs.recover(envelope, "0000-0000-0000-0000-0000-0000-0000-0000", "n", 100000)),
    "WRONG_RECOVERY_CODE",
  );
  // A flipped byte anywhere in the envelope is refused.
  const bytes = Buffer.from(envelope, "base64url");
  for (const at of [0, 20, 40, 100, bytes.length - 1]) {
    const copy = Buffer.from(bytes);
    copy[at] ^= 1;
    const code = await codeOf(() => vs.unlock(copy.toString("base64url"), "pw"));
    assert.ok(["WRONG_PASSWORD", "TAMPERED", "UNSUPPORTED_FORMAT", "KDF_TOO_WEAK", "BAD_INPUT"].includes(code), code);
  }
});

test("package metadata is fit for publishing", () => {
  const meta = JSON.parse(readFileSync(new URL("../../pkg/package.json", import.meta.url), "utf8"));
  assert.equal(meta.name, "vaultsync");
  assert.match(meta.version, /^\d+\.\d+\.\d+/);
  assert.equal(meta.types, "./vaultsync.d.ts");
  assert.equal(meta.exports["."].node, "./node.js");
  for (const f of meta.files) {
    if (f.endsWith("/")) assert.ok(readdirSync(new URL(`../../pkg/${f}`, import.meta.url)).length > 0, f);
    else readFileSync(new URL(`../../pkg/${f}`, import.meta.url));
  }
  const dts = readFileSync(new URL("../../pkg/vaultsync.d.ts", import.meta.url), "utf8");
  // The public API (everything before wasm-bindgen's internal InitOutput) has real types.
  const api = dts.split("export type InitInput")[0].replace(/\/\*[\s\S]*?\*\//g, "");
  assert.doesNotMatch(api, /\bany\b/);
  assert.match(api, /export function unlock\(envelope: string, password: string\): Promise<Vault>;/);
});

test("TypeScript: the package's declarations type-check a real program (tsc --strict)", () => {
  const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
  const project = fileURLToPath(new URL("./types/tsconfig.json", import.meta.url));
  const run = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test("TypeScript: every script of www/ type-checks (tsc --checkJs, jsconfig.json)", () => {
  const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
  const project = fileURLToPath(new URL("../jsconfig.json", import.meta.url));
  const run = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
