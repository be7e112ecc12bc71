// Two edge signaling servers federated through a real Redis (Debian's redis-server, started
// and stopped by the test): a Chromium tab on server A and a kiosk on server B share one room,
// link up and train; both servers list both peers. Redis killed mid-run: no server falls over,
// the open link keeps training, and once Redis is back a new tab on B joins the same room.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIRequestContext } from '@playwright/test';
import { type KioskProcess, lastLine, spawnKiosk } from '../kiosk/test-support';
import type { SignalingServer } from '../signaling';
import { startRedis, type TestRedis } from '../signaling/redis-test-support';
import { expect, test } from './fixtures';
import { allTraining, newRoom, START_MS, stepsAdvance, tabUrl } from './mesh-helpers';
import { numberField } from './page-fields';

let redis: TestRedis | undefined;
let kiosk: KioskProcess | undefined;
const dirs: string[] = [];

test.afterEach(async () => {
  if (kiosk && kiosk.process.exitCode === null) kiosk.process.kill('SIGKILL');
  await kiosk?.exited;
  kiosk = undefined;
  await redis?.stop();
  redis = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const apiServers = async (
  request: APIRequestContext,
  server: SignalingServer,
  room: string,
): Promise<string> => {
  const res = await request.get(`${server.url}/api/rooms/${room}`);
  if (!res.ok()) return `HTTP ${res.status()}`;
  const body = (await res.json()) as { peers: { name: string; server?: string }[] };
  return body.peers
    .map((p) => `${p.name}@${p.server}`)
    .sort()
    .join(',');
};

const health = async (request: APIRequestContext, server: SignalingServer) =>
  ((await (await request.get(`${server.url}/healthz`)).json()) as { status: string }).status;

const kioskStep = (k: KioskProcess): number => Number(lastLine(k, 'progress')?.step ?? -1);

test('a tab on one server and a kiosk on another train in one room; Redis can die and come back', async ({
  peers,
  startMeshServer,
  request,
}) => {
  test.setTimeout(300_000);
  redis = await startRedis();
  const federation = { redisUrl: redis.url, memberTtlMs: 3000 };
  const A = await startMeshServer({ ...federation, serverId: 'edge-a' });
  const B = await startMeshServer({ ...federation, serverId: 'edge-b' });
  const room = newRoom('fed');
  const stateDir = mkdtempSync(join(tmpdir(), 'dlion-kiosk-'));
  dirs.push(stateDir);
  kiosk = spawnKiosk([
    '--server',
    B.url,
    '--room',
    room,
    '--name',
    'kiosk-b',
    '--backend',
    'cpu',
    '--state-dir',
    stateDir,
    '--progress-every',
    '5',
  ]);
  const [tab] = await peers(1);
  await tab!.goto(tabUrl(A, room, 'tab-a'));
  await allTraining([tab!]);
  await expect
    .poll(() => numberField(tab!, 'link-count'), {
      message: 'the tab links to the kiosk',
      timeout: START_MS,
    })
    .toBe(1);
  for (const s of [A, B]) {
    await expect
      .poll(() => apiServers(request, s, room), { message: `${s.serverId} lists both` })
      .toBe('kiosk-b@edge-b,tab-a@edge-a');
  }
  await stepsAdvance([tab!], 'with the kiosk');
  await expect.poll(() => kioskStep(kiosk!), { timeout: 60_000 }).toBeGreaterThan(10);

  // Redis dies: both servers go on (degraded), and the open link keeps both peers training.
  await redis.kill();
  for (const s of [A, B]) {
    await expect.poll(() => health(request, s), { timeout: 20_000 }).toBe('degraded');
  }
  const kioskBefore = kioskStep(kiosk);
  await stepsAdvance([tab!], 'while Redis is down', 10);
  await expect.poll(() => kioskStep(kiosk!), { timeout: 60_000 }).toBeGreaterThan(kioskBefore + 10);
  expect(await numberField(tab!, 'link-count')).toBe(1);

  // Redis is back (empty): the servers register their peers again; a newcomer on B meets both.
  await redis.restart();
  for (const s of [A, B]) {
    await expect.poll(() => health(request, s), { timeout: 30_000 }).toBe('ok');
  }
  const [late] = await peers(1);
  await late!.goto(tabUrl(B, room, 'tab-b'));
  await allTraining([late!]);
  await expect
    .poll(() => numberField(late!, 'link-count'), {
      message: 'the newcomer links to both',
      timeout: 60_000,
    })
    .toBe(2);
  await expect
    .poll(() => apiServers(request, A, room), { timeout: 30_000 })
    .toBe('kiosk-b@edge-b,tab-a@edge-a,tab-b@edge-b');
  expect(kiosk.process.exitCode).toBeNull();
});
