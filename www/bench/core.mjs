// Benchmark bodies shared by Node (bench/node.mjs) and Chromium (bench/page.html): the
// package against WebCrypto and @noble/ciphers, measured in one run, in one runtime.
// Figures, not pass/fail: see BENCHMARKS.md for targets and results.

const te = new TextEncoder();
export const now = () => performance.now();
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeIt(fn, reps) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    await fn();
    times.push(now() - t);
  }
  return median(times);
}

export async function webcryptoPbkdf2(password, salt, iterations) {
  const key = await crypto.subtle.importKey("raw", te.encode(password), "PBKDF2", false, ["deriveBits"]);
  return crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
}

/** Builds `count` random plaintexts of `size` bytes and per-record metadata. */
function workload(vault, count, size) {
  const records = [];
  for (let i = 0; i < count; i++) {
    const plain = new Uint8Array(size);
    for (let o = 0; o < size; o += 65536) crypto.getRandomValues(plain.subarray(o, Math.min(size, o + 65536)));
    records.push({ id: vault.newRecordId(), plain });
  }
  return records;
}

/** AD bytes as FORMAT.md builds them, so the references do the same work. */
function adFor(i) {
  const ad = new Uint8Array(46);
  ad[0] = 0xd1;
  new DataView(ad.buffer).setUint32(33 + 4, i + 1);
  return ad;
}

async function sealOpenPackage(vault, records) {
  const sealed = new Array(records.length);
  for (let i = 0; i < records.length; i++) sealed[i] = vault.seal(records[i].id, i + 1, false, records[i].plain);
  for (let i = 0; i < records.length; i++) vault.open(records[i].id, i + 1, false, sealed[i]);
}

async function sealOpenWebCrypto(key, records) {
  const sealed = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: adFor(i) }, key, records[i].plain);
    sealed[i] = { iv, ct };
  }
  for (let i = 0; i < records.length; i++) {
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed[i].iv, additionalData: adFor(i) }, key, sealed[i].ct);
  }
}

/** @param {any} gcm @param {Uint8Array} key @param {{ plain: Uint8Array }[]} records */
function sealOpenNoble(gcm, key, records) {
  const sealed = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    sealed[i] = { iv, ct: gcm(key, iv, adFor(i)).encrypt(records[i].plain) };
  }
  for (let i = 0; i < records.length; i++) gcm(key, sealed[i].iv, adFor(i)).decrypt(sealed[i].ct);
}

/**
 * Warm figures (median of `reps`). `pkg` is the initialised vaultsync module, `gcm` is
 * @noble/ciphers' aes.gcm. Returns { name: ms }.
 * @param {{ pkg: any, gcm: any, reps?: number, log?: (message: string) => void }} options
 */
export async function warmBench({ pkg, gcm, reps = 5, log = () => {} }) {
  const out = {};
  const password = "benchmark password";
  const { envelope, vault } = await pkg.createVault(password);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  log("unlock (warm)");
  out.unlockPackage = await timeIt(() => pkg.unlock(envelope, password).then((v) => v.free()), reps);
  out.pbkdf2WebCrypto = await timeIt(() => webcryptoPbkdf2(password, salt, 600000), reps);

  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const key = await crypto.subtle.importKey("raw", rawKey, "AES-GCM", false, ["encrypt", "decrypt"]);
  /** @type {[string, number, number, number][]} */
  const workloads = [
    ["1k", 10000, 1024, reps],
    ["64k", 100, 65536, reps],
  ];
  for (const [label, count, size, r] of workloads) {
    log(`seal+open ${count} x ${size} B`);
    const records = workload(vault, count, size);
    out[`sealOpen${label}Package`] = await timeIt(() => sealOpenPackage(vault, records), r);
    out[`sealOpen${label}WebCrypto`] = await timeIt(() => sealOpenWebCrypto(key, records), r);
    out[`sealOpen${label}Noble`] = await timeIt(() => sealOpenNoble(gcm, rawKey, records), Math.min(r, 3));
  }
  vault.free();
  return out;
}

/**
 * The first call after load in a fresh runtime: `mode` "package" (first unlock once the module
 * is loaded; the load itself is returned as `loadMs`), "webcrypto" (first PBKDF2) or
 * "fallback" (first unlock with WebCrypto's PBKDF2 hidden: the pure-WASM path).
 */
export async function coldOnce({ init, loadPkg, mode, envelope, password }) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  if (mode === "webcrypto") {
    const t = now();
    await webcryptoPbkdf2(password, salt, 600000);
    return { ms: now() - t };
  }
  if (mode === "fallback") {
    // No WebCrypto PBKDF2: the pure-WASM path (simd128). getRandomValues stays available.
    Object.defineProperty(globalThis.crypto, "subtle", { value: undefined, configurable: true });
  }
  const t0 = now();
  const pkg = await loadPkg();
  await init(pkg);
  const t1 = now();
  const vault = await pkg.unlock(envelope, password);
  const ms = now() - t1;
  vault.free();
  return { ms, loadMs: t1 - t0 };
}
