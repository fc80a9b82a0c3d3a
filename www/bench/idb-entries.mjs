// IndexedDB alone in headless Chromium: one transaction writing about 10 MiB as 10,000
// entries of 1,100 B, as 256 of 43,000 B and as 40 of 275,000 B, then reading them back.
// Why the device store keeps values in 256 buckets, not one entry per record
// (BENCHMARKS.md, "Issue 9"). Usage: (cd www && node bench/idb-entries.mjs)
import { join } from "node:path";
import { startServer, REPO } from "../lib/server.mjs";
import { launchBrowser, pageResult } from "../lib/harness.mjs";

const server = await startServer(["--static", `/bench=${join(REPO, "www/bench")}`]);
try {
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const r = await pageResult(context, `${server.url}/bench/idb-page.html`, 120_000);
    if (!r.ok) throw new Error(r.error);
    for (const [k, v] of Object.entries(r.out)) console.log(`| ${k} | ${v.toFixed(0)} ms |`);
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
