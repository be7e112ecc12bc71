import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROOM_CONFIG } from './protocol';
import {
  addToHistory,
  clipFactorOf,
  clipScale,
  coordinateMedian,
  createUpdateHistory,
  HISTORY_GAIN,
  historyNorm,
  l2Norm,
  lowerMedian,
  updateNorm,
} from './robust';

describe('robust aggregation', () => {
  it('measures the L2 norm like a float64 reference', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, min: -1e4, max: 1e4 }), { maxLength: 200 }),
        (xs) => {
          const v = Float32Array.from(xs);
          const ref = Math.sqrt([...v].reduce((s, x) => s + x * x, 0));
          expect(l2Norm(v)).toBeCloseTo(ref, 6);
        },
      ),
    );
  });

  it('puts a dense update, a top-k and a range on one scale', () => {
    // One step of mass 1 per entry, dense over P = 10 000; a top-k of 1% carrying the same
    // L1 mass in 100 entries of 100; a range of 1/4 carrying it in 2 500 entries of 4.
    const P = 10_000;
    const dense = updateNorm({ encoding: 'dense', values: new Float32Array(P).fill(1) }, P);
    const sparse = updateNorm(
      {
        encoding: 'sparse',
        indices: Uint32Array.from({ length: 100 }, (_, i) => i * 100),
        values: new Float32Array(100).fill(100),
      },
      P,
    );
    const range = updateNorm(
      { encoding: 'range', start: 0, values: new Float32Array(2500).fill(4) },
      P,
    );
    expect(dense).toBeCloseTo(100, 9);
    expect(sparse).toBeCloseTo(dense, 9);
    expect(range).toBeCloseTo(dense, 9);
    expect(updateNorm({ encoding: 'dense', values: new Float32Array(0) }, P)).toBe(0);
  });

  it('takes the lower median, ignoring missing values: one outlier moves it one rank at most', () => {
    expect(lowerMedian([])).toBe(0);
    expect(lowerMedian([3])).toBe(3);
    expect(lowerMedian([5, 1])).toBe(1);
    expect(lowerMedian([1e9, 2, 3])).toBe(3);
    expect(lowerMedian([Number.NaN, 2, 1e9])).toBe(2);
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 2, maxLength: 20 }),
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        (honest, hostile) => {
          const m = lowerMedian([...honest, hostile]);
          expect(m).toBeLessThanOrEqual(Math.max(...honest));
          expect(m).toBeGreaterThanOrEqual(Math.min(...honest));
        },
      ),
    );
  });

  it('scales an update down to factor x reference, never up; off when the factor is 0', () => {
    expect(clipScale(10, 1, 4)).toBeCloseTo(0.4, 12);
    expect(clipScale(3, 1, 4)).toBe(1);
    expect(clipScale(10, 0, 4)).toBe(1);
    expect(clipScale(10, 1, 0)).toBe(1);
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
        fc.double({ min: 0.5, max: 100, noNaN: true }),
        (norm, reference, factor) => {
          const scale = clipScale(norm, reference, factor);
          expect(scale).toBeGreaterThan(0);
          expect(scale).toBeLessThanOrEqual(1);
          expect(norm * scale).toBeLessThanOrEqual(factor * reference * (1 + 1e-12));
        },
      ),
    );
  });

  it('is on for DLion by default, off for the baselines, and the room can set it', () => {
    expect(clipFactorOf(DEFAULT_ROOM_CONFIG)).toBe(4);
    expect(clipFactorOf({ ...DEFAULT_ROOM_CONFIG, strategy: 'dlion-no-prio' })).toBe(4);
    expect(clipFactorOf({ ...DEFAULT_ROOM_CONFIG, strategy: 'gaia' })).toBe(0);
    expect(clipFactorOf({ ...DEFAULT_ROOM_CONFIG, strategy: 'gaia', clipFactor: 4 })).toBe(4);
    expect(clipFactorOf({ ...DEFAULT_ROOM_CONFIG, clipFactor: 0 })).toBe(0);
  });

  it('takes the coordinate-wise median; one hostile vector of three chooses no entry', () => {
    expect([
      ...coordinateMedian([Float32Array.of(1, 9), Float32Array.of(2, 0), Float32Array.of(100, 1)]),
    ]).toEqual([2, 1]);
    expect([...coordinateMedian([Float32Array.of(1, 3), Float32Array.of(2, 5)])]).toEqual([1.5, 4]);
    const only = Float32Array.of(4, 5);
    const copy = coordinateMedian([only]);
    expect([...copy]).toEqual([4, 5]);
    expect(copy).not.toBe(only);
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, min: -10, max: 10 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.float({ noNaN: true, min: -10, max: 10 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.float({ noNaN: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), {
          minLength: 5,
          maxLength: 5,
        }),
        (a, b, hostile) => {
          const m = coordinateMedian([
            Float32Array.from(a),
            Float32Array.from(hostile),
            Float32Array.from(b),
          ]);
          for (let i = 0; i < 5; i++) {
            expect(m[i]).toBeGreaterThanOrEqual(Math.min(Math.fround(a[i]!), Math.fround(b[i]!)));
            expect(m[i]).toBeLessThanOrEqual(Math.max(Math.fround(a[i]!), Math.fround(b[i]!)));
          }
        },
      ),
    );
  });
  it('keeps the average of updates like a float64 reference, sparse and dense, over many updates', () => {
    const P = 50;
    const h = createUpdateHistory(P);
    const ref = new Float64Array(P);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31 - 0.5;
    };
    // 600 updates: the lazy scale is folded in at least once (0.9^437 < 1e-20).
    for (let t = 0; t < 600; t++) {
      for (let i = 0; i < P; i++) ref[i]! *= 1 - HISTORY_GAIN;
      if (t % 3 === 0) {
        const values = Float32Array.from({ length: P }, rnd);
        addToHistory(h, { encoding: 'dense', values }, P);
        for (let i = 0; i < P; i++) ref[i]! += HISTORY_GAIN * values[i]!;
      } else {
        const indices = Uint32Array.from([t % P, (t * 7 + 3) % P].sort((a, b) => a - b));
        const values = Float32Array.from([rnd(), rnd()]);
        if (indices[0] === indices[1]) continue;
        addToHistory(h, { encoding: 'sparse', indices, values }, P);
        const k = HISTORY_GAIN * Math.sqrt(2 / P);
        ref[indices[0]!]! += k * values[0]!;
        ref[indices[1]!]! += k * values[1]!;
      }
    }
    const expected = Math.sqrt(ref.reduce((a, x) => a + x * x, 0));
    expect(historyNorm(h) / expected).toBeCloseTo(1, 4);
  });

  it('a steady push has a long average, noise a short one', () => {
    const P = 1000;
    const push = createUpdateHistory(P);
    const noise = createUpdateHistory(P);
    let seed = 3;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31 - 0.5;
    };
    for (let t = 0; t < 100; t++) {
      addToHistory(push, { encoding: 'dense', values: new Float32Array(P).fill(0.29) }, P);
      addToHistory(noise, { encoding: 'dense', values: Float32Array.from({ length: P }, rnd) }, P);
    }
    // Equal norms per update (uniform noise in [-0.5, 0.5] has an RMS of 0.29), averages apart:
    // about sqrt((1 - 0.9) / (1 + 0.9)) = 0.23 of it for noise.
    expect(historyNorm(noise) / historyNorm(push)).toBeLessThan(0.3);
  });
});
