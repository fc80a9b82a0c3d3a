// An independent implementation of FORMAT.md that uses ONLY WebCrypto (crypto.subtle) and
// the specification: no code of the vaultsync package. It proves FORMAT.md is complete.
// Works in Node >= 18 and in browsers (module scripts, workers).

const subtle = globalThis.crypto.subtle;
const te = new TextEncoder();

export const fromB64url = (s) => {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};
export const toB64url = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
export const unhex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const u32be = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const u64be = (n) => concat(u32be(Math.floor(n / 2 ** 32)), u32be(n >>> 0));
const readU32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const readU64 = (b, o) => readU32(b, o) * 2 ** 32 + readU32(b, o + 4);
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// FORMAT.md, "Key derivation"
export async function pbkdf2(password, salt, iterations) {
  const key = await subtle.importKey("raw", te.encode(password), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(
    await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256),
  );
}
export async function hkdf(ikm, salt, label) {
  const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(
    await subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: salt ?? new Uint8Array(0), info: te.encode(label) },
      key,
      256,
    ),
  );
}
async function hmac(key, data) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}
async function gcmKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
async function gcmOpen(raw, iv, data, additionalData) {
  return new Uint8Array(
    await subtle.decrypt({ name: "AES-GCM", iv, additionalData }, await gcmKey(raw), data),
  );
}
async function gcmSeal(raw, iv, data, additionalData) {
  return new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv, additionalData }, await gcmKey(raw), data),
  );
}

// FORMAT.md, "Envelope"
export function parseEnvelope(bytes) {
  if (bytes[0] !== 0xe1 && bytes[0] !== 0xe2) throw new Error("unsupported envelope format");
  let o = 1;
  const take = (n) => {
    if (o + n > bytes.length) throw new Error("truncated");
    const out = bytes.subarray(o, o + n);
    o += n;
    return out;
  };
  const vaultId = take(16);
  // E2: a generation (u64, at least 1) after the vault id; E1 is generation 0.
  const generation = bytes[0] === 0xe2 ? readU64(take(8), 0) : 0;
  if (bytes[0] === 0xe2 && generation === 0) throw new Error("generation 0 in an E2 envelope");
  const alg = take(1)[0];
  const iterations = readU32(take(4), 0);
  const salt = take(take(1)[0]);
  const slot = () => ({ check: take(32), nonce: take(12), wrapped: take(48) });
  const password = slot();
  const recovery = slot();
  const currentKeyId = readU32(take(4), 0);
  const keyringNonce = take(12);
  const ctLen = (take(1)[0] << 8) | take(1)[0];
  const keyringCiphertext = take(ctLen);
  const bodyEnd = o;
  const mac = take(32);
  if (o !== bytes.length) throw new Error("trailing bytes");
  if (alg !== 1 || iterations < 100000 || iterations > 10000000 || salt.length < 16)
    throw new Error("KDF parameters refused");
  return { vaultId, generation, iterations, salt, password, recovery, currentKeyId, keyringNonce,
    keyringCiphertext, body: bytes.subarray(0, bodyEnd), mac };
}

const passwordAd = (e) =>
  concat([0xe1], e.vaultId, [0x50], [1], u32be(e.iterations), [e.salt.length], e.salt);
const recoveryAd = (e) => concat([0xe1], e.vaultId, [0x52]);
const keyringAd = (e) => concat([0xe1], e.vaultId, [0x4b], u32be(e.currentKeyId));

async function openSlot(slot, checkKey, kek, ad) {
  if (!equal(await hmac(checkKey, ad), slot.check)) throw new Error("wrong secret");
  return gcmOpen(kek, slot.nonce, slot.wrapped, ad);
}

async function openKeyring(e, root) {
  const macKey = await hkdf(root, null, "vaultsync/v1/envelope-mac");
  if (!equal(await hmac(macKey, e.body), e.mac)) throw new Error("envelope MAC mismatch");
  const ring = await gcmOpen(
    await hkdf(root, null, "vaultsync/v1/keyring"), e.keyringNonce, e.keyringCiphertext, keyringAd(e));
  const keys = new Map();
  for (let i = 0; i < ring[0]; i++) {
    const at = 1 + i * 36;
    keys.set(readU32(ring, at), ring.slice(at + 4, at + 36));
  }
  return { root, keys, currentKeyId: e.currentKeyId, vaultId: e.vaultId, envelope: e };
}

/**
 * Builds an envelope (bytes) from every input, with WebCrypto alone (FORMAT.md,
 * "Envelope"): the password's master key, the root key, the recovery code's bytes, the
 * keyring plaintext and its current key id, and the three nonces.
 */
export async function buildEnvelope({ vaultId, iterations, salt, master, root, code, currentKeyId,
  keyringPlain, nonceP, nonceR, nonceK }) {
  const e = { vaultId, iterations, salt, currentKeyId };
  const slot = async (checkKey, kek, ad, nonce) =>
    concat(await hmac(checkKey, ad), nonce, await gcmSeal(kek, nonce, root, ad));
  const adP = passwordAd(e);
  const slotP = await slot(await hkdf(master, null, "vaultsync/v1/password-check"),
    await hkdf(master, null, "vaultsync/v1/kek"), adP, nonceP);
  const slotR = await slot(await hkdf(code, vaultId, "vaultsync/v1/recovery-check"),
    await hkdf(code, vaultId, "vaultsync/v1/recovery-kek"), recoveryAd(e), nonceR);
  const ring = await gcmSeal(await hkdf(root, null, "vaultsync/v1/keyring"), nonceK, keyringPlain,
    keyringAd(e));
  const body = concat([0xe1], vaultId, [1], u32be(iterations), [salt.length], salt, slotP, slotR,
    u32be(currentKeyId), nonceK, [ring.length >> 8, ring.length & 255], ring);
  return concat(body, await hmac(await hkdf(root, null, "vaultsync/v1/envelope-mac"), body));
}

/** Unlocks an envelope (base64url text) with a password; returns the keyring. */
export async function unlockWithPassword(envelopeText, password) {
  const e = parseEnvelope(fromB64url(envelopeText));
  const master = await pbkdf2(password, e.salt, e.iterations);
  const root = await openSlot(
    e.password,
    await hkdf(master, null, "vaultsync/v1/password-check"),
    await hkdf(master, null, "vaultsync/v1/kek"),
    passwordAd(e),
  );
  return { ...(await openKeyring(e, root)), master, authKey: await hkdf(master, null, "vaultsync/v1/auth") };
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export function parseRecoveryCode(text) {
  const symbols = text.toUpperCase().replace(/[-\s]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  if (symbols.length !== 32) throw new Error("malformed recovery code");
  const out = new Uint8Array(20);
  let bits = 0, n = 0, o = 0;
  for (const c of symbols) {
    const v = CROCKFORD.indexOf(c);
    if (v < 0) throw new Error("malformed recovery code");
    bits = ((bits << 5) | v) & 0xffff;
    n += 5;
    if (n >= 8) {
      n -= 8;
      out[o++] = (bits >> n) & 255;
    }
  }
  return out;
}

/** The recovery auth key a recovery login sends (the server stores its SHA-256). */
export async function recoveryAuthKey(codeText) {
  return hkdf(parseRecoveryCode(codeText), null, "vaultsync/v1/recovery-auth");
}

/** Unlocks an envelope with its recovery code; returns the keyring. */
export async function unlockWithRecoveryCode(envelopeText, codeText) {
  const e = parseEnvelope(fromB64url(envelopeText));
  const code = parseRecoveryCode(codeText);
  const root = await openSlot(
    e.recovery,
    await hkdf(code, e.vaultId, "vaultsync/v1/recovery-check"),
    await hkdf(code, e.vaultId, "vaultsync/v1/recovery-kek"),
    recoveryAd(e),
  );
  return openKeyring(e, root);
}

// FORMAT.md, "Records"
const recordAd = (vaultId, recordId, version, deleted, keyId) =>
  concat([0xd1], vaultId, recordId, u64be(version), [deleted ? 1 : 0], u32be(keyId));

/** Opens a sealed record (base64url) with an unlocked keyring. A tombstone's plaintext is empty. */
export async function openRecord(ring, recordIdText, version, deleted, sealedText) {
  const b = fromB64url(sealedText);
  if (b[0] !== 0xd1) throw new Error("unsupported record format");
  const keyId = readU32(b, 1);
  const key = ring.keys.get(keyId);
  if (!key) throw new Error(`unknown key id ${keyId}`);
  const ad = recordAd(ring.vaultId, fromB64url(recordIdText), version, deleted, keyId);
  const plain = await gcmOpen(key, b.subarray(5, 17), b.subarray(17), ad);
  if (deleted && plain.length !== 0) throw new Error("a tombstone with a plaintext");
  return plain;
}

/**
 * Seals a record with the current key and a fresh random nonce (or `nonce`); returns
 * base64url. It does not refuse a tombstone with a plaintext, so tests can make one.
 */
export async function sealRecord(ring, recordIdText, version, deleted, plaintext, nonce) {
  const keyId = ring.currentKeyId;
  nonce ??= crypto.getRandomValues(new Uint8Array(12));
  const ad = recordAd(ring.vaultId, fromB64url(recordIdText), version, deleted, keyId);
  const ct = await gcmSeal(ring.keys.get(keyId), nonce, plaintext, ad);
  return toB64url(concat([0xd1], u32be(keyId), nonce, ct));
}

// FORMAT.md, "Vault head"

/** The leaf and head keys of a vault, from its root key. */
export async function headKeys(root) {
  return {
    leaf: await hkdf(root, null, "vaultsync/v1/head-leaf"),
    head: await hkdf(root, null, "vaultsync/v1/head-mac"),
  };
}

/** A live record's leaf: HMAC(leaf key, vault_id || record_id || version || SHA-256(sealed)). */
export async function leaf(keys, vaultId, recordIdText, version, sealedText) {
  const hash = new Uint8Array(await subtle.digest("SHA-256", fromB64url(sealedText)));
  return hmac(keys.leaf, concat(vaultId, fromB64url(recordIdText), u64be(version), hash));
}

/** XOR of leaves: the set digest. */
export function digest(leaves) {
  const out = new Uint8Array(32);
  for (const l of leaves) for (let i = 0; i < 32; i++) out[i] ^= l[i];
  return out;
}

/** Parses a sealed head (its layout only). */
export function parseHead(bytes) {
  if (bytes[0] !== 0xa1) throw new Error("unsupported head format");
  const n = bytes[81];
  if (n < 1 || n > 64 || bytes.length !== 82 + 24 * n + 32) throw new Error("bad head length");
  const vector = [];
  for (let i = 0; i < n; i++) {
    const at = 82 + 24 * i;
    vector.push({ device: bytes.slice(at, at + 16), seq: readU64(bytes, at + 16) });
  }
  return {
    vaultId: bytes.slice(1, 17), chain: readU64(bytes, 17), seq: readU64(bytes, 25),
    prevTag: bytes.slice(33, 65), writer: bytes.slice(65, 81), vector,
    body: bytes.slice(0, 82 + 24 * n), tag: bytes.slice(82 + 24 * n),
  };
}

/** Whether a head's tag is HMAC(head key, head || digest). */
export async function headVerifies(keys, head, setDigest) {
  return equal(await hmac(keys.head, concat(head.body, setDigest)), head.tag);
}

/** The vault state code: seq and four words of `wordList` (the BIP-39 English list). */
export async function stateCode(headBytes, wordList) {
  const d = new Uint8Array(
    await subtle.digest("SHA-256", concat(te.encode("vaultsync/v1/state-code"), headBytes)),
  );
  let bits = 0n;
  for (let i = 0; i < 6; i++) bits = (bits << 8n) | BigInt(d[i]);
  const words = [0, 1, 2, 3].map((i) => wordList[Number((bits >> BigInt(37 - 11 * i)) & 0x7ffn)]);
  return `${parseHead(headBytes).seq} ${words.join(" ")}`;
}

// FORMAT.md, "Device linking": HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-GCM, composed by hand from WebCrypto's X25519, HMAC and AES-GCM
// (WebCrypto has no HPKE), and the link phrase.
const u16be = (n) => new Uint8Array([n >>> 8, n & 255]);
/** PKCS#8 header of an X25519 private key (RFC 8410): the 32 key bytes follow. */
const X25519_PKCS8 = unhex("302e020100300506032b656e04220420");
const BASEPOINT = concat(new Uint8Array([9]), new Uint8Array(31));

/** X25519(sk, pk), through WebCrypto. */
export async function x25519(sk, pk) {
  const priv = await subtle.importKey("pkcs8", concat(X25519_PKCS8, sk), { name: "X25519" }, false, ["deriveBits"]);
  const pub = await subtle.importKey("raw", pk, { name: "X25519" }, false, []);
  return new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, priv, 256));
}
/** The public key of an X25519 private key: X25519(sk, 9). */
export const x25519Public = (sk) => x25519(sk, BASEPOINT);

async function hkdfExtract(salt, ikm) {
  return hmac(salt.length ? salt : new Uint8Array(32), ikm);
}
async function hkdfExpand(prk, info, length) {
  let out = new Uint8Array(0);
  let t = new Uint8Array(0);
  for (let i = 1; out.length < length; i++) {
    t = await hmac(prk, concat(t, info, new Uint8Array([i])));
    out = concat(out, t);
  }
  return out.slice(0, length);
}
const KEM_SUITE = concat(te.encode("KEM"), u16be(0x20));
const hpkeSuite = (aeadId) => concat(te.encode("HPKE"), u16be(0x20), u16be(1), u16be(aeadId));
const labeledExtract = (suite, salt, label, ikm) =>
  hkdfExtract(salt, concat(te.encode("HPKE-v1"), suite, te.encode(label), ikm));
const labeledExpand = (suite, prk, label, info, length) =>
  hkdfExpand(prk, concat(u16be(length), te.encode("HPKE-v1"), suite, te.encode(label), info), length);

/** RFC 9180 DeriveKeyPair for X25519: the private key. */
export async function hpkeDeriveSecret(ikm) {
  return labeledExpand(KEM_SUITE, await labeledExtract(KEM_SUITE, new Uint8Array(0), "dkp_prk", ikm), "sk", new Uint8Array(0), 32);
}
async function sharedSecret(dh, kemContext) {
  if (dh.every((b) => b === 0)) throw new Error("low-order point");
  const prk = await labeledExtract(KEM_SUITE, new Uint8Array(0), "eae_prk", dh);
  return labeledExpand(KEM_SUITE, prk, "shared_secret", kemContext, 32);
}
/** The key schedule of base mode: { key, baseNonce } for an AEAD with `keyLength`-byte keys. */
export async function hpkeSchedule(shared, info, aeadId = 2, keyLength = 32) {
  const suite = hpkeSuite(aeadId);
  const none = new Uint8Array(0);
  const context = concat(
    new Uint8Array([0]),
    await labeledExtract(suite, none, "psk_id_hash", none),
    await labeledExtract(suite, none, "info_hash", info),
  );
  const secret = await labeledExtract(suite, shared, "secret", none);
  return {
    key: await labeledExpand(suite, secret, "key", context, keyLength),
    baseNonce: await labeledExpand(suite, secret, "base_nonce", context, 12),
  };
}
/** SealBase with the ephemeral private key given: { enc, ct, shared }. */
export async function hpkeSeal(pkR, info, aad, pt, skE) {
  const enc = await x25519Public(skE);
  const shared = await sharedSecret(await x25519(skE, pkR), concat(enc, pkR));
  const { key, baseNonce } = await hpkeSchedule(shared, info);
  return { enc, ct: await gcmSeal(key, baseNonce, pt, aad), shared };
}
/** OpenBase: the plaintext (throws if anything differs). */
export async function hpkeOpen(skR, enc, info, aad, ct) {
  const pkR = await x25519Public(skR);
  const shared = await sharedSecret(await x25519(skR, enc), concat(enc, pkR));
  const { key, baseNonce } = await hpkeSchedule(shared, info);
  return gcmOpen(key, baseNonce, ct, aad);
}
/** The link phrase: six words of `wordList` from HKDF-SHA256(salt "vaultsync/v1/link-phrase", ikm public key, info request id). */
export async function linkPhrase(publicKey, requestId, wordList) {
  const prk = await hkdfExtract(te.encode("vaultsync/v1/link-phrase"), publicKey);
  const bits = await hkdfExpand(prk, requestId, 9);
  let value = 0n;
  for (const b of bits) value = (value << 8n) | BigInt(b);
  return [0, 1, 2, 3, 4, 5].map((i) => wordList[Number((value >> BigInt(61 - 11 * i)) & 0x7ffn)]).join(" ");
}
