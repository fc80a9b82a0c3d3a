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
  try {
    vault.openText(id, 7, false, fromSpec2);
    throw new Error("the package opened a record under the wrong version");
  } catch (e) {
    if (e.code !== "TAMPERED") throw e;
  }
  done.push("webcrypto->package");
  vault.free();
  return done;
}
