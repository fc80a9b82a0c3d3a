// One cold measurement in a fresh Node process: node bench/node-cold.mjs MODE ENVELOPE PASSWORD
import { coldOnce } from "./core.mjs";

const [mode, envelope, password] = process.argv.slice(2);
const result = await coldOnce({
  mode,
  envelope,
  password,
  loadPkg: () => import("vaultsync"),
  init: (pkg) => pkg.default(),
});
console.log(JSON.stringify(result));
