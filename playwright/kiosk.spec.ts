// A kiosk (the headless edge peer, `dlion kiosk`, in its own process) and Chromium tabs in one
// room: they link up and train together, the dashboard shows the kiosk with its backend and
// site and groups the peers by site, SIGTERM takes the kiosk out cleanly while the tabs go
// on, a restart with the same state dir brings the same peer back at its step, and the kiosk
// rides out a signaling server restart without restarting itself.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { type KioskProcess, lastLine, spawnKiosk } from '../kiosk/test-support';
import type { SignalingServer } from '../signaling';
import { expect, test } from './fixtures';
import { allTraining, newRoom, peerRow, START_MS, stepsAdvance, tabUrl } from './mesh-helpers';
import { numberField } from './page-fields';

interface ApiPeer {
  readonly id: string;
  readonly kind: string;
  readonly site?: string;
  readonly backend?: string;
  readonly step?: number;
  readonly links?: readonly unknown[];
}

const kiosks: KioskProcess[] = [];
const dirs: string[] = [];

test.afterEach(async () => {
  for (const k of kiosks) if (k.process.exitCode === null) k.process.kill('SIGKILL');
  await Promise.all(kiosks.map((k) => k.exited));
  kiosks.length = 0;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function startKiosk(server: SignalingServer, room: string, stateDir: string): KioskProcess {
  const k = spawnKiosk([
    '--server',
    server.url,
    '--room',
    room,
    '--name',
    'kiosk-1',
    '--site',
    'north',
    '--backend',
    'cpu',
    '--state-dir',
    stateDir,
    '--progress-every',
    '5',
    '--checkpoint-every',
    '20',
  ]);
  kiosks.push(k);
  return k;
}

async function apiPeer(
  request: APIRequestContext,
  server: SignalingServer,
  room: string,
  id: string,
): Promise<ApiPeer | undefined> {
  const res = await request.get(`${server.url}/api/rooms/${room}`);
  if (!res.ok()) return undefined;
  const body = (await res.json()) as { peers: ApiPeer[] };
  return body.peers.find((p) => p.id === id);
}

const joinedId = async (k: KioskProcess): Promise<string> => {
  await expect
    .poll(() => lastLine(k, 'joined')?.peerId ?? lastLine(k, 'exit')?.code, {
      message: 'the kiosk joins',
      timeout: START_MS,
    })
    .toMatch(/^[0-9a-f]+$/);
  return String(lastLine(k, 'joined')!.peerId);
};

const kioskStep = (k: KioskProcess): number => Number(lastLine(k, 'progress')?.step ?? -1);

test('a kiosk and two tabs train together; SIGTERM and a restart bring the same peer back', async ({
  peers,
  startMeshServer,
  request,
}) => {
  test.setTimeout(360_000);
  const server = await startMeshServer();
  const room = newRoom('kiosk');
  const stateDir = mkdtempSync(join(tmpdir(), 'dlion-kiosk-'));
  dirs.push(stateDir);
  const kiosk = startKiosk(server, room, stateDir);
  const kioskId = await joinedId(kiosk);
  const pages = await peers(2);
  await pages[0]!.goto(tabUrl(server, room, 'tab-n', { site: 'north' }));
  await pages[1]!.goto(tabUrl(server, room, 'tab-s', { site: 'south' }));
  const tabIds = await allTraining(pages);
  // Each tab links to the other tab and to the kiosk.
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'link-count'), {
        message: `tab ${i + 1} has 2 links`,
        timeout: 60_000,
      })
      .toBe(2);
  }

  // The kiosk's own status: kind, backend and site, and a link to each tab.
  await expect
    .poll(async () => {
      const p = await apiPeer(request, server, room, kioskId);
      return p && `${p.kind} ${p.backend} ${p.site} ${p.links?.length}`;
    })
    .toBe('kiosk cpu north 2');
  // The dashboard shows it, and groups the peers by site.
  const row = peerRow(pages[1]!, kioskId);
  await expect(row.getByTestId('row-kind')).toHaveAttribute('data-value', 'kiosk');
  await expect(row.getByTestId('row-backend')).toHaveAttribute('data-value', 'cpu');
  await expect(row.getByTestId('row-site')).toContainText('@north');
  await expect(
    pages[1]!.locator('[data-testid="site-group"][data-site="north"] [data-testid="peer-row"]'),
  ).toHaveCount(2);
  await expect(
    pages[1]!.locator('[data-testid="site-group"][data-site="south"] [data-testid="peer-row"]'),
  ).toHaveCount(1);
  // tab-s sits in another site than the other two: both its arrows are dashed, inter-site.
  const links = pages[1]!.locator(`[data-testid="mesh-link"][data-from="${tabIds[1]}"]`);
  await expect(links).toHaveCount(2);
  for (const between of await links.evaluateAll((els) =>
    els.map((e) => e.getAttribute('data-between')),
  )) {
    expect(between).toBe('inter');
  }
  await expect(
    pages[0]!.locator(`[data-testid="mesh-link"][data-from="${tabIds[0]}"][data-to="${kioskId}"]`),
  ).toHaveAttribute('data-between', 'intra');
  await expect.poll(() => kioskStep(kiosk), { timeout: 60_000 }).toBeGreaterThan(25);

  // SIGTERM: a clean leave within a few seconds, exit 0; the tabs drop it and keep training.
  const termAt = Date.now();
  kiosk.process.kill('SIGTERM');
  expect(await kiosk.exited).toBe(0);
  const leaveMs = Date.now() - termAt;
  expect(leaveMs).toBeLessThan(10_000);
  test.info().annotations.push({
    type: 'measured',
    description: `kiosk left in ${leaveMs} ms after SIGTERM`,
  });
  const stoppedAt = Number(lastLine(kiosk, 'exit')?.step);
  expect(stoppedAt).toBeGreaterThan(25);
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'link-count'), {
        message: `tab ${i + 1} drops the kiosk`,
        timeout: 15_000,
      })
      .toBe(1);
  }
  await stepsAdvance(pages, 'without the kiosk');

  // Started again with the same state dir: the same id, its step from its checkpoint.
  const again = startKiosk(server, room, stateDir);
  expect(await joinedId(again)).toBe(kioskId);
  expect(lastLine(again, 'joined')?.resumed).toBe(true);
  await expect
    .poll(() => again.lines.find((l) => l.message === 'resumed from checkpoint')?.step ?? -1, {
      timeout: START_MS,
    })
    .toBeGreaterThanOrEqual(stoppedAt);
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'link-count'), {
        message: `tab ${i + 1} links to the kiosk again`,
        timeout: 60_000,
      })
      .toBe(2);
  }
});

test('the kiosk reconnects to a restarted signaling server without restarting itself', async ({
  peers,
  startMeshServer,
  request,
}) => {
  test.setTimeout(240_000);
  const first = await startMeshServer();
  const room = newRoom('kiosk-restart');
  const stateDir = mkdtempSync(join(tmpdir(), 'dlion-kiosk-'));
  dirs.push(stateDir);
  const kiosk = startKiosk(first, room, stateDir);
  const kioskId = await joinedId(kiosk);
  const [page] = await peers(1);
  await page!.goto(tabUrl(first, room, 'tab-1'));
  await allTraining([page!]);
  await expect.poll(() => numberField(page!, 'link-count'), { timeout: 60_000 }).toBe(1);
  const pid = kiosk.process.pid;

  await first.close();
  await expect
    .poll(() => lastLine(kiosk, 'phase')?.phase, {
      message: 'the kiosk says it reconnects',
      timeout: 30_000,
    })
    .toBe('reconnecting');
  // The link to the tab does not need the server: the kiosk keeps stepping.
  const downAt = kioskStep(kiosk);
  await expect.poll(() => kioskStep(kiosk), { timeout: 60_000 }).toBeGreaterThan(downAt + 10);

  const second = await startMeshServer({ port: first.port });
  await expect
    .poll(() => lastLine(kiosk, 'phase')?.phase, { message: 'the kiosk is back', timeout: 90_000 })
    .toBe('training');
  await expect
    .poll(async () => (await apiPeer(request, second, room, kioskId))?.kind, {
      message: 'the new server lists the kiosk under its id',
      timeout: 30_000,
    })
    .toBe('kiosk');
  expect(kiosk.process.exitCode).toBeNull();
  expect(kiosk.process.pid).toBe(pid);
  expect(kiosk.lines.filter((l) => l.type === 'joined')).toHaveLength(1);
});
