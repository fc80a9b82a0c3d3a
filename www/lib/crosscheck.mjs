// The WebCrypto cross-check, shared by the Node test and the Chromium page: the package
// and the WebCrypto-only implementation of FORMAT.md (spec.mjs) must read each other.
import * as spec from "./spec.mjs";

const td = new TextDecoder();
const te = new TextEncoder();

/** Runs every check; `pkg` is the imported vaultsync module (initialised). Throws on failure. */
export async function crossCheck(pkg, vectors) {
  const done = [];
  // 1. The stored known-answer vectors open with WebCrypto alone.
  if (vectors) {
    const { inputs, outputs } = vectors;
    const ring = await spec.unlockWithPassword(outputs.envelope_text, inputs.password);
    if (spec.hex(ring.authKey) !== outputs.auth_key_hex) throw new Error("auth key differs");
    for (const [i, rec] of inputs.records.entries()) {
      const out = outputs.records[i];
      const plain = await spec.openRecord(ring, out.record_id_text, rec.version, rec.deleted, out.sealed_text);
      if (td.decode(plain) !== rec.plaintext_utf8) throw new Error("vector plaintext differs");
    }
    const byCode = await spec.unlockWithRecoveryCode(outputs.envelope_text, outputs.recovery_code_text);
    if (spec.hex(byCode.keys.get(1)) !== inputs.vault_key_1) throw new Error("vault key differs");
    const recoveryKey = await spec.recoveryAuthKey(outputs.recovery_code_text);
    if (spec.hex(recoveryKey) !== outputs.recovery_auth_key_hex) throw new Error("recovery auth key differs");
    // The whole envelope, rebuilt from FORMAT.md's worked-example inputs byte for byte.
    const u = spec.unhex;
    const rebuilt = await spec.buildEnvelope({
      vaultId: u(inputs.vault_id), iterations: inputs.iterations, salt: u(inputs.salt),
      master: ring.master, root: u(inputs.root_key), code: u(inputs.recovery_code_bytes),
      currentKeyId: 1, keyringPlain: new Uint8Array([1, 0, 0, 0, 1, ...u(inputs.vault_key_1)]),
      nonceP: u(inputs.password_slot_nonce), nonceR: u(inputs.recovery_slot_nonce),
      nonceK: u(inputs.keyring_nonce),
    });
    if (spec.hex(rebuilt) !== outputs.envelope_hex) throw new Error("the rebuilt envelope differs");
    for (const [i, rec] of inputs.records.entries()) {
      const sealed = await spec.sealRecord(ring, outputs.records[i].record_id_text, rec.version,
        rec.deleted, te.encode(rec.plaintext_utf8), u(rec.nonce));
      if (sealed !== outputs.records[i].sealed_text) throw new Error(`record ${i} differs`);
    }
    // The vault's first head over the first record (live): its leaf and tag.
    const keys = await spec.headKeys(u(inputs.root_key));
    const leaf = await spec.leaf(keys, u(inputs.vault_id), outputs.records[0].record_id_text,
      inputs.records[0].version, outputs.records[0].sealed_text);
    if (spec.hex(leaf) !== outputs.head.leaf_hex) throw new Error("the head's leaf differs");
    const head = spec.parseHead(u(outputs.head.head_hex));
    if (head.seq !== 1 || head.chain !== 0 || spec.hex(head.writer) !== inputs.head_writer)
      throw new Error("the head's fields differ");
    if (!(await spec.headVerifies(keys, head, spec.digest([leaf])))) throw new Error("the head's tag differs");
    if (await spec.headVerifies(keys, head, spec.digest([]))) throw new Error("an empty set verified");
    done.push("vectors");
  }
  // 2. What the package makes, WebCrypto opens.
  const created = await pkg.createVault("päss wörd ✓", 100000);
  const vault = created.vault;
  const id = vault.newRecordId();
  const sealed = vault.sealText(id, 3, false, '{"title":"from the package"}');
  const ring = await spec.unlockWithPassword(created.envelope, "päss wörd ✓");
  if (td.decode(await spec.openRecord(ring, id, 3, false, sealed)) !== '{"title":"from the package"}')
    throw new Error("WebCrypto could not open the package's record");
  const tomb = vault.seal(id, 4, true, new Uint8Array(0));
  if ((await spec.openRecord(ring, id, 4, true, tomb)).length !== 0) throw new Error("tombstone");
  let refused = false;
  try {
    await spec.openRecord(ring, id, 4, false, tomb);
  } catch {
    refused = true;
  }
  if (!refused) throw new Error("WebCrypto opened a tombstone as a live record");
  await spec.unlockWithRecoveryCode(created.envelope, created.recoveryCode);
  done.push("package->webcrypto");
  // 3. What WebCrypto seals per the spec, the package opens; and after a rotation too.
  const fromSpec = await spec.sealRecord(ring, id, 5, false, te.encode("sealed by WebCrypto"));
  if (vault.openText(id, 5, false, fromSpec) !== "sealed by WebCrypto")
    throw new Error("the package could not open WebCrypto's record");
  const rotated = vault.rotate();
  const ring2 = await spec.unlockWithPassword(rotated, "päss wörd ✓");
  if (ring2.currentKeyId !== 2 || ring2.keys.size !== 2) throw new Error("rotated keyring");
  const fromSpec2 = await spec.sealRecord(ring2, id, 6, false, te.encode("under key 2"));
  if (vault.openText(id, 6, false, fromSpec2) !== "under key 2") throw new Error("key 2 record");
  const code = (f) => {
    try {
      f();
    } catch (e) {
      return e.code;
    }
    return "no error";
  };
  if (code(() => vault.openText(id, 7, false, fromSpec2)) !== "TAMPERED")
    throw new Error("the package opened a record under the wrong version");
  // A tombstone's plaintext is empty: the package refuses to seal anything else, and one
  // that opens to a plaintext (sealed here, per the AD, with one) is TAMPERED.
  if (code(() => vault.sealText(id, 8, true, "x")) !== "BAD_INPUT")
    throw new Error("the package sealed a tombstone with a plaintext");
  const fatTomb = await spec.sealRecord(ring2, id, 8, true, te.encode("x"));
  if (code(() => vault.open(id, 8, true, fatTomb)) !== "TAMPERED")
    throw new Error("the package opened a tombstone with a plaintext");
  // A keyring that authenticates (valid GCM and MAC) but does not parse is TAMPERED.
  const e = ring2.envelope;
  const badRing = await spec.buildEnvelope({
    vaultId: e.vaultId, iterations: e.iterations, salt: e.salt, master: ring2.master,
    root: ring2.root, code: crypto.getRandomValues(new Uint8Array(20)), currentKeyId: 2,
    keyringPlain: new Uint8Array([2, 0, 0, 0, 2, ...ring2.keys.get(2)]),
    nonceP: new Uint8Array(12), nonceR: new Uint8Array(12).fill(1), nonceK: new Uint8Array(12).fill(2),
  });
  let unlockCode = "no error";
  try {
    (await pkg.unlock(spec.toB64url(badRing), "päss wörd ✓")).free();
  } catch (err) {
    unlockCode = err.code;
  }
  if (unlockCode !== "TAMPERED") throw new Error(`a keyring that does not parse: ${unlockCode}`);
  done.push("webcrypto->package");
  vault.free();
  return done;
}

/**
 * Device linking (FORMAT.md, "Device linking") with WebCrypto alone: RFC 9180's vectors
 * (`hpke`: tests/data/hpke-rfc9180-x25519.json), the link phrase and a grant made by the
 * package's crypto (`link`: tests/data/link-v1.json), rebuilt and opened. `words`: the
 * BIP-39 list. Throws on failure.
 */
export async function linkCheck(hpke, link, words) {
  const u = spec.unhex;
  for (const v of hpke.vectors) {
    const skE = await spec.hpkeDeriveSecret(u(v.ikmE));
    if (spec.hex(skE) !== v.skEm) throw new Error("HPKE DeriveKeyPair differs");
    if (spec.hex(await spec.x25519Public(u(v.skRm))) !== v.pkRm) throw new Error("X25519 public key differs");
    const sched = await spec.hpkeSchedule(u(v.shared_secret), u(v.info), v.aead_id, v.key.length / 2);
    if (spec.hex(sched.key) !== v.key || spec.hex(sched.baseNonce) !== v.base_nonce) throw new Error("HPKE key schedule differs");
    if (v.aead_id !== 2) continue;
    const e = v.encryptions[0];
    const sealed = await spec.hpkeSeal(u(v.pkRm), u(v.info), u(e.aad), u(e.pt), skE);
    if (spec.hex(sealed.enc) !== v.enc || spec.hex(sealed.shared) !== v.shared_secret || spec.hex(sealed.ct) !== e.ct)
      throw new Error("HPKE seal differs from RFC 9180");
    if (spec.hex(await spec.hpkeOpen(u(v.skRm), u(v.enc), u(v.info), u(e.aad), u(e.ct))) !== e.pt)
      throw new Error("HPKE open differs from RFC 9180");
  }
  const p = link.phrase;
  if ((await spec.linkPhrase(u(p.public_key_hex), u(p.request_id_hex), words)) !== p.phrase)
    throw new Error("the link phrase differs");
  const g = link.payload;
  const info = new Uint8Array([...te.encode("vaultsync/v1/link"), ...u(g.vault_id_hex), ...u(g.request_id_hex)]);
  const aad = new Uint8Array([
    ...te.encode("vaultsync/v1/link-aad"), ...u(g.request_id_hex), ...u(g.recipient_public_hex), ...te.encode(g.label),
  ]);
  const grant = await spec.hpkeOpen(u(g.recipient_secret_hex), u(g.enc_hex), info, aad, u(g.payload_hex));
  const view = new DataView(grant.buffer, grant.byteOffset);
  const fields = {
    format: grant[0],
    root: spec.hex(grant.slice(1, 33)),
    version: view.getUint32(33) * 2 ** 32 + view.getUint32(37),
    generation: view.getUint32(41) * 2 ** 32 + view.getUint32(45),
    iterations: view.getUint32(49),
    head: spec.hex(grant.slice(55, 55 + view.getUint16(53))),
  };
  const want = { format: 0x4c, root: g.root_key_hex, version: g.envelope_version, generation: g.generation, iterations: g.iterations, head: g.head_hex };
  if (JSON.stringify(fields) !== JSON.stringify(want) || grant.length !== 55 + g.head_hex.length / 2)
    throw new Error(`the grant's fields differ: ${JSON.stringify(fields)}`);
  const again = await spec.hpkeSeal(u(g.recipient_public_hex), info, aad, grant, await spec.hpkeDeriveSecret(te.encode(g.ephemeral_ikm)));
  if (spec.hex(again.enc) !== g.enc_hex || spec.hex(again.ct) !== g.payload_hex) throw new Error("the rebuilt link payload differs");
  return ["hpke-rfc9180", "link-phrase", "link-grant"];
}
