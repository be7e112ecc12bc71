import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { denseUpdateBytes, sparseUpdateBytesEstimate } from '../wire/sizes';
import {
  createGaiaState,
  GAIA_INITIAL_THRESHOLD,
  GAIA_WEIGHT_FLOOR,
  type GaiaMessage,
  type GaiaState,
  gaiaAccumulate,
  gaiaSelect,
  gaiaThreshold,
} from './gaia';

function accumulate(state: GaiaState, gradient: Float32Array, weight = 1, lr = 1): void {
  const r = gaiaAccumulate(state, gradient, weight, lr);
  if (!r.ok) throw r.error;
}

function select(state: GaiaState, params: Float32Array, theta: number): GaiaMessage {
  const r = gaiaSelect(state, params, theta);
  if (!r.ok) throw r.error;
  return r.value;
}

/** A gradient of P zeros with the given entries set. */
const sparseGradient = (P: number, entries: Record<number, number>) => {
  const g = new Float32Array(P);
  for (const [i, v] of Object.entries(entries)) g[Number(i)] = v;
  return g;
};

describe('gaiaAccumulate', () => {
  it('accumulates the parameter change -lr * weight * gradient', () => {
    const s = createGaiaState(3);
    accumulate(s, Float32Array.of(1, -2, 4), 0.5, 0.1);
    accumulate(s, Float32Array.of(1, 0, 0), 0.5, 0.1);
    expect(s.acc[0]).toBeCloseTo(-0.1, 7);
    expect(s.acc[1]).toBeCloseTo(0.1, 7);
    expect(s.acc[2]).toBeCloseTo(-0.2, 7);
  });
});

describe('gaiaSelect', () => {
  it('sends strictly above the threshold and keeps what is at or below it', () => {
    const P = 1000;
    const s = createGaiaState(P);
    const params = new Float32Array(P).fill(2); // theta 0.5 of |w| = 2: threshold exactly 1
    const e = 2 ** -20;
    accumulate(s, sparseGradient(P, { 10: 1, 20: 1 + e, 30: 1 - e, 40: -(1 + e) }));
    const m = select(s, params, 0.5);
    expect(m.kind).toBe('sparse');
    if (m.kind !== 'sparse') return;
    expect([...m.indices]).toEqual([20, 40]);
    expect([...m.values]).toEqual([-(1 + e), 1 + e]);
    expect(s.acc[20]).toBe(0);
    expect(s.acc[40]).toBe(0);
    expect(s.acc[10]).toBe(-1);
    expect(s.acc[30]).toBe(-(1 - e));
  });

  it('uses a 1% relative threshold by default', () => {
    const P = 100;
    const s = createGaiaState(P);
    const params = new Float32Array(P).fill(1);
    accumulate(s, sparseGradient(P, { 3: 0.0099, 7: 0.0101 }));
    const m = select(s, params, GAIA_INITIAL_THRESHOLD);
    expect(m.kind === 'sparse' && [...m.indices]).toEqual([7]);
  });

  it('measures near-zero parameters against the weight floor', () => {
    const P = 100;
    const s = createGaiaState(P);
    const params = new Float32Array(P).fill(1);
    params[1] = 0;
    params[2] = -1e-6;
    const abs = 0.01 * GAIA_WEIGHT_FLOOR; // the absolute threshold below the floor
    accumulate(s, sparseGradient(P, { 1: 2 * abs, 2: -2 * abs, 3: 2 * abs, 4: 0.5 * abs }));
    params[4] = 0;
    const m = select(s, params, 0.01);
    // Index 3 has |w| = 1: 2e-5 is far below 1% of it.
    expect(m.kind === 'sparse' && [...m.indices]).toEqual([1, 2]);

    const coarse = createGaiaState(P, 1);
    accumulate(coarse, sparseGradient(P, { 1: 2 * abs }));
    expect(select(coarse, params, 0.01).kind).toBe('none');
  });

  it('returns none, and changes nothing, when no entry is significant', () => {
    const s = createGaiaState(10);
    accumulate(s, new Float32Array(10).fill(1e-4));
    const before = Float32Array.from(s.acc);
    expect(select(s, new Float32Array(10).fill(1), 0.01)).toEqual({ kind: 'none' });
    expect(s.acc).toEqual(before);
  });

  it('sends dense, zeroing everything, when nearly all entries are significant (the bitmap costs 1 bit each)', () => {
    const P = 64;
    const s = createGaiaState(P);
    const g = Float32Array.from({ length: P }, (_, i) => (i === 0 ? 1e-6 : 1));
    accumulate(s, g);
    const before = Float32Array.from(s.acc);
    const m = select(s, new Float32Array(P).fill(1), 0.01);
    expect(m.kind).toBe('dense');
    if (m.kind === 'dense') expect(m.values).toEqual(before); // the insignificant ones ride along
    expect(s.acc.every((v) => v === 0)).toBe(true);
  });

  it('goes dense exactly where the sparse message would not be smaller', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 3000 })
          .chain((P) => fc.tuple(fc.constant(P), fc.integer({ min: 1, max: P }))),
        ([P, k]) => {
          const s = createGaiaState(P);
          // Significant entries spread over the vector: every stride-th one, k of them.
          const g = new Float32Array(P);
          const stride = Math.floor(P / k);
          for (let j = 0; j < k; j++) g[j * stride] = 1;
          accumulate(s, g);
          const m = select(s, new Float32Array(P).fill(1), 0.01);
          const denser = sparseUpdateBytesEstimate(P, k, 'f32') >= denseUpdateBytes(P, 'f32');
          expect(m.kind).toBe(denser ? 'dense' : 'sparse');
          if (m.kind === 'sparse') expect(m.indices.length).toBe(k);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('conserves every update: sent + accumulator = everything accumulated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(
          fc.record({
            seed: fc.integer({ min: 0, max: 2 ** 31 }),
            weight: fc.double({ min: 0, max: 1, noNaN: true }),
            lr: fc.double({ min: 0, max: 1, noNaN: true }),
            theta: fc.double({ min: 0, max: 0.5, noNaN: true }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (P, steps) => {
          const s = createGaiaState(P);
          const added = new Float64Array(P);
          const sent = new Float64Array(P);
          for (const { seed, weight, lr, theta } of steps) {
            let x = seed >>> 0;
            const rand = () => {
              x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
              // Heavy-tailed, so some entries pass the threshold and most do not.
              return ((x >>> 8) / 2 ** 24 - 0.5) ** 5 * 32;
            };
            const g = Float32Array.from({ length: P }, rand);
            const params = Float32Array.from({ length: P }, rand);
            for (let i = 0; i < P; i++) added[i]! += -lr * weight * g[i]!;
            accumulate(s, g, weight, lr);
            const m = select(s, params, theta);
            if (m.kind === 'dense') {
              for (let i = 0; i < P; i++) sent[i]! += m.values[i]!;
            }
            if (m.kind === 'sparse') {
              for (let j = 1; j < m.indices.length; j++)
                expect(m.indices[j]!).toBeGreaterThan(m.indices[j - 1]!);
              for (let j = 0; j < m.indices.length; j++) sent[m.indices[j]!]! += m.values[j]!;
            }
            if (m.kind !== 'dense') {
              // Whatever stayed behind is below the threshold.
              s.acc.forEach((a, i) => {
                expect(Math.abs(a)).toBeLessThanOrEqual(
                  theta * Math.max(Math.abs(params[i]!), GAIA_WEIGHT_FLOOR),
                );
              });
            }
          }
          for (let i = 0; i < P; i++) expect(sent[i]! + s.acc[i]!).toBeCloseTo(added[i]!, 5);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('refuses non-finite or mis-sized input and leaves the state unchanged', () => {
    const P = 4;
    const s = createGaiaState(P);
    accumulate(s, Float32Array.of(1, 2, 3, 4), 1, 0.1);
    const before = Float32Array.from(s.acc);
    const badAccumulate: [Float32Array, number, number][] = [
      [Float32Array.of(1, Number.NaN, 1, 1), 1, 0.1],
      [Float32Array.of(1, 1, 1, Number.NEGATIVE_INFINITY), 1, 0.1],
      [Float32Array.of(1, 1, 1, 3e38), 1, 10], // overflows f32 once scaled
      [Float32Array.of(1, 1, 1, 1), Number.NaN, 0.1],
      [Float32Array.of(1, 1, 1, 1), 1, Number.POSITIVE_INFINITY],
      [Float32Array.of(1, 1, 1), 1, 0.1],
    ];
    for (const [g, w, lr] of badAccumulate) {
      const r = gaiaAccumulate(s, g, w, lr);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ name: 'PolicyError', code: 'bad-input' });
      expect(s.acc).toEqual(before);
    }
    const badSelect: [Float32Array, number][] = [
      [Float32Array.of(1, Number.NaN, 1, 1), 0.01],
      [Float32Array.of(1, 1, 1, Number.POSITIVE_INFINITY), 0.01],
      [Float32Array.of(1, 1, 1), 0.01],
      [Float32Array.of(1, 1, 1, 1), Number.NaN],
      [Float32Array.of(1, 1, 1, 1), -0.01],
    ];
    for (const [params, theta] of badSelect) {
      const r = gaiaSelect(s, params, theta);
      expect(r.ok).toBe(false);
      expect(s.acc).toEqual(before);
    }
  });
});

describe('gaiaThreshold', () => {
  it('decays in proportion to the learning rate', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (lr0, fraction) => {
          const theta = gaiaThreshold(lr0 * fraction, lr0);
          expect(theta).toBeCloseTo(GAIA_INITIAL_THRESHOLD * fraction, 12);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
    expect(gaiaThreshold(0.1, 0.1)).toBe(GAIA_INITIAL_THRESHOLD);
    expect(gaiaThreshold(0.05, 0.1, 0.02)).toBeCloseTo(0.01, 15);
  });

  it('lets an update through once the learning rate has decayed that was held back before', () => {
    const P = 100;
    const s = createGaiaState(P);
    const params = new Float32Array(P).fill(1);
    accumulate(s, sparseGradient(P, { 5: -1 }), 1, 0.005); // acc = +0.005: half of 1%
    expect(select(s, params, gaiaThreshold(0.1, 0.1)).kind).toBe('none');
    const m = select(s, params, gaiaThreshold(0.01, 0.1)); // threshold now 0.1%
    expect(m.kind === 'sparse' && [...m.indices]).toEqual([5]);
  });

  it('refuses a bad schedule with a PolicyError', () => {
    expect(() => gaiaThreshold(0.1, 0)).toThrow(expect.objectContaining({ code: 'bad-config' }));
    expect(() => gaiaThreshold(-0.1, 0.1)).toThrow(expect.objectContaining({ code: 'bad-config' }));
    expect(() => gaiaThreshold(0.1, 0.1, Number.NaN)).toThrow(
      expect.objectContaining({ code: 'bad-config' }),
    );
    expect(() => createGaiaState(0)).toThrow(expect.objectContaining({ code: 'bad-config' }));
    expect(() => createGaiaState(4, 0)).toThrow(expect.objectContaining({ code: 'bad-config' }));
  });
});
