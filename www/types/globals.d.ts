// Globals the test pages and the harness share (checked with `tsc -p jsconfig.json`).
interface Window {
  /** What a test page hands back to the harness (lib/harness.mjs pageResult). */
  __result?: any;
  /** The demo page is ready (tests/demo.test.mjs). */
  __demoReady?: boolean;
  /** One side of the A/B benchmark (bench/ab-page.html, driven by bench/ab-sync.mjs). */
  bench?: {
    initial(user: string, password: string): Promise<{ ms: number; count: number }>;
    push(user: string, password: string, records: number): Promise<number>;
  };
}
