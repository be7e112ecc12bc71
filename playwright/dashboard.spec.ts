// The dashboard in real Chromium, several tabs per room (one browser context each, as on
// separate machines), read through the test ids of its contract (data-testid + data-value):
// the mesh trains to a useful accuracy, WDB gives a slowed tab a smaller share of the batch,
// the bandwidth estimator finds an uplink cap, and the page explains what happens when a tab
// closes or reloads, a token is refused, or the signaling server goes away and comes back.
// Tabs train on tfjs's cpu backend: on this CPU-only machine it is several times faster for
// the mlp than WebGPU on SwiftShader, and the tests are about the mesh and the page.

import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';
import {
  allLinked,
  allTraining,
  apiPeerIds,
  newRoom,
  peerRow,
  rowNumber,
  START_MS,
  stepsAdvance,
  tabUrl,
} from './mesh-helpers';
import { field, numberField } from './page-fields';

/** The README's picture of a 3-tab mesh; written only with KEEP_SCREENSHOT=1. */
const SCREENSHOT_PATH = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const WIDE = { width: 1600, height: 1000 } as const;
/**
 * The slowdown test runs two tabs, both at a base slowdown of 2, and then slows one to 4x
 * that. On this 2-core machine, tabs that train flat out share the cores: the slowed tab's
 * idle time would go to the other one, whose capacity then rises by a third to a half, and
 * the shares would measure the core count as much as WDB (measured: weight ratios of 0.17 to
 * 0.25 from 1 vs 4, three tabs or two). At half duty the cores have room to spare, and the
 * ratio lands on the quarter (0.25 to 0.27 measured).
 */
const SLOW_TABS = 2;
const BASE_SLOWDOWN = 2;

/** Puts a measured figure into the report (list and JSON reporters), next to the verdict. */
const note = (description: string): void => {
  test.info().annotations.push({ type: 'measured', description });
};

test('three tabs link up, fill the dashboard and pass 90% accuracy', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(180_000);
  const room = newRoom('train');
  const pages = await peers(3, { viewport: WIDE });
  await Promise.all(pages.map((p, i) => p.goto(tabUrl(meshServer, room, `p${i + 1}`))));
  const ids = await allTraining(pages);
  await allLinked(pages);

  for (const [i, page] of pages.entries()) {
    // Every tab sees the whole room: three rows (its own marked), three nodes, six directed links.
    await expect(page.getByTestId('peer-row'), `p${i + 1}'s peers table`).toHaveCount(3, {
      timeout: 30_000,
    });
    for (const id of ids) await expect(peerRow(page, id)).toHaveCount(1);
    await expect(peerRow(page, ids[i] ?? '')).toHaveAttribute('data-self', 'true');
    await expect(page.getByTestId('mesh-node')).toHaveCount(3);
    await expect(page.getByTestId('mesh-link')).toHaveCount(6, { timeout: 30_000 });
    await expect(page.getByTestId('mesh-graph')).toHaveAttribute('aria-label', /\S/);
    await expect(page.getByTestId('status-banner')).toHaveAttribute('data-state', 'training');
  }

  // The mesh learns: the accuracy each tab shows passes 90% on its own validation split, and
  // its own row in the peers table says the same.
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'val-accuracy'), {
        message: `p${i + 1}'s validation accuracy passes 0.9`,
        timeout: 120_000,
        intervals: [1000, 2000],
      })
      .toBeGreaterThan(0.9);
    await expect
      .poll(() => rowNumber(page, ids[i] ?? '', 'row-accuracy'), {
        message: `p${i + 1}'s own row shows its accuracy`,
        timeout: 10_000,
      })
      .toBeGreaterThan(0.9);
  }

  const shown = await Promise.all(pages.map((p) => numberField(p, 'val-accuracy')));
  note(`validation accuracy ${shown.map((a) => a.toFixed(3)).join(', ')}`);

  // The charts filled while it trained.
  const first = pages[0] as Page;
  for (const chart of ['loss-chart', 'accuracy-chart']) {
    await expect
      .poll(() => field(first, chart, 'data-points').then(Number), { message: `${chart} fills` })
      .toBeGreaterThan(1);
  }

  // Rewritten on request only, so that ordinary runs leave the kept picture alone.
  if (process.env.KEEP_SCREENSHOT === '1') {
    await test.step('screenshot for the README', async () => {
      await first.screenshot({ path: SCREENSHOT_PATH, fullPage: true });
    });
  }
});

test('a tab slowed down 4x gets about a quarter of the others’ batch weight', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(180_000);
  const room = newRoom('slow');
  const pages = await peers(SLOW_TABS);
  await Promise.all(
    pages.map((p, i) =>
      p.goto(tabUrl(meshServer, room, `p${i + 1}`, { slowdown: String(BASE_SLOWDOWN) })),
    ),
  );
  const ids = await allTraining(pages);
  await allLinked(pages);
  const observer = pages[0] as Page;
  const slow = pages[pages.length - 1] as Page;
  const slowId = ids[ids.length - 1] ?? '';
  const others = ids.slice(0, -1);

  /** The slowed tab's weight over the mean of the others', as p1's peers table shows them. */
  let weights: number[] = [];
  const ratio = async (): Promise<number> => {
    weights = await Promise.all(
      [...others, slowId].map((id) => rowNumber(observer, id, 'row-weight')),
    );
    const othersMean = weights.slice(0, -1).reduce((a, b) => a + b, 0) / others.length;
    return (weights[weights.length - 1] ?? Number.NaN) / othersMean;
  };
  // Equal tabs first: equal shares, so a quarter later is the slowdown's doing.
  await expect
    .poll(ratio, { message: 'equal tabs have comparable weights', timeout: 30_000 })
    .toBeGreaterThan(0.6);

  // The slowdown is set from the slowed tab's own controls, at run time: 4x the others'.
  await slow.getByLabel('Slowdown (emulation)').fill(String(4 * BASE_SLOWDOWN));
  await slow.getByTestId('apply-emulation').click();

  await expect
    .poll(async () => Math.abs((await ratio()) / 0.25 - 1), {
      message: "the slowed tab's weight bar, seen from p1, is within 35% of a quarter",
      timeout: 90_000,
      intervals: [1000, 2000],
    })
    .toBeLessThanOrEqual(0.35);
  const capacities = await Promise.all(ids.map((id) => rowNumber(observer, id, 'row-capacity')));
  note(
    `weights ${weights.map((w) => w.toFixed(3)).join(', ')} (slowed tab last), ` +
      `capacities ${capacities.map((c) => c.toFixed(0)).join(', ')} samples/s`,
  );
});

test('an uplink cap of 2 Mbit/s is measured on the links from that tab', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(180_000);
  const room = newRoom('cap');
  const pages = await peers(2);
  await Promise.all(
    pages.map((p, i) =>
      p.goto(tabUrl(meshServer, room, `p${i + 1}`, i === 0 ? { uplinkMbps: '2' } : {})),
    ),
  );
  const ids = await allTraining(pages);
  await allLinked(pages);
  const cappedId = ids[0] ?? '';

  /** The worst relative error to 2 Mbit/s over the links from the capped tab that `page` draws. */
  let mbps: number[] = [];
  const worstError = async (page: Page): Promise<number> => {
    mbps = await page
      .locator(`[data-testid="mesh-link"][data-from="${cappedId}"]`)
      .evaluateAll((links) => links.map((l) => Number(l.getAttribute('data-mbps'))));
    if (mbps.length === 0) return Number.POSITIVE_INFINITY;
    return Math.max(...mbps.map((m) => (Number.isFinite(m) ? Math.abs(m / 2 - 1) : 1e9)));
  };
  // Measured by the capped tab itself, and reported through the server to the other one.
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => worstError(page), {
        message: `p${i + 1} draws the capped tab's links within 25% of 2 Mbit/s`,
        timeout: 90_000,
        intervals: [1000, 2000],
      })
      .toBeLessThanOrEqual(0.25);
    note(`p${i + 1} draws the capped links at ${mbps.map((m) => m.toFixed(2)).join(', ')} Mbit/s`);
  }
});

test('a closed tab leaves the others’ tables and they keep training', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(180_000);
  const room = newRoom('close');
  const pages = await peers(3);
  const ids = await test.step('three tabs train, linked', async () => {
    await Promise.all(pages.map((p, i) => p.goto(tabUrl(meshServer, room, `p${i + 1}`))));
    const started = await allTraining(pages);
    await allLinked(pages);
    return started;
  });
  const goneId = ids[2] ?? '';
  const stay = pages.slice(0, 2);
  for (const page of stay) await expect(peerRow(page, goneId)).toHaveCount(1, { timeout: 30_000 });

  await (pages[2] as Page).close();

  await test.step('the others drop it', async () => {
    for (const [i, page] of stay.entries()) {
      await expect
        .poll(() => numberField(page, 'link-count'), {
          message: `p${i + 1} drops its link to the closed tab`,
          timeout: 60_000,
        })
        .toBe(1);
      await expect(peerRow(page, goneId), `p${i + 1}'s peers table forgets it`).toHaveCount(0, {
        timeout: 30_000,
      });
      await expect(page.getByTestId('peer-row')).toHaveCount(2);
      await expect(page.locator(`[data-testid="mesh-node"][data-peer-id="${goneId}"]`)).toHaveCount(
        0,
      );
    }
  });
  await test.step('and keep training', () => stepsAdvance(stay, 'after the tab closed', 10));
});

test('a reloaded tab in a two-tab mesh resumes from its checkpoint', async ({
  peers,
  meshServer,
}) => {
  test.setTimeout(180_000);
  const room = newRoom('reload');
  const pages = await peers(2);
  const [tab, other] = pages as [Page, Page];
  // Records the first step the page ever shows (after each navigation): a poll could miss a
  // brief zero, the observer cannot.
  await tab.addInitScript(() => {
    const w = globalThis as { __firstStep?: number };
    const observer = new MutationObserver(() => {
      const v = document.querySelector('[data-testid="step"]')?.getAttribute('data-value');
      if (v !== null && v !== undefined && v !== '' && w.__firstStep === undefined) {
        w.__firstStep = Number(v);
        observer.disconnect();
      }
    });
    observer.observe(document, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-value'],
    });
  });
  await Promise.all(pages.map((p, i) => p.goto(tabUrl(meshServer, room, `p${i + 1}`))));
  const [id] = await allTraining(pages);
  await allLinked(pages);
  // The Worker saves a checkpoint every 100 steps.
  await expect
    .poll(() => numberField(tab, 'step'), { message: 'p1 passes step 110', timeout: 90_000 })
    .toBeGreaterThan(110);

  await tab.reload();
  const firstStep = () =>
    tab.evaluate(() => (globalThis as { __firstStep?: number }).__firstStep ?? Number.NaN);
  await expect
    .poll(firstStep, { message: 'p1 shows a step after the reload', timeout: START_MS })
    .not.toBeNaN();
  const resumedAt = await firstStep();
  note(`first step shown after the reload: ${resumedAt}`);
  expect(resumedAt, "p1's first step after the reload").toBeGreaterThanOrEqual(100);
  expect(await allTraining([tab])).toEqual([id]);
  await allLinked(pages);
  await stepsAdvance(pages, 'after the reload');
  expect(await numberField(other, 'link-count')).toBe(1);
});

test('a wrong token is refused with an explanation and nothing joins', async ({
  page,
  startMeshServer,
  request,
}) => {
  const server = await startMeshServer({ secret: 'e2e-dashboard-secret' });
  const room = newRoom('token');
  await page.goto(tabUrl(server, room, 'intruder', { token: 'wrong' }));
  const banner = page.getByTestId('status-banner');
  await expect(banner).toHaveAttribute('data-state', 'token-refused', { timeout: START_MS });
  await expect(banner).toBeVisible();
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(banner).toContainText(/token/i);
  // The server never let it in: no room, or a room without it.
  const listed = await apiPeerIds(request, server, room);
  expect(['HTTP 404', '']).toContain(listed);
});

test('the tabs keep training while the signaling server restarts, then reconnect', async ({
  peers,
  startMeshServer,
  request,
}) => {
  test.setTimeout(180_000);
  const first = await startMeshServer();
  const room = newRoom('restart');
  const pages = await peers(2);
  await Promise.all(pages.map((p, i) => p.goto(tabUrl(first, room, `p${i + 1}`))));
  const ids = await allTraining(pages);
  await allLinked(pages);
  const listedIds = [...ids].sort().join(',');
  await expect.poll(() => apiPeerIds(request, first, room)).toBe(listedIds);

  await first.close();
  for (const [i, page] of pages.entries()) {
    await expect(page.getByTestId('status-banner'), `p${i + 1} says it reconnects`).toHaveAttribute(
      'data-state',
      'reconnecting',
      { timeout: 30_000 },
    );
  }
  // Training does not depend on the server: the links stay and the steps go on.
  await stepsAdvance(pages, 'while the server is down', 10);
  for (const page of pages) expect(await numberField(page, 'link-count')).toBe(1);

  const second = await startMeshServer({ port: first.port });
  for (const [i, page] of pages.entries()) {
    await expect(page.getByTestId('status-banner'), `p${i + 1} is back`).toHaveAttribute(
      'data-state',
      'training',
      { timeout: 90_000 },
    );
  }
  await expect
    .poll(() => apiPeerIds(request, second, room), {
      message: 'the new server lists both tabs again',
      timeout: 30_000,
    })
    .toBe(listedIds);
  await stepsAdvance(pages, 'after the reconnect');
});
