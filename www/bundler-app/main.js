// Imports the package by name, as an application would; Vite bundles it and emits the .wasm.
import init, { createVault, unlock } from "vaultsync";

try {
  await init();
  const { vault, envelope } = await createVault("bundled", 100000);
  const id = vault.newRecordId();
  const sealed = vault.sealText(id, 1, false, "through the bundler");
  const again = await unlock(envelope, "bundled");
  window.__result = { ok: true, text: again.openText(id, 1, false, sealed) };
} catch (e) {
  window.__result = { ok: false, error: String(e?.stack ?? e) };
}
