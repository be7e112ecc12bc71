import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  akoPartitionCount,
  akoSetPartitionCount,
  akoStep,
  createAkoState,
  type ParamRange,
  partitionLayers,
} from './ako';

const sizeOf = (r: ParamRange) => r.end - r.start;
const largest = (ranges: readonly ParamRange[]) => Math.max(...ranges.map(sizeOf));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Smallest possible largest part when `sizes` (all > 0) go into exactly `parts` contiguous groups. */
function wholeLayerOptimum(sizes: readonly number[], parts: number): number {
  const n = sizes.length;
  const prefix = [0];
  for (const s of sizes) prefix.push(prefix[prefix.length - 1]! + s);
  // best[k][i]: first i layers in k groups.
  let best = prefix.map((_, i) => (i === 0 ? 0 : Number.POSITIVE_INFINITY));
  for (let k = 1; k <= parts; k++) {
    const next = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
    for (let i = 1; i <= n; i++) {
      for (let j = 0; j < i; j++) {
        next[i] = Math.min(next[i]!, Math.max(best[j]!, prefix[i]! - prefix[j]!));
      }
    }
    best = next;
  }
  return best[n]!;
}

/** Layer boundaries (prefix sums) of the flat vector. */
const boundaries = (sizes: readonly number[]) => {
  const out = new Set<number>([0]);
  let at = 0;
  for (const s of sizes) {
    at += s;
    out.add(at);
  }
  return out;
};

const layersArb = fc
  .array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 8 })
  .filter((sizes) => sum(sizes) > 0);

describe('partitionLayers', () => {
  it('covers [0, P) with exactly min(p, P) contiguous non-empty partitions', () => {
    fc.assert(
      fc.property(layersArb, fc.integer({ min: 1, max: 40 }), (sizes, p) => {
        const P = sum(sizes);
        const ranges = partitionLayers(sizes, p);
        expect(ranges.length).toBe(Math.min(p, P));
        expect(ranges[0]!.start).toBe(0);
        expect(ranges[ranges.length - 1]!.end).toBe(P);
        ranges.forEach((r, k) => {
          expect(r.end).toBeGreaterThan(r.start);
          if (k > 0) expect(r.start).toBe(ranges[k - 1]!.end);
        });
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('cuts inside a layer only when that layer alone is larger than P / p', () => {
    fc.assert(
      fc.property(layersArb, fc.integer({ min: 1, max: 40 }), (sizes, p) => {
        const P = sum(sizes);
        const parts = Math.min(p, P);
        const layerEnds = boundaries(sizes);
        let at = 0;
        const owner = (x: number) => {
          at = 0;
          for (const s of sizes) {
            if (x > at && x < at + s) return s;
            at += s;
          }
          return undefined;
        };
        for (const r of partitionLayers(sizes, p)) {
          if (layerEnds.has(r.end)) continue;
          const layer = owner(r.end);
          expect(layer).toBeDefined();
          expect(layer! * parts).toBeGreaterThan(P);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('is optimal over whole layers when no layer exceeds P / p, and never worse otherwise', () => {
    fc.assert(
      fc.property(layersArb, fc.integer({ min: 1, max: 10 }), (sizes, p) => {
        const P = sum(sizes);
        const nonEmpty = sizes.filter((s) => s > 0);
        const parts = Math.min(p, P);
        const got = largest(partitionLayers(sizes, p));
        if (nonEmpty.length >= parts) {
          const optimum = wholeLayerOptimum(nonEmpty, parts);
          if (nonEmpty.every((s) => s * parts <= P)) expect(got).toBe(optimum);
          else expect(got).toBeLessThanOrEqual(optimum);
        }
        expect(got).toBeLessThanOrEqual(2 * Math.ceil(P / parts));
        expect(got).toBeGreaterThanOrEqual(Math.ceil(P / parts));
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('balances a model dominated by one dense layer', () => {
    const mlp = [784 * 128, 128, 128 * 10, 10];
    const P = sum(mlp);
    for (const p of [2, 3, 8, 50]) {
      const ranges = partitionLayers(mlp, p);
      expect(ranges.length).toBe(p);
      expect(largest(ranges)).toBeLessThanOrEqual(2 * Math.ceil(P / p));
    }
    // Two whole-layer-sized partitions when that is already balanced.
    expect(partitionLayers([10, 10], 2)).toEqual([
      { start: 0, end: 10 },
      { start: 10, end: 20 },
    ]);
  });

  it('refuses bad configuration with a PolicyError', () => {
    for (const [sizes, p] of [
      [[], 1],
      [[0, 0], 1],
      [[3, -1], 1],
      [[3.5], 1],
      [[4], 0],
      [[4], 1.5],
    ] as [number[], number][]) {
      expect(() => partitionLayers(sizes, p)).toThrow(
        expect.objectContaining({ name: 'PolicyError', code: 'bad-config' }),
      );
    }
  });
});

describe('akoPartitionCount', () => {
  it('is the smallest p whose share fits the uplink within one step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 32 }),
        fc.integer({ min: 1, max: 40_000_000 }),
        fc.double({ min: 1e3, max: 1e9, noNaN: true }),
        fc.double({ min: 1, max: 10_000, noNaN: true }),
        (peers, denseBytes, bw, stepTimeMs) => {
          const maxP = 2 ** 40; // never binding here
          const p = akoPartitionCount({
            peers,
            denseBytes,
            bandwidthBytesPerSec: bw,
            stepTimeMs,
            maxP,
          });
          const budget = bw * (stepTimeMs / 1000);
          const need = (peers - 1) * denseBytes;
          expect(need / p).toBeLessThanOrEqual(budget * (1 + 1e-12));
          if (p > 1) expect(need / (p - 1)).toBeGreaterThan(budget * (1 - 1e-12));
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('follows (N - 1) S / (BW T) on a worked example and clamps to [1, maxP]', () => {
    const base = {
      peers: 5,
      denseBytes: 4_000_000,
      bandwidthBytesPerSec: 1_000_000,
      stepTimeMs: 500,
      maxP: 64,
    };
    expect(akoPartitionCount(base)).toBe(32); // 4 links x 4 MB over 0.5 MB per step
    expect(akoPartitionCount({ ...base, maxP: 10 })).toBe(10);
    expect(akoPartitionCount({ ...base, bandwidthBytesPerSec: 1e12 })).toBe(1);
    expect(akoPartitionCount({ ...base, peers: 1 })).toBe(1);
  });

  it('uses maxP while the bandwidth or the step time is unknown', () => {
    const base = {
      peers: 5,
      denseBytes: 4_000_000,
      bandwidthBytesPerSec: 1_000_000,
      stepTimeMs: 500,
      maxP: 64,
    };
    for (const bw of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(akoPartitionCount({ ...base, bandwidthBytesPerSec: bw })).toBe(64);
    }
    for (const t of [0, Number.NaN]) expect(akoPartitionCount({ ...base, stepTimeMs: t })).toBe(64);
    expect(() => akoPartitionCount({ ...base, maxP: 0 })).toThrow(
      expect.objectContaining({ code: 'bad-config' }),
    );
  });
});

/** Deterministic small-integer-ish gradients so f32 sums are easy to compare. */
function lcg(seed: number) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x >>> 8) / 2 ** 24 - 0.5;
  };
}

describe('akoStep', () => {
  const runArb = fc.record({
    sizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
    p: fc.integer({ min: 1, max: 9 }),
    steps: fc.integer({ min: 1, max: 30 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
  });

  it('sends each partition once every p steps, carrying the sum of the last p weighted gradients', () => {
    fc.assert(
      fc.property(runArb, ({ sizes, p, steps, seed }) => {
        const rand = lcg(seed);
        const state = createAkoState(sizes, p);
        const P = state.acc.length;
        const parts = state.partitions.length;
        const history: { g: Float32Array; w: number }[] = [];
        const lastSent = new Map<number, number>();
        for (let t = 0; t < steps; t++) {
          const g = Float32Array.from({ length: P }, rand);
          const w = 0.25 + rand();
          history.push({ g, w });
          const r = akoStep(state, g, w, t);
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          const sent = r.value;
          expect(sent.partition).toBe(t % parts);
          if (lastSent.has(sent.partition)) expect(t - lastSent.get(sent.partition)!).toBe(parts);
          lastSent.set(sent.partition, t);
          expect(sent.values.length).toBe(sent.end - sent.start);
          // Brute force: the weighted gradients of steps max(0, t - p + 1) .. t on this range.
          for (let i = sent.start; i < sent.end; i++) {
            let expected = 0;
            for (let s = Math.max(0, t - parts + 1); s <= t; s++)
              expected += history[s]!.w * history[s]!.g[i]!;
            expect(sent.values[i - sent.start]!).toBeCloseTo(expected, 4);
            expect(state.acc[i]).toBe(0);
          }
        }
        // Every partition has left within any p consecutive steps.
        if (steps >= parts) expect(lastSent.size).toBe(parts);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('conserves every value, also across a change of p', () => {
    fc.assert(
      fc.property(runArb, fc.integer({ min: 1, max: 9 }), ({ sizes, p, steps, seed }, p2) => {
        const rand = lcg(seed);
        const state = createAkoState(sizes, p);
        const P = state.acc.length;
        const added = new Float64Array(P);
        const sent = new Float64Array(P);
        for (let t = 0; t < steps; t++) {
          if (t === Math.floor(steps / 2)) {
            const before = Float32Array.from(state.acc);
            akoSetPartitionCount(state, p2);
            expect(state.acc).toEqual(before); // re-partitioning loses nothing
            expect(state.partitions.length).toBe(Math.min(p2, P));
          }
          const g = Float32Array.from({ length: P }, rand);
          const w = rand();
          for (let i = 0; i < P; i++) added[i]! += w * g[i]!;
          const r = akoStep(state, g, w, t);
          if (!r.ok) throw r.error;
          r.value.values.forEach((v, k) => {
            sent[r.value.start + k]! += v;
          });
        }
        for (let i = 0; i < P; i++) expect(sent[i]! + state.acc[i]!).toBeCloseTo(added[i]!, 4);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('hands out a copy: the caller may keep the values while the state moves on', () => {
    const state = createAkoState([4], 1);
    const r1 = akoStep(state, Float32Array.of(1, 2, 3, 4), 1, 0);
    const r2 = akoStep(state, Float32Array.of(5, 5, 5, 5), 1, 1);
    if (!r1.ok || !r2.ok) throw new Error('refused');
    expect([...r1.value.values]).toEqual([1, 2, 3, 4]);
    expect([...r2.value.values]).toEqual([5, 5, 5, 5]);
  });

  it('refuses non-finite or mis-sized input and leaves the state unchanged', () => {
    const state = createAkoState([3, 3], 2);
    const ok1 = akoStep(state, Float32Array.of(1, 1, 1, 1, 1, 1), 1, 0);
    expect(ok1.ok).toBe(true);
    const before = Float32Array.from(state.acc);
    const cases: [Float32Array, number, number][] = [
      [Float32Array.of(1, Number.NaN, 1, 1, 1, 1), 1, 1],
      [Float32Array.of(1, 1, 1, 1, 1, Number.POSITIVE_INFINITY), 1, 1],
      [Float32Array.of(1, 1, 1, 1, 1, 3e38), 10, 1], // overflows f32 once weighted
      [Float32Array.of(1, 1, 1), 1, 1],
      [Float32Array.of(1, 1, 1, 1, 1, 1), Number.NaN, 1],
      [Float32Array.of(1, 1, 1, 1, 1, 1), 1, -1],
      [Float32Array.of(1, 1, 1, 1, 1, 1), 1, 1.5],
    ];
    for (const [g, w, t] of cases) {
      const r = akoStep(state, g, w, t);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ name: 'PolicyError', code: 'bad-input' });
      expect(state.acc).toEqual(before);
    }
  });
});
