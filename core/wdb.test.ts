import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors';
import { asPeerId, type PeerId } from './ids';
import {
  assignBatches,
  assignEqualBatches,
  type BatchConfig,
  batchWeights,
  createRebalanceState,
  type PeerCapacity,
  type RebalanceInput,
  recordRebalance,
  shouldRebalance,
  smoothCapacity,
} from './wdb';

const id = (s: string): PeerId => asPeerId(s);
const peers = (caps: readonly number[]): PeerCapacity[] =>
  caps.map((capacity, i) => ({ id: id(`p${String(i).padStart(2, '0')}`), capacity }));
const batchesOf = (m: Map<PeerId, number>, list: readonly PeerCapacity[]) =>
  list.map((p) => m.get(p.id)!);
const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

/**
 * The real-valued water-filling, by bisection on lambda: an implementation independent of the
 * breakpoint walk in wdb.ts. Returns clamp(lambda c_i, lo, hi) with sum = total.
 */
function referenceShares(caps: readonly number[], cfg: BatchConfig): number[] {
  const { globalBatch: total, minBatch: lo, maxBatch: hi } = cfg;
  const at = (l: number) => caps.map((c) => Math.min(hi, Math.max(lo, l * c)));
  let a = 0;
  let b = 1;
  while (sum(at(b)) < total) b *= 2;
  for (let i = 0; i < 200; i++) {
    const m = (a + b) / 2;
    if (sum(at(m)) < total) a = m;
    else b = m;
  }
  return at(b);
}

/** Peers with distinct ids, positive capacities spanning three orders of magnitude. */
const peerList = fc
  .uniqueArray(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 12 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.double({ min: 0.5, max: 500, noNaN: true }), {
        minLength: ids.length,
        maxLength: ids.length,
      }),
    ),
  )
  .map(([ids, caps]) => ids.map((s, i) => ({ id: id(s), capacity: caps[i]! })));

/** A feasible config for n peers: n b_min <= B <= n b_max. */
const feasibleConfig = (n: number) =>
  fc
    .tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 256 }))
    .chain(([minBatch, spread]) =>
      fc.record({
        minBatch: fc.constant(minBatch),
        maxBatch: fc.constant(minBatch + spread),
        globalBatch: fc.integer({ min: n * minBatch, max: n * (minBatch + spread) }),
      }),
    );

describe('smoothCapacity', () => {
  it('takes the first sample, then moves by alpha toward each new one', () => {
    expect(smoothCapacity(undefined, 100)).toBe(100);
    expect(smoothCapacity(100, 200)).toBeCloseTo(130, 12);
    expect(smoothCapacity(100, 200, 0.5)).toBeCloseTo(150, 12);
    expect(smoothCapacity(100, 0)).toBeCloseTo(70, 12);
  });

  it('ignores non-finite and negative samples', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(smoothCapacity(100, bad)).toBe(100);
      expect(smoothCapacity(undefined, bad)).toBeUndefined();
    }
    expect(smoothCapacity(Number.NaN, 50)).toBe(50);
  });

  it('refuses an alpha outside (0, 1]', () => {
    for (const alpha of [0, -0.1, 1.5, Number.NaN]) {
      expect(() => smoothCapacity(1, 2, alpha)).toThrow(PolicyError);
    }
  });
});

describe('assignBatches', () => {
  it('is proportional to capacity within rounding of 1 and sums to B', () => {
    fc.assert(
      fc.property(peerList, fc.integer({ min: 1, max: 4096 }), (list, globalBatch) => {
        const total = sum(list.map((p) => p.capacity));
        const exact = list.map((p) => (globalBatch * p.capacity) / total);
        // Only where nothing is clamped: minBatch 1 below every share, maxBatch = B above it.
        fc.pre(exact.every((x) => x >= 1));
        const got = batchesOf(
          assignBatches(list, { globalBatch, minBatch: 1, maxBatch: globalBatch }),
          list,
        );
        expect(sum(got)).toBe(globalBatch);
        got.forEach((b, i) => {
          expect(Math.abs(b - exact[i]!)).toBeLessThan(1);
        });
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('water-fills: sum = B and within 1 of the clamped real solution whenever feasible', () => {
    const input = peerList.chain((list) =>
      fc.tuple(fc.constant(list), feasibleConfig(list.length)),
    );
    fc.assert(
      fc.property(input, ([list, cfg]) => {
        const got = batchesOf(assignBatches(list, cfg), list);
        const want = referenceShares(
          list.map((p) => p.capacity),
          cfg,
        );
        expect(sum(got)).toBe(cfg.globalBatch);
        got.forEach((b, i) => {
          expect(Number.isInteger(b)).toBe(true);
          expect(b).toBeGreaterThanOrEqual(cfg.minBatch);
          expect(b).toBeLessThanOrEqual(cfg.maxBatch);
          expect(Math.abs(b - want[i]!)).toBeLessThan(1 + 1e-9);
        });
        // A faster peer never gets a smaller batch (faster in float32, what the wire carries).
        const f32 = list.map((p) => Math.fround(p.capacity));
        for (let i = 0; i < list.length; i++) {
          for (let j = 0; j < list.length; j++) {
            if (f32[i]! > f32[j]!) expect(got[i]!).toBeGreaterThanOrEqual(got[j]!);
          }
        }
      }),
      { seed: 43, numRuns: 300 },
    );
  });

  it('clamps at b_max and b_min and gives what is left to the others', () => {
    const cfg = { globalBatch: 100, minBatch: 10, maxBatch: 60 };
    // The fast peer is capped at 60; 40 split over three equal peers, remainder to the lowest id.
    expect(batchesOf(assignBatches(peers([1000, 1, 1, 1]), cfg), peers([1000, 1, 1, 1]))).toEqual([
      60, 14, 13, 13,
    ]);
    // Both bounds at once: 54 -> 40 (cap), then 1.8 -> 5 (floor), the middle peer takes the rest.
    const list = peers([100, 10, 1]);
    expect(
      batchesOf(assignBatches(list, { globalBatch: 60, minBatch: 5, maxBatch: 40 }), list),
    ).toEqual([40, 15, 5]);
  });

  it('saturates when infeasible: all b_min when B < n b_min, all b_max when B > n b_max', () => {
    const list = peers([1, 2, 3]);
    expect(
      batchesOf(assignBatches(list, { globalBatch: 20, minBatch: 8, maxBatch: 32 }), list),
    ).toEqual([8, 8, 8]);
    expect(
      batchesOf(assignBatches(list, { globalBatch: 200, minBatch: 8, maxBatch: 32 }), list),
    ).toEqual([32, 32, 32]);
  });

  it('is the same for any permutation of the input', () => {
    const input = peerList.chain((list) =>
      fc.tuple(
        fc.constant(list),
        fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
        feasibleConfig(list.length),
      ),
    );
    fc.assert(
      fc.property(input, ([list, shuffled, cfg]) => {
        const a = assignBatches(list, cfg);
        const b = assignBatches(shuffled, cfg);
        expect(b.size).toBe(a.size);
        for (const [peer, batch] of a) expect(b.get(peer)).toBe(batch);
      }),
      { seed: 44, numRuns: 300 },
    );
    // Exact ties in the fractional parts: the remainder goes to the lowest id, whatever the order.
    const tied = [
      { id: id('c'), capacity: 1 },
      { id: id('a'), capacity: 1 },
      { id: id('b'), capacity: 1 },
    ];
    const cfg = { globalBatch: 10, minBatch: 1, maxBatch: 10 };
    for (const order of [tied, [...tied].reverse()]) {
      const m = assignBatches(order, cfg);
      expect([m.get(id('a')), m.get(id('b')), m.get(id('c'))]).toEqual([4, 3, 3]);
    }
  });

  it("gives the same batches from a peer's own double capacity and the float32 its peers decode", () => {
    const own = 1 + 1e-12; // b's smoothed capacity, as b holds it
    const cfg = { globalBatch: 3, minBatch: 1, maxBatch: 3 };
    const atB = assignBatches(
      [
        { id: id('a'), capacity: 1 },
        { id: id('b'), capacity: own },
      ],
      cfg,
    );
    const atA = assignBatches(
      [
        { id: id('a'), capacity: 1 },
        { id: id('b'), capacity: Math.fround(own) },
      ],
      cfg,
    );
    expect([...atB]).toEqual([...atA]);
    expect(atA.get(id('a'))).toBe(2); // the exact tie goes to the lowest id
  });

  it('gives a peer slowed down 4x about a quarter of the others’ batch', () => {
    const cfg = { globalBatch: 128, minBatch: 1, maxBatch: 128 };
    const before = batchesOf(
      assignBatches(peers([100, 100, 100, 100]), cfg),
      peers([100, 100, 100, 100]),
    );
    expect(before).toEqual([32, 32, 32, 32]);
    const list = peers([100, 25, 100, 100]);
    const after = batchesOf(assignBatches(list, cfg), list);
    expect(sum(after)).toBe(128);
    for (const other of [after[0]!, after[2]!, after[3]!]) {
      expect(Math.abs(after[1]! - other / 4)).toBeLessThanOrEqual(1);
    }
  });

  it('treats unmeasured capacities as the slowest measured peer; equal split if none is', () => {
    const cfg = { globalBatch: 120, minBatch: 1, maxBatch: 120 };
    const list = peers([200, 0, 100, Number.NaN, -5]);
    expect(batchesOf(assignBatches(list, cfg), list)).toEqual(
      batchesOf(
        assignBatches(peers([200, 100, 100, 100, 100]), cfg),
        peers([200, 100, 100, 100, 100]),
      ),
    );
    const none = peers([0, Number.NaN, Number.POSITIVE_INFINITY]);
    expect(batchesOf(assignBatches(none, cfg), none)).toEqual([40, 40, 40]);
  });

  it('handles the empty list and refuses bad configuration and duplicate ids', () => {
    expect(assignBatches([], { globalBatch: 64, minBatch: 1, maxBatch: 64 }).size).toBe(0);
    const bad: BatchConfig[] = [
      { globalBatch: -1, minBatch: 1, maxBatch: 8 },
      { globalBatch: 10.5, minBatch: 1, maxBatch: 8 },
      { globalBatch: 10, minBatch: 0, maxBatch: 8 },
      { globalBatch: 10, minBatch: 9, maxBatch: 8 },
      { globalBatch: 10, minBatch: 1, maxBatch: Number.NaN },
    ];
    for (const cfg of bad) expect(() => assignBatches(peers([1]), cfg)).toThrow(PolicyError);
    const dup = [
      { id: id('a'), capacity: 1 },
      { id: id('a'), capacity: 2 },
    ];
    expect(() => assignBatches(dup, { globalBatch: 8, minBatch: 1, maxBatch: 8 })).toThrow(
      PolicyError,
    );
  });
});

describe('assignEqualBatches', () => {
  it('splits equally with the remainder to the lowest ids, in any input order', () => {
    const m = assignEqualBatches([id('c'), id('a'), id('d'), id('b')], 10);
    expect([...'abcd'].map((s) => m.get(id(s)))).toEqual([3, 3, 2, 2]);
    expect(sum(m.values())).toBe(10);
    expect(assignEqualBatches([], 10).size).toBe(0);
    expect(() => assignEqualBatches([id('a')], -3)).toThrow(PolicyError);
    expect(() => assignEqualBatches([id('a'), id('a')], 4)).toThrow(PolicyError);
  });
});

describe('batchWeights', () => {
  it('gives w_i = b_i / sum b, summing to 1', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { minLength: 1, maxLength: 16 }),
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 16, maxLength: 16 }),
        (ids, bs) => {
          const batches = new Map(ids.map((s, i) => [id(s), bs[i]!] as const));
          const weights = batchWeights(batches);
          const total = sum(batches.values());
          expect(sum(weights.values())).toBeCloseTo(1, 12);
          for (const [peer, b] of batches) expect(weights.get(peer)).toBeCloseTo(b / total, 15);
        },
      ),
      { seed: 45, numRuns: 200 },
    );
    expect([...batchWeights(new Map([[id('a'), 0]])).values()]).toEqual([0]);
  });
});

describe('shouldRebalance', () => {
  const cfg = { every: 20, shiftThreshold: 0.2 };
  const caps = (entries: Record<string, number>) =>
    new Map(Object.entries(entries).map(([k, v]) => [id(k), v] as const));
  const base: RebalanceInput = {
    step: 100,
    capacities: caps({ a: 100, b: 50 }),
    membershipVersion: 3,
  };
  const state = recordRebalance(base);
  const at = (patch: Partial<RebalanceInput>) => shouldRebalance(state, { ...base, ...patch }, cfg);

  it('fires initially, then not again for the same inputs', () => {
    expect(shouldRebalance(createRebalanceState(), base, cfg)).toEqual({
      rebalance: true,
      reason: 'initial',
    });
    expect(at({})).toEqual({ rebalance: false });
    expect(at({ step: 101 })).toEqual({ rebalance: false });
  });

  it('fires every R steps and not before', () => {
    expect(at({ step: 119 })).toEqual({ rebalance: false });
    expect(at({ step: 120 })).toEqual({ rebalance: true, reason: 'periodic' });
    expect(at({ step: 150 })).toEqual({ rebalance: true, reason: 'periodic' });
    expect(at({ step: 50 })).toEqual({ rebalance: true, reason: 'periodic' }); // counter reset
  });

  it('fires on a capacity shift above the threshold, either way, and not at 19%', () => {
    expect(at({ capacities: caps({ a: 119, b: 50 }) })).toEqual({ rebalance: false });
    expect(at({ capacities: caps({ a: 81, b: 50 }) })).toEqual({ rebalance: false });
    expect(at({ capacities: caps({ a: 100, b: 59.5 }) })).toEqual({ rebalance: false });
    // "More than 20%": exactly 20% either way does not fire.
    expect(at({ capacities: caps({ a: 120, b: 40 }) })).toEqual({ rebalance: false });
    expect(at({ capacities: caps({ a: 121, b: 50 }) })).toEqual({
      rebalance: true,
      reason: 'capacity-shift',
    });
    expect(at({ capacities: caps({ a: 100, b: 39 }) })).toEqual({
      rebalance: true,
      reason: 'capacity-shift',
    });
    expect(at({ capacities: caps({ a: 25, b: 50 }) })).toEqual({
      rebalance: true,
      reason: 'capacity-shift',
    });
    // A peer unmeasured at the last rebalance that now has a capacity is a shift.
    const fromZero = recordRebalance({ ...base, capacities: caps({ a: 100, b: 0 }) });
    expect(shouldRebalance(fromZero, { ...base, capacities: caps({ a: 100, b: 0 }) }, cfg)).toEqual(
      {
        rebalance: false,
      },
    );
    expect(shouldRebalance(fromZero, { ...base, capacities: caps({ a: 100, b: 5 }) }, cfg)).toEqual(
      {
        rebalance: true,
        reason: 'capacity-shift',
      },
    );
  });

  it('fires on membership change: version bump, a new peer, a removed peer', () => {
    const membership = { rebalance: true, reason: 'membership' };
    expect(at({ membershipVersion: 4 })).toEqual(membership);
    expect(at({ capacities: caps({ a: 100, b: 50, c: 70 }) })).toEqual(membership);
    expect(at({ capacities: caps({ a: 100 }) })).toEqual(membership);
    expect(at({ capacities: caps({ a: 100, c: 50 }) })).toEqual(membership);
  });

  it('refuses bad configuration', () => {
    for (const bad of [
      { every: 0, shiftThreshold: 0.2 },
      { every: 2.5, shiftThreshold: 0.2 },
      { every: 20, shiftThreshold: -0.1 },
      { every: 20, shiftThreshold: Number.NaN },
    ]) {
      expect(() => shouldRebalance(state, base, bad)).toThrow(PolicyError);
    }
  });
});
