/** Playwright global setup: builds the harness page once per run (a few seconds with Vite). */

import { buildHarness } from './build-harness';

export default async function globalSetup(): Promise<void> {
  const t0 = performance.now();
  await buildHarness();
  console.log(`e2e: harness built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
