/**
 * The mesh for real: Node peers in their own processes, real WebRTC (@roamhq/wrtc), the real
 * signaling server, real MNIST. Each test starts its own server and room and stops every
 * process it started.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiPeer, type ApiRoom, linkedPeers, startMesh, waitFor } from './test-peers';

type Mesh = Awaited<ReturnType<typeof startMesh>>;
let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.stopAll();
  mesh = undefined;
});

/** Small shards over 4 slots instead of 16: each peer holds 15 000 images. */
const BASE = { maxPeers: 4 };
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const trainingPeers = async (m: Mesh, n: number, timeoutMs = 60_000): Promise<ApiPeer[]> =>
  waitFor(
    `${n} peers each with ${n - 1} links`,
    async () => {
      const peers = linkedPeers(await m.api(), n - 1);
      return peers.length === n && peers.every((p) => (p.step ?? 0) > 0) ? peers : undefined;
    },
    timeoutMs,
  );
const describeRoom = (room: ApiRoom | undefined) =>
  JSON.stringify(
    room?.peers.map((p) => ({
      name: p.name,
      step: p.step,
      batch: p.batchSize,
      acc: p.valAccuracy,
      links: p.links?.map((l) => [
        l.to.slice(0, 4),
        Math.round(l.bandwidthBps * 8e-4) / 1e3,
        +l.sentFraction.toFixed(3),
      ]),
    })),
  );

describe('a mesh of Node peers over real WebRTC', () => {
  it('3 dlion peers train mlp past 93% mean validation accuracy within 600 steps', async () => {
    const m = await startMesh();
    mesh = m;
    for (const name of ['a', 'b', 'c']) {
      m.spawnPeer({ name, config: { ...BASE, strategy: 'dlion' }, maxSteps: 600 });
    }
    await trainingPeers(m, 3);
    // The status API while all three train (each leaves after its 600th step), once every link
    // has carried updates.
    const room = await waitFor(
      'three linked peers past step 50',
      async () => {
        const r = await m.api();
        const peers = linkedPeers(r, 2);
        return peers.length === 3 && peers.every((q) => (q.step ?? 0) >= 50) ? r : undefined;
      },
      60_000,
      500,
    );
    // Within 600 steps: the accuracy each peer reported as it left (its last evaluation).
    await Promise.all(m.peers.map((q) => q.exited));
    const finals = m.peers.map(
      (q) => (q.events.find((e) => e.type === 'exit')?.status as ApiPeer | undefined) ?? {},
    );
    for (const f of finals) expect((f as ApiPeer).step ?? 0).toBeLessThanOrEqual(600);
    expect(mean(finals.map((f) => (f as ApiPeer).valAccuracy ?? 0))).toBeGreaterThanOrEqual(0.93);
    // The status API carries everything the dashboard and operators read.
    const p = room!.peers[0]!;
    expect(room!.config.strategy).toBe('dlion');
    for (const key of [
      'id',
      'name',
      'kind',
      'backend',
      'strategy',
      'step',
      'batchSize',
      'weight',
      'capacity',
      'loss',
      'valAccuracy',
      'links',
      'merges',
    ]) {
      expect(p).toHaveProperty(key);
    }
    expect(p.kind).toBe('kiosk');
    expect(p.backend).toBe('cpu');
    expect(p.links!.length).toBe(2);
    for (const l of p.links!) {
      expect(l.bandwidthBps).toBeGreaterThan(0);
      expect(l.bytesSent).toBeGreaterThan(0);
      expect(l.sentFraction).toBeGreaterThan(0);
      expect(l.sentFraction).toBeLessThanOrEqual(1);
    }
    // Weighted batching: the batch weights of the mesh add up to about 1.
    expect(mean(room!.peers.map((q) => q.weight ?? 0)) * 3).toBeGreaterThan(0.8);
  }, 240_000);

  it('every strategy trains: accuracy rises well above chance', async () => {
    const m = await startMesh();
    mesh = m;
    const strategies = [
      'bsp',
      'ako',
      'gaia',
      'hop',
      'dlion-no-wdb',
      'dlion-no-prio',
      'dlion-no-dkt',
    ];
    for (const strategy of strategies) {
      const room = `${m.room}-${strategy}`;
      const peers = ['x', 'y'].map((name) =>
        m.spawnPeer({ name, config: { ...BASE, strategy, dktPeriodSec: 3 }, maxSteps: 120 }, room),
      );
      // A pair that does not finish fails here, with what each peer said last, rather than
      // holding the test to its end.
      let exited = 0;
      for (const p of peers) void p.exited.then(() => exited++);
      await waitFor(
        `both ${strategy} peers to finish 120 steps`,
        async () => (exited === 2 ? true : undefined),
        150_000,
        500,
      ).catch((e: unknown) => {
        const tails = peers.map((p) => `${p.name}: ${p.stderr.slice(-6).join(' | ')}`);
        throw new Error(`${String(e)}; ${tails.join('; ')}`);
      });
      const finals = peers.map((p) => p.events.find((e) => e.type === 'exit'));
      const accs = finals.map((f) => (f?.status as ApiPeer | undefined)?.valAccuracy ?? 0);
      // They trained together: each linked to the other (the last status may already show the
      // link gone when the other finished first and left).
      const linked = peers.map((p) => p.stderr.some((l) => l.includes('"link up"')));
      expect({ strategy, linked }).toEqual({ strategy, linked: [true, true] });
      // Chance is 10%; 120 steps of B = 128 take any working strategy far past it.
      expect({ strategy, ok: accs.every((a) => a > 0.6) }).toEqual({ strategy, ok: true });
    }
  }, 600_000);

  it('uplinks of 2, 10 and 40 Mbit/s: each estimate lands within 25% of its cap; the sent share follows the bandwidth', async () => {
    const m = await startMesh();
    mesh = m;
    const caps: Record<string, number> = { slow: 2, mid: 10, fast: 40 };
    for (const [name, mbps] of Object.entries(caps)) {
      m.spawnPeer({
        name,
        config: { ...BASE, strategy: 'dlion' },
        uplinkMbps: mbps,
        maxSteps: 5000,
      });
    }
    await trainingPeers(m, 3);
    let last: ApiRoom | undefined;
    try {
      await waitFor(
        'estimates within 25% of the caps and sent fractions ordered by bandwidth',
        async () => {
          last = await m.api();
          const peers = linkedPeers(last, 2);
          if (peers.length !== 3) return undefined;
          const share: Record<string, number> = {};
          for (const p of peers) {
            const cap = caps[p.name]! * 1e6;
            for (const l of p.links!) {
              if (Math.abs(l.bandwidthBps * 8 - cap) > 0.25 * cap) return undefined;
            }
            share[p.name] = mean(p.links!.map((l) => l.sentFraction));
          }
          return share.slow! < share.mid! && share.mid! < share.fast! ? share : undefined;
        },
        90_000,
        1000,
      );
    } catch (error) {
      throw new Error(`${String(error)}; last state: ${describeRoom(last)}`);
    }
  }, 180_000);

  it('slowdown 4 on one peer: its batch settles near a quarter of the others and follows when lifted', async () => {
    const m = await startMesh();
    mesh = m;
    const slow = m.spawnPeer({
      name: 'slow',
      config: { ...BASE, strategy: 'dlion', rebalanceEvery: 10 },
      slowdown: 4,
      maxSteps: 5000,
    });
    m.spawnPeer({ name: 'n1', config: BASE, maxSteps: 5000 });
    m.spawnPeer({ name: 'n2', config: BASE, maxSteps: 5000 });
    await trainingPeers(m, 3);
    const ratio = (r: ApiRoom | undefined) => {
      const peers = r?.peers ?? [];
      const s = peers.find((p) => p.name === 'slow')?.batchSize;
      const others = peers.filter((p) => p.name !== 'slow').map((p) => p.batchSize ?? 0);
      return s === undefined || others.length !== 2 ? undefined : s / mean(others);
    };
    let seen: number | undefined;
    await waitFor(
      'the slowed peer batch within 30% of a quarter of the others',
      async () => {
        seen = ratio(await m.api());
        return seen !== undefined && Math.abs(seen - 0.25) <= 0.3 * 0.25 ? seen : undefined;
      },
      90_000,
      1000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last ratio ${seen}`);
    });
    slow.send({ slowdown: 1 });
    await waitFor(
      'the batch back near the others once the slowdown is lifted',
      async () => {
        seen = ratio(await m.api());
        return seen !== undefined && seen > 0.7 ? seen : undefined;
      },
      90_000,
      1000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last ratio ${seen}`);
    });
  }, 240_000);

  it('a killed peer is dropped within the bound and the rest keep training; a joiner starts from the mesh', async () => {
    const m = await startMesh();
    mesh = m;
    const peers = ['a', 'b', 'c'].map((name) =>
      m.spawnPeer({ name, config: { ...BASE, strategy: 'dlion' }, maxSteps: 5000 }),
    );
    await trainingPeers(m, 3);
    await waitFor(
      'some training',
      async () => linkedPeers(await m.api(), 2).every((p) => (p.step ?? 0) > 60) || undefined,
      60_000,
    );
    const killedAt = Date.now();
    peers[2]!.process.kill('SIGKILL');
    // Dropped: both survivors report a single link, within the silence bound (5 s, or 10
    // median steps) plus a status period or two.
    const survivors = await waitFor(
      'survivors with one link each',
      async () => {
        const r = await m.api();
        const alive = (r?.peers ?? []).filter((p) => p.name !== 'c');
        return alive.length === 2 && alive.every((p) => p.links?.length === 1) ? alive : undefined;
      },
      30_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const stepsThen = survivors.map((p) => p.step ?? 0);
    await waitFor(
      'survivors keep training',
      async () => {
        const r = await m.api();
        const alive = (r?.peers ?? []).filter((p) => p.name !== 'c');
        return (
          (alive.length === 2 && alive.every((p, i) => (p.step ?? 0) > stepsThen[i]! + 20)) ||
          undefined
        );
      },
      60_000,
    );

    // A new peer joins the running room: it fetches the parameters first, so its very first
    // evaluation is far above the 10% of a fresh model, and its steps continue the mesh's.
    const joiner = m.spawnPeer({ name: 'd', config: BASE, maxSteps: 5000 });
    const first = await waitFor(
      'the joiner first evaluation',
      () => joiner.events.find((e) => e.type === 'evaluation'),
      150_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; joiner log: ${joiner.stderr.slice(-30).join('\n')}`);
    });
    expect(
      first.accuracy as number,
      `joiner log: ${joiner.stderr
        .filter((l) => !l.includes('"dkt outcome"'))
        .slice(-25)
        .join('\n')}; survivors: ${peers
        .slice(0, 2)
        .flatMap((p) => p.stderr.filter((l) => /param|refused|link|left/.test(l)).slice(-8))
        .join('\n')}`,
    ).toBeGreaterThan(0.6);
    expect(first.step as number).toBeGreaterThan(60);
    expect(joiner.stderr.some((l) => l.includes('started from the mesh parameters'))).toBe(true);
    await trainingPeers(m, 3);
  }, 240_000);

  it('a Node peer stopped with SIGTERM leaves cleanly and resumes from its checkpoint', async () => {
    const m = await startMesh();
    mesh = m;
    const stateDir = mkdtempSync(join(tmpdir(), 'dlion-peer-'));
    try {
      const first = m.spawnPeer({ name: 'k', config: BASE, stateDir, maxSteps: 100_000 });
      await waitFor(
        'step 40',
        async () => {
          const p = (await m.api())?.peers.find((q) => q.name === 'k');
          return (p?.step ?? 0) >= 40 || undefined;
        },
        90_000,
      );
      first.process.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const stoppedAt =
        (first.events.find((e) => e.type === 'exit')?.status as ApiPeer | undefined)?.step ?? 0;
      expect(stoppedAt).toBeGreaterThanOrEqual(40);
      // Alone in the room there is nobody to fetch parameters from: a step that carries on can
      // only come from the checkpoint written on the way out.
      const again = m.spawnPeer({ name: 'k', config: BASE, stateDir, maxSteps: 100_000 });
      const resumed = await waitFor(
        'the resume line',
        () => again.stderr.find((l) => l.includes('resumed from checkpoint')),
        60_000,
      );
      // The last status may have been posted while the final step was still computing.
      const step = (JSON.parse(resumed) as { step: number }).step;
      expect(step).toBeGreaterThanOrEqual(stoppedAt);
      expect(step).toBeLessThanOrEqual(stoppedAt + 2);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 180_000);
});
