import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asPeerId, type PeerId } from '../ids';
import { gate } from '../staleness-gate';
import { hopReady, hopSkip } from './hop';

const ids = (n: number): PeerId[] => Array.from({ length: n }, (_, i) => asPeerId(`p${i}`));

/**
 * The newest step received per peer, written as steps *completed* (everyone at `at`, except the
 * overrides) because that reads naturally: completing c steps means the last update was step c - 1.
 */
const completed = (peers: readonly PeerId[], at: number, overrides: Record<string, number> = {}) =>
  new Map(peers.map((id) => [id, (overrides[id] ?? at) - 1]));

describe('hopReady', () => {
  const live = ids(4);
  const base = { staleness: 2, live, backupPeers: 1 } as const;

  it('proceeds with exactly one straggler when b = 1, but not with two', () => {
    const step = 10; // needs completed >= 8
    expect(hopReady({ ...base, step, lastStepFrom: completed(live, 9) })).toEqual({
      ready: true,
      lagging: [],
    });
    const one = hopReady({ ...base, step, lastStepFrom: completed(live, 9, { p2: 3 }) });
    expect(one).toEqual({ ready: true, lagging: ['p2'] });
    const two = hopReady({ ...base, step, lastStepFrom: completed(live, 9, { p2: 3, p0: 7 }) });
    expect(two).toEqual({ ready: false, lagging: ['p0', 'p2'] });
  });

  it('bounds staleness at s: t - s completed steps is enough, one fewer is not', () => {
    const strict = { ...base, backupPeers: 0 };
    expect(hopReady({ ...strict, step: 10, lastStepFrom: completed(live, 8) }).ready).toBe(true);
    expect(
      hopReady({ ...strict, step: 10, lastStepFrom: completed(live, 8, { p3: 7 }) }).ready,
    ).toBe(false);
  });

  it('is lock-step with s = 0 and b = 0, and never blocks the first step', () => {
    const lock = { staleness: 0, live, backupPeers: 0 };
    expect(hopReady({ ...lock, step: 0, lastStepFrom: new Map() }).ready).toBe(true);
    expect(hopReady({ ...lock, step: 5, lastStepFrom: completed(live, 5) }).ready).toBe(true);
    expect(hopReady({ ...lock, step: 5, lastStepFrom: completed(live, 5, { p1: 4 }) }).ready).toBe(
      false,
    );
  });

  it('counts a live peer never heard from as having completed no steps', () => {
    const heard = new Map(live.slice(0, 3).map((id) => [id, 20]));
    const r = hopReady({ ...base, backupPeers: 0, step: 10, lastStepFrom: heard });
    expect(r).toEqual({ ready: false, lagging: ['p3'] });
    expect(hopReady({ ...base, step: 10, lastStepFrom: heard }).ready).toBe(true);
  });

  it('ignores peers that are not live', () => {
    const r = hopReady({
      ...base,
      backupPeers: 0,
      step: 10,
      live: live.slice(0, 2),
      lastStepFrom: completed(live, 9, { p3: 0 }),
    });
    expect(r.ready).toBe(true);
  });

  it('still waits for one peer when b would excuse all of them', () => {
    const pair = ids(1);
    const behind = completed(pair, 0);
    expect(hopReady({ ...base, live: pair, step: 10, lastStepFrom: behind }).ready).toBe(false);
    expect(
      hopReady({ ...base, live: pair, step: 10, lastStepFrom: completed(pair, 8) }).ready,
    ).toBe(true);
    expect(hopReady({ ...base, live: [], step: 10, lastStepFrom: new Map() }).ready).toBe(true);
  });

  it('is ready exactly when at most min(b, |live| - 1) peers lag', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 8 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        (steps, step, staleness, backupPeers) => {
          const peers = ids(steps.length);
          const lastStepFrom = new Map(peers.map((id, i) => [id, steps[i]! - 1]));
          const r = hopReady({ step, staleness, live: peers, lastStepFrom, backupPeers });
          const behind = steps.filter((c) => c < step - staleness).length;
          expect(r.lagging.length).toBe(behind);
          expect(r.ready).toBe(behind <= Math.min(backupPeers, Math.max(0, peers.length - 1)));
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('refuses a bad configuration', () => {
    expect(() => hopReady({ ...base, step: 1, staleness: -1, lastStepFrom: new Map() })).toThrow(
      expect.objectContaining({ name: 'PolicyError', code: 'bad-config' }),
    );
    expect(() => hopReady({ ...base, step: 1, backupPeers: 0.5, lastStepFrom: new Map() })).toThrow(
      expect.objectContaining({ name: 'PolicyError', code: 'bad-config' }),
    );
  });
});

describe('hopSkip', () => {
  const stepsArb = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 9 });

  it('never skips a peer within the lag bound', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 40 }),
        (steps, maxLag, ahead) => {
          const own = Math.max(...steps) - maxLag + ahead - 20; // anywhere from 20 behind the bound up
          const r = hopSkip(own, steps, maxLag);
          if (own >= Math.max(...steps) - maxLag) expect(r.skipTo).toBeUndefined();
          else expect(r.skipTo).toBeDefined();
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('lands a skipping peer ahead of where it was, within the lag bound, never past the furthest peer', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 1000 }),
        (steps, maxLag, own) => {
          const r = hopSkip(own, steps, maxLag);
          if (r.skipTo === undefined) return;
          const furthest = Math.max(...steps);
          expect(r.skipTo).toBeGreaterThan(own);
          expect(r.skipTo).toBeGreaterThanOrEqual(furthest - maxLag);
          expect(r.skipTo).toBeLessThanOrEqual(furthest);
          expect(Number.isInteger(r.skipTo)).toBe(true);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('skips exactly when the furthest peer, gated at the same bound, would wait for it', () => {
    const self = asPeerId('self');
    fc.assert(
      fc.property(stepsArb, fc.integer({ min: 0, max: 20 }), fc.nat(1000), (steps, s, own) => {
        // Last steps sent, in both arguments; the furthest peer is about to start furthest + 1.
        const furthest = Math.max(...steps);
        const blocks = !gate(furthest + 1, s, [self], new Map([[self, own]])).open;
        expect(hopSkip(own, steps, s).skipTo !== undefined).toBe(blocks);
      }),
      { seed: 43, numRuns: 500 },
    );
  });

  it('jumps to the median of the pack when that is within the bound', () => {
    // Pack at 48..52, straggler at 30, bound 4: the median 50 is within 4 of 52.
    expect(hopSkip(30, [52, 48, 50, 49, 51], 4)).toEqual({ skipTo: 50 });
    // Even count: the lower median.
    expect(hopSkip(30, [52, 48, 50, 49], 4)).toEqual({ skipTo: 49 });
    // Spread-out pack: the median (20) is too far behind the leader (60), so the bound wins.
    expect(hopSkip(5, [10, 20, 60], 4)).toEqual({ skipTo: 56 });
  });

  it('does not skip exactly at the bound, and ignores what is not a step count', () => {
    expect(hopSkip(46, [50], 4)).toEqual({ skipTo: undefined });
    expect(hopSkip(45, [50], 4)).toEqual({ skipTo: 50 });
    expect(hopSkip(0, [], 4)).toEqual({ skipTo: undefined });
    expect(hopSkip(0, [Number.NaN, Number.POSITIVE_INFINITY, -3, 2.5], 1)).toEqual({
      skipTo: undefined,
    });
    expect(() => hopSkip(0, [10], -1)).toThrow(expect.objectContaining({ name: 'PolicyError' }));
  });
});
