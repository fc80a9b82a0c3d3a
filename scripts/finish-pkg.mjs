// Completes pkg/ after wasm-pack: package.json fit for publishing (exports per runtime,
// types, files), the Node.js entry (node.js) and the README and LICENSE.
import { readFileSync, writeFileSync, copyFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const pkg = new URL("pkg/", root);
const cargo = readFileSync(new URL("Cargo.toml", root), "utf8");
const version = /^version = "([^"]+)"/m.exec(cargo)[1];

const manifest = {
  name: "vaultsync",
  version,
  description:
    "Zero-knowledge sync engine for small encrypted records in browser extensions: AES-256-GCM records, PBKDF2-unlocked vault keys, WASM.",
  license: "MIT",
  type: "module",
  main: "./vaultsync.js",
  module: "./vaultsync.js",
  types: "./vaultsync.d.ts",
  exports: {
    ".": {
      types: "./vaultsync.d.ts",
      node: "./node.js",
      default: "./vaultsync.js",
    },
    "./vaultsync_bg.wasm": "./vaultsync_bg.wasm",
    "./package.json": "./package.json",
  },
  files: [
    "vaultsync.js",
    "vaultsync.d.ts",
    "vaultsync_bg.wasm",
    "vaultsync_bg.wasm.d.ts",
    "node.js",
    "snippets/",
    "README.md",
    "LICENSE",
  ],
  sideEffects: ["./node.js"],
  engines: { node: ">=18" },
  keywords: ["sync", "encryption", "zero-knowledge", "webextension", "wasm", "aes-gcm"],
};
writeFileSync(new URL("package.json", pkg), JSON.stringify(manifest, null, 2) + "\n");

writeFileSync(
  new URL("node.js", pkg),
  `// Node.js entry of vaultsync: loads the WebAssembly module from disk synchronously, so
// the package is ready on import. \`init()\` is kept (a no-op) for code shared with browsers.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { initSync } from "./vaultsync.js";

// Node 18 has WebCrypto only as require("node:crypto").webcrypto, not as globalThis.crypto.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
initSync({ module: readFileSync(new URL("./vaultsync_bg.wasm", import.meta.url)) });

export * from "./vaultsync.js";
export default async function init() {}
`,
);
copyFileSync(new URL("README.md", root), new URL("README.md", pkg));
copyFileSync(new URL("LICENSE", root), new URL("LICENSE", pkg));
console.log(`[pkg] vaultsync ${version} ready in pkg/`);

// wasm-bindgen cannot mark a parameter with an explicit TypeScript type as optional: the
// options of SyncClient's static constructors are optional (undefined means defaults).
const dts = new URL("vaultsync.d.ts", pkg);
const types = readFileSync(dts, "utf8").replaceAll(
  "options: SyncClientOptions)",
  "options?: SyncClientOptions)",
);
if (!types.includes("options?: SyncClientOptions)")) {
  throw new Error("finish-pkg: SyncClient options not found in vaultsync.d.ts");
}
let patched = types;
for (const [from, to] of [
  ["live(options: LiveOptions)", "live(options?: LiveOptions)"],
  ["options: DeleteManyOptions)", "options?: DeleteManyOptions)"],
]) {
  const next = patched.replace(from, to);
  if (next === patched) throw new Error(`finish-pkg: ${from} not found in vaultsync.d.ts`);
  patched = next;
}
writeFileSync(dts, patched);
