import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { averageUpdates, bspWeight, bspWeights, weightedSum } from './bsp';

/** Per-sample gradients for each peer: peers[j][s] is sample s's gradient (P values). */
const peersArb = fc
  .record({
    P: fc.integer({ min: 1, max: 12 }),
    batches: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
  })
  .chain(({ P, batches }) =>
    fc.tuple(
      ...batches.map((b) =>
        fc.array(
          fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: P, maxLength: P }),
          {
            minLength: b,
            maxLength: b,
          },
        ),
      ),
    ),
  );

const meanOf = (samples: number[][], P: number): Float32Array => {
  const out = new Float32Array(P);
  for (let i = 0; i < P; i++) out[i] = samples.reduce((s, g) => s + g[i]!, 0) / samples.length;
  return out;
};

describe('bspWeight', () => {
  it('is 1 / N and refuses a non-positive or fractional peer count', () => {
    expect(bspWeight(1)).toBe(1);
    expect(bspWeight(4)).toBe(0.25);
    for (const bad of [0, -1, 2.5, Number.NaN]) expect(() => bspWeight(bad)).toThrow(/peer count/);
  });

  it('equals b_i / sum b when batches are equal', () => {
    expect(bspWeights([8, 8, 8, 8])).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

describe('the weighted merge', () => {
  it('adds each peer’s weighted mean gradient up to the mean over the global batch', () => {
    fc.assert(
      fc.property(peersArb, (peers) => {
        const P = peers[0]![0]!.length;
        const weights = bspWeights(peers.map((samples) => samples.length));
        // What the runtime does: each sender scales in f32, each receiver adds in f32.
        const merged = new Float32Array(P);
        peers.forEach((samples, j) => {
          const mean = meanOf(samples, P);
          for (let i = 0; i < P; i++) merged[i]! += Math.fround(weights[j]! * mean[i]!);
        });
        const all = peers.flat();
        for (let i = 0; i < P; i++) {
          const globalMean = all.reduce((s, g) => s + g[i]!, 0) / all.length;
          expect(Math.abs(merged[i]! - globalMean)).toBeLessThanOrEqual(1e-4);
        }
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('needs the batch weights: a plain average of unequal batches is not the global mean', () => {
    const peers = [[[0], [0], [0]], [[6]]]; // three samples of 0, one of 6: global mean 1.5
    const means = peers.map((s) => meanOf(s, 1));
    expect(averageUpdates(means, new Float32Array(1))[0]).toBe(3);
    expect(weightedSum(means, bspWeights([3, 1]), new Float32Array(1))[0]).toBe(1.5);
  });

  it('with equal batches, the sum of 1/N-weighted updates equals their average', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (N, P, seed) => {
          let x = seed;
          const next = () => {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            return x / 2 ** 32 - 0.5;
          };
          const updates = Array.from({ length: N }, () => Float32Array.from({ length: P }, next));
          const w = bspWeight(N);
          const summed = new Float32Array(P);
          for (const u of updates) for (let i = 0; i < P; i++) summed[i]! += Math.fround(w * u[i]!);
          const avg = averageUpdates(updates, new Float32Array(P));
          for (let i = 0; i < P; i++) expect(summed[i]!).toBeCloseTo(avg[i]!, 5);
          const ws = weightedSum(updates, new Array(N).fill(w), new Float32Array(P));
          for (let i = 0; i < P; i++) expect(ws[i]!).toBeCloseTo(avg[i]!, 6);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('refuses mismatched lengths, empty input and bad batches with a PolicyError', () => {
    const out = new Float32Array(3);
    expect(() => averageUpdates([new Float32Array(2)], out)).toThrow(
      expect.objectContaining({ name: 'PolicyError' }),
    );
    expect(() => averageUpdates([], out)).toThrow(expect.objectContaining({ name: 'PolicyError' }));
    expect(() => weightedSum([out], [1, 2], out)).toThrow(
      expect.objectContaining({ name: 'PolicyError' }),
    );
    expect(() => bspWeights([0, 0])).toThrow(expect.objectContaining({ code: 'bad-config' }));
    expect(() => bspWeights([2, -1])).toThrow(expect.objectContaining({ code: 'bad-config' }));
  });
});
