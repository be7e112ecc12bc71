/**
 * Builds the harness page (playwright/harness) with Vite's JS API into dist/harness, apart
 * from the dashboard's vite.config.ts. Used by the e2e global setup and bench:trainer.
 */

import { fileURLToPath } from 'node:url';
import { build } from 'vite';

/** Where the built harness lands (served by playwright/server.ts). */
export const HARNESS_DIR = fileURLToPath(new URL('../dist/harness/', import.meta.url));

/** Builds the harness; resolves to the output folder. */
export async function buildHarness(): Promise<string> {
  await build({
    // No config file: the root vite.config.ts belongs to the dashboard (app/).
    configFile: false,
    root: fileURLToPath(new URL('./harness/', import.meta.url)),
    logLevel: 'warn',
    // Nothing in public/ is needed: data comes from /data/shard/.
    publicDir: false,
    build: {
      outDir: HARNESS_DIR,
      emptyOutDir: true,
      target: 'es2022',
      // tfjs is large; the warning says nothing new on every run.
      chunkSizeWarningLimit: 8192,
      sourcemap: true,
    },
    // ES workers: the trainer code-splits the WebGPU backend behind a dynamic import.
    worker: { format: 'es' },
  });
  return HARNESS_DIR;
}
