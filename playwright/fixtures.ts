/**
 * Test fixtures: one static server (harness + shard files) per Playwright worker process on
 * an ephemeral port, and a page opened on the harness, ready to call `globalThis.harness`.
 */

import { test as base, type Page } from '@playwright/test';
import { HARNESS_DIR } from './build-harness';
import { type StaticServer, startServer } from './server';

export const test = base.extend<{ harnessPage: Page }, { server: StaticServer }>({
  server: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this destructuring, and requires one even when empty.
    async ({}, use) => {
      const server = await startServer({ root: HARNESS_DIR });
      await use(server);
      await server.close();
    },
    { scope: 'worker' },
  ],
  harnessPage: async ({ page, server }, use) => {
    await use(await openHarness(page, server.url));
  },
});

/** Opens the harness page on `serverUrl` and waits until `globalThis.harness` is set. */
export async function openHarness(page: Page, serverUrl: string): Promise<Page> {
  // Page and Worker errors end up in the test's output, where a failure is explained.
  // Warnings stay out: tfjs warns, with stacks, about every backend it tries and cannot start.
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page error] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(`${serverUrl}/index.html`);
  await page.waitForFunction(() => globalThis.harness !== undefined, undefined, {
    timeout: 30_000,
  });
  return page;
}

export { expect } from '@playwright/test';
