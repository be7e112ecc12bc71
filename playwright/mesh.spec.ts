// The mesh in real Chromium: three tabs, each its own browser context (own storage, as on
// separate machines), open the page in one room of the real signaling server, link up over
// WebRTC and train the default room (DLion, mlp on MNIST) together until their validation
// accuracy is far above chance. The server's API must tell the same story.

import { expect, test } from './fixtures';
import { allTraining, START_MS } from './mesh-helpers';
import { field, numberField, settledPhase } from './page-fields';

const PEERS = 3;
/** Ten classes: chance is 0.1; the mlp is past 0.8 within a few dozen global steps. */
const ACCURACY = 0.5;

interface RoomBody {
  readonly peers: readonly { readonly id: string; readonly links?: readonly unknown[] }[];
}

test('three tabs join one room, link up and train together', async ({
  peers,
  meshServer,
  request,
}) => {
  test.setTimeout(240_000);
  const room = `e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const pages = await peers(PEERS);
  // backend=cpu: three SwiftShader WebGPU tabs on 2 cores start too slowly under load; the
  // WebGPU path has its own tests (trainer.spec.ts).
  await Promise.all(
    pages.map((p, i) => p.goto(`${meshServer.url}/?room=${room}&name=p${i + 1}&backend=cpu`)),
  );

  await allTraining(pages);

  // A link per other tab, each reported as open by its sender and carrying gradients, and
  // the global batch shared out (a tab training alone would keep a weight of 1).
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'link-count'), { message: `p${i + 1} has 2 links` })
      .toBe(PEERS - 1);
    await expect(page.getByTestId('link')).toHaveCount(PEERS - 1);
    await expect
      .poll(
        async () => {
          const sent = await page
            .getByTestId('link-bytes')
            .evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-value'))));
          return sent.length === PEERS - 1 ? Math.min(...sent) : 0;
        },
        { message: `p${i + 1} sends on every link` },
      )
      .toBeGreaterThan(0);
    await expect
      .poll(() => numberField(page, 'weight'), { message: `p${i + 1} has a share of the batch` })
      .toBeLessThan(0.9);
  }

  // Training goes on: every tab's step moves.
  const before = await Promise.all(pages.map((p) => numberField(p, 'step')));
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'step'), { message: `p${i + 1}'s step grows`, timeout: 60_000 })
      .toBeGreaterThan(Number.isNaN(before[i]!) ? 0 : before[i]!);
  }

  // The mesh really learns: each tab's own validation split says so.
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'val-accuracy'), {
        message: `p${i + 1}'s validation accuracy passes ${ACCURACY}`,
        timeout: 120_000,
        intervals: [1000, 2000],
      })
      .toBeGreaterThan(ACCURACY);
    // The page's test handle (app/test-handle.ts) agrees with what it shows.
    const handlePhase = await page.evaluate(() =>
      (globalThis as { __dlion?: { phase(): string } }).__dlion?.phase(),
    );
    expect(handlePhase).toBe('training');
  }

  // The operators' view: the server lists the three peers, each with its two links.
  await expect
    .poll(
      async () => {
        const res = await request.get(`${meshServer.url}/api/rooms/${room}`);
        if (!res.ok()) return `HTTP ${res.status()}`;
        const body = (await res.json()) as RoomBody;
        return body.peers.map((p) => p.links?.length ?? 'no status').join(',');
      },
      { message: 'GET /api/rooms/:room lists 3 peers with 2 links each', timeout: 30_000 },
    )
    .toBe(
      Array(PEERS)
        .fill(PEERS - 1)
        .join(','),
    );

  // A reloaded tab asks for its old id (remembered in localStorage) and gets it back.
  const first = pages[0]!;
  const id = await field(first, 'peer-id');
  expect(id).not.toBe('');
  await first.reload();
  await expect
    .poll(() => settledPhase(first), {
      message: 'p1 trains again after a reload',
      timeout: START_MS,
    })
    .toMatch(/^(training|failed|closed|finished)/);
  expect(await settledPhase(first)).toBe('training');
  expect(await field(first, 'peer-id')).toBe(id);
});

test('a bad parameter is explained on the page and nothing joins', async ({
  page,
  meshServer,
  request,
}) => {
  const room = `e2e-bad-${Date.now().toString(36)}`;
  await page.goto(`${meshServer.url}/?room=${room}&slowdown=0.5&model=resnet`);
  const errors = page.getByTestId('errors').getByRole('listitem');
  await expect(errors).toHaveCount(2);
  await expect(errors.nth(0)).toContainText('slowdown');
  await expect(errors.nth(1)).toContainText('model');
  await expect(page.getByTestId('phase')).toHaveCount(0);
  // The server never heard of the room.
  expect((await request.get(`${meshServer.url}/api/rooms/${room}`)).status()).toBe(404);
});

test('without a room, the page asks for one', async ({ page, meshServer }) => {
  const room = `e2e-form-${Date.now().toString(36)}`;
  await page.goto(`${meshServer.url}/`);
  const form = page.getByTestId('join-form');
  await form.getByLabel('Room').fill(room);
  await form.getByLabel('Name').fill('alice');
  await form.getByRole('button', { name: 'Join' }).click();
  await expect(page).toHaveURL(`${meshServer.url}/?room=${room}&name=alice`);
  await expect(page.getByTestId('room')).toHaveText(room);
  // Leaving ends the peer at once, before it trains: nothing is left running after the test.
  await page.getByTestId('leave').click();
  await expect(page.getByTestId('phase')).toHaveText('closed');
});

test('a tab alone in its room resumes from its checkpoint after a reload', async ({
  page,
  meshServer,
}) => {
  test.setTimeout(240_000);
  // Alone, there is no peer to fetch parameters from: a step that does not restart at zero
  // can only come from the checkpoint in IndexedDB (saved every 100 steps and on leaving).
  const room = `e2e-ckpt-${Date.now().toString(36)}`;
  await page.goto(`${meshServer.url}/?room=${room}&name=solo`);
  await expect
    .poll(() => numberField(page, 'step'), {
      message: 'the tab passes step 110',
      timeout: START_MS,
    })
    .toBeGreaterThan(110);
  await page.reload();
  await expect
    .poll(() => settledPhase(page), { message: 'the tab trains again', timeout: START_MS })
    .toMatch(/^(training|failed|closed|finished)/);
  expect(await settledPhase(page)).toBe('training');
  await expect
    .poll(() => numberField(page, 'step'), { message: 'a step is shown', timeout: 30_000 })
    .toBeGreaterThanOrEqual(0);
  expect(await numberField(page, 'step')).toBeGreaterThanOrEqual(100);
});
