/**
 * Test fixtures: one static server (harness + shard files) per Playwright worker process on
 * an ephemeral port, and a page opened on the harness, ready to call `globalThis.harness`.
 * For mesh tests: the real signaling server serving the built page (app/), and `peers(n)`,
 * one browser context per peer so that each has its own storage, as separate machines do;
 * `startMeshServer(options)` for a test that needs a server of its own (a join secret, or one
 * it stops and starts again on the same port).
 */

import { fileURLToPath } from 'node:url';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  test as base,
  type Page,
} from '@playwright/test';
import { build } from 'vite';
import {
  type SignalingServer,
  type SignalingStartOptions,
  startSignalingServer,
} from '../signaling';
import { HARNESS_DIR } from './build-harness';
import { type StaticServer, startServer } from './server';

/** Where the page (app/) is built for the tests, apart from `npm start`'s dist/app. */
export const APP_TEST_DIR = fileURLToPath(new URL('../dist/e2e-app/', import.meta.url));

/**
 * Opens `n` pages, one browser context each (with `options`, e.g. a wide viewport); all of
 * them are closed after the test.
 */
export type PeersFixture = (n: number, options?: BrowserContextOptions) => Promise<Page[]>;

/** Server options a test may choose: a join secret, the port of a server it replaces, a Redis to federate through. */
export type MeshServerOptions = Pick<
  SignalingStartOptions,
  'secret' | 'port' | 'redisUrl' | 'serverId' | 'memberTtlMs' | 'accessLog'
>;

/**
 * Starts one more signaling server serving the built page, for a test that needs its own
 * (a secret, or one it stops and starts again on the same port); each is closed after the
 * test, also when the test already closed it.
 */
export type StartMeshServerFixture = (options?: MeshServerOptions) => Promise<SignalingServer>;

export const test = base.extend<
  { harnessPage: Page; peers: PeersFixture; startMeshServer: StartMeshServerFixture },
  { server: StaticServer; meshServer: SignalingServer }
>({
  server: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this destructuring, and requires one even when empty.
    async ({}, use) => {
      const server = await startServer({ root: HARNESS_DIR });
      await use(server);
      await server.close();
    },
    { scope: 'worker' },
  ],
  meshServer: [
    // biome-ignore lint/correctness/noEmptyPattern: as above.
    async ({}, use) => {
      // Built here rather than in the global setup: only mesh tests pay for it.
      await buildApp();
      const server = await startAppServer({});
      await use(server);
      await server.close();
    },
    // The build bundles tfjs twice (page and Worker): tens of seconds on a small machine.
    { scope: 'worker', timeout: 180_000 },
  ],
  harnessPage: async ({ page, server }, use) => {
    await use(await openHarness(page, server.url));
  },
  peers: async ({ browser }, use) => {
    const contexts: BrowserContext[] = [];
    await use((n, options) => openPeers(browser, n, contexts, options ?? {}));
    await Promise.all(contexts.map((c) => c.close()));
  },
  // Depends on meshServer only for its build of the page (dist/e2e-app).
  startMeshServer: async ({ meshServer: _built }, use) => {
    const started: SignalingServer[] = [];
    await use(async (options) => {
      const server = await startAppServer(options ?? {});
      started.push(server);
      return server;
    });
    // close() may be called twice: a test that stopped its server already is fine.
    await Promise.all(started.map((s) => s.close()));
  },
});

/** The real signaling server serving the page built into APP_TEST_DIR, quiet. */
function startAppServer(options: MeshServerOptions): Promise<SignalingServer> {
  // 127.0.0.1 is a secure context, so the page is offered WebGPU (and WebRTC works).
  return startSignalingServer({
    host: '127.0.0.1',
    port: 0,
    ...options,
    staticDir: APP_TEST_DIR,
    log: () => {},
  });
}

async function openPeers(
  browser: Browser,
  n: number,
  contexts: BrowserContext[],
  options: BrowserContextOptions,
): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < n; i++) {
    const context = await browser.newContext(options);
    contexts.push(context);
    const page = await context.newPage();
    reportErrors(page, `peer ${i + 1}`);
    pages.push(page);
  }
  return pages;
}

/** Builds app/ with the dashboard's own vite.config.ts into APP_TEST_DIR. */
export async function buildApp(): Promise<string> {
  const t0 = performance.now();
  await build({
    configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
    // Absolute, so the build does not depend on the directory the runner was started in.
    root: fileURLToPath(new URL('../app/', import.meta.url)),
    logLevel: 'warn',
    build: { outDir: APP_TEST_DIR, emptyOutDir: true },
  });
  console.log(`e2e: app built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return APP_TEST_DIR;
}

/**
 * Page and Worker errors end up in the test's output, where a failure is explained.
 * Warnings stay out: tfjs warns, with stacks, about every backend it tries and cannot start.
 */
function reportErrors(page: Page, label: string): void {
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[${label} error] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[${label} error] ${e.message}`));
}

/** Opens the harness page on `serverUrl` and waits until `globalThis.harness` is set. */
export async function openHarness(page: Page, serverUrl: string): Promise<Page> {
  reportErrors(page, 'page');
  await page.goto(`${serverUrl}/index.html`);
  await page.waitForFunction(() => globalThis.harness !== undefined, undefined, {
    timeout: 30_000,
  });
  return page;
}

export { expect } from '@playwright/test';
