/**
 * The slow mesh run of `npm run test:long`: 3 dlion peers train the cnn past 97% mean
 * validation accuracy over real WebRTC (cpu backend in worker threads; about 10 to 20
 * minutes on a 2-core machine).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { startMesh, waitFor } from './test-peers';

let mesh: Awaited<ReturnType<typeof startMesh>> | undefined;
afterEach(async () => {
  await mesh?.stopAll();
  mesh = undefined;
});

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

describe('a mesh of Node peers, long', () => {
  it('3 dlion peers train the cnn past 97% mean validation accuracy within 2000 steps', async () => {
    const m = await startMesh();
    mesh = m;
    for (const name of ['a', 'b', 'c']) {
      m.spawnPeer({
        name,
        config: { maxPeers: 4, model: 'cnn', strategy: 'dlion', dktPeriodSec: 20 },
        maxSteps: 2000,
      });
    }
    const room = await waitFor(
      'mean validation accuracy >= 97%',
      async () => {
        const r = await m.api();
        const peers = r?.peers ?? [];
        return peers.length === 3 &&
          peers.every((p) => p.links?.length === 2) &&
          mean(peers.map((p) => p.valAccuracy ?? 0)) >= 0.97
          ? r
          : undefined;
      },
      1_700_000,
      5000,
    );
    for (const p of room!.peers) expect(p.step).toBeLessThanOrEqual(2000);
  }, 1_800_000);
});
