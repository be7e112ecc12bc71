// Optimizer arithmetic against hand-computed numbers, determinism, refusals and checkpoint round trips.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../core';
import {
  applyUpdate,
  createOptimizer,
  type ExportedOptimizerState,
  exportOptimizerState,
  importOptimizerState,
  type OptimizerConfig,
  OptimizerError,
  type OptimizerState,
  setLearningRate,
} from './optimizer';

const f32 = (xs: number[]) => Float32Array.from(xs);

/** Applies and fails the test if the optimizer refused. */
function step(state: OptimizerState, w: Float32Array, g: number[] | Float32Array): void {
  const r = applyUpdate(state, w, g instanceof Float32Array ? g : f32(g));
  if (!r.ok) throw r.error;
}

/**
 * Float32 results against numbers worked out by hand: within a few float32 ulps (2^-24
 * relative each), the rounding of the stored values, and far tighter than any formula slip.
 */
function expectClose(actual: Float32Array, expected: number[], ulps = 4): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    const tolerance = ulps * 2 ** -24 * Math.abs(e) + 1e-30;
    expect(Math.abs(actual[i]! - e), `entry ${i}: ${actual[i]} vs ${e}`).toBeLessThanOrEqual(
      tolerance,
    );
  });
}

const randomVector = (rand: () => number, n: number, scale = 1): Float32Array => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
};

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const snapshot = (s: OptimizerState) => {
  const e = exportOptimizerState(s);
  return { ...e, buffers: e.buffers.map((b) => Array.from(b)) };
};

describe('SGD (PyTorch convention: v = mu v + g, w -= lr v)', () => {
  it('momentum 0 is plain SGD: w -= lr g', () => {
    const s = createOptimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0 }, 3);
    const w = f32([1, -2, 0.5]);
    step(s, w, [0.5, -1, 2]);
    // 1 - 0.1*0.5, -2 - 0.1*(-1), 0.5 - 0.1*2
    expectClose(w, [0.95, -1.9, 0.3]);
    step(s, w, [0.25, 0.5, -1]);
    expectClose(w, [0.925, -1.95, 0.4]);
    expect(s.step).toBe(2);
  });

  it('momentum 0.9 accumulates velocity and keeps moving on a zero gradient', () => {
    const s = createOptimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0.9 }, 3);
    const w = f32([1, -2, 0.5]);
    step(s, w, [0.5, -1, 2]);
    // v = g on the first step (v starts at 0)
    expectClose(w, [0.95, -1.9, 0.3]);
    step(s, w, [0.25, 0.5, -1]);
    // v = 0.9*[0.5, -1, 2] + [0.25, 0.5, -1] = [0.7, -0.4, 0.8]; w -= 0.1 v
    expectClose(w, [0.88, -1.86, 0.22]);
    step(s, w, [0, 0, 0]);
    // v = 0.9*[0.7, -0.4, 0.8] = [0.63, -0.36, 0.72]
    expectClose(w, [0.817, -1.824, 0.148]);
    if (s.kind !== 'sgd') throw new Error('kind');
    expectClose(s.velocity, [0.63, -0.36, 0.72]);
  });

  it('a new learning rate scales the whole velocity on the very next step', () => {
    const s = createOptimizer({ kind: 'sgd', learningRate: 0.1, momentum: 0.9 }, 1);
    const w = f32([1]);
    step(s, w, [1]); // v = 1, w = 1 - 0.1
    setLearningRate(s, 0.2);
    step(s, w, [1]); // v = 0.9 + 1 = 1.9, w = 0.9 - 0.2*1.9 (Keras' convention would give 0.67)
    expectClose(w, [0.52]);
  });
});

describe('Adam (Kingma & Ba, bias-corrected)', () => {
  it('matches the hand-computed arithmetic on steps 1 and 2, bias correction included', () => {
    const s = createOptimizer({ kind: 'adam', learningRate: 0.01 }, 2);
    if (s.kind !== 'adam') throw new Error('kind');
    expect([s.beta1, s.beta2, s.epsilon]).toEqual([0.9, 0.999, 1e-8]);
    const w = f32([1, -2]);

    step(s, w, [0.5, -4]);
    // m = 0.1 g = [0.05, -0.4]; v = 0.001 g^2 = [0.00025, 0.016]
    expectClose(s.m, [0.05, -0.4]);
    expectClose(s.v, [0.00025, 0.016]);
    // t = 1: mhat = m / 0.1 = g, vhat = v / 0.001 = g^2, so the step is lr * sign(g):
    // w = [1 - 0.01, -2 + 0.01]. Without the correction it would be lr * m / sqrt(v):
    // 1 - 0.01 * 0.05 / 0.0158114 = 0.968377, which this must not be.
    expectClose(w, [0.99, -1.99]);
    expect(w[0]).not.toBeCloseTo(0.968377, 3);

    step(s, w, [-0.25, 1]);
    // m = 0.9 m + 0.1 g = [0.045 - 0.025, -0.36 + 0.1] = [0.02, -0.26]
    // v = 0.999 v + 0.001 g^2 = [0.00024975 + 0.0000625, 0.015984 + 0.001] = [0.00031225, 0.016984]
    expectClose(s.m, [0.02, -0.26]);
    expectClose(s.v, [0.00031225, 0.016984]);
    // t = 2: 1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999
    const expected = [
      0.99 - (0.01 * (0.02 / 0.19)) / (Math.sqrt(0.00031225 / 0.001999) + 1e-8),
      -1.99 - (0.01 * (-0.26 / 0.19)) / (Math.sqrt(0.016984 / 0.001999) + 1e-8),
    ];
    // Worked out: [0.99 - 0.01 * 0.105263 / 0.395225, -1.99 + 0.01 * 1.368421 / 2.914832]
    expectClose(f32(expected), [0.9873366, -1.9853053]);
    expectClose(w, expected);
    expect(s.step).toBe(2);
  });

  it('respects explicit betas and epsilon', () => {
    const s = createOptimizer(
      { kind: 'adam', learningRate: 0.1, beta1: 0.5, beta2: 0.75, epsilon: 0.5 },
      1,
    );
    const w = f32([0]);
    step(s, w, [2]);
    // m = 0.5*2 = 1, v = 0.25*4 = 1; mhat = 1/0.5 = 2, vhat = 1/0.25 = 4; w = -0.1*2/(2+0.5)
    expectClose(w, [-0.08]);
  });
});

/** A float64 reference written from the formulas, for long random runs (tolerance, not bits). */
function reference(cfg: OptimizerConfig, w0: Float32Array, grads: Float32Array[]): number[] {
  const w = Array.from(w0);
  const a = new Array<number>(w.length).fill(0);
  const b = new Array<number>(w.length).fill(0);
  grads.forEach((g, k) => {
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]!;
      if (cfg.kind === 'sgd') {
        a[i] = cfg.momentum * a[i]! + gi;
        w[i] = w[i]! - cfg.learningRate * a[i]!;
      } else {
        const [b1, b2, eps, t] = [cfg.beta1 ?? 0.9, cfg.beta2 ?? 0.999, cfg.epsilon ?? 1e-8, k + 1];
        a[i] = b1 * a[i]! + (1 - b1) * gi;
        b[i] = b2 * b[i]! + (1 - b2) * gi * gi;
        const mhat = a[i]! / (1 - b1 ** t);
        const vhat = b[i]! / (1 - b2 ** t);
        w[i] = w[i]! - (cfg.learningRate * mhat) / (Math.sqrt(vhat) + eps);
      }
    }
  });
  return w;
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'sgd', learningRate: 0.05, momentum: 0 },
  { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
  { kind: 'adam', learningRate: 0.01 },
  { kind: 'adam', learningRate: 0.003, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 },
];

describe.each(CONFIGS)('$kind %o', (cfg) => {
  it('tracks a float64 reference of the formulas over many random steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 30 }),
        (seed, steps) => {
          const rand = mulberry32(seed);
          const w0 = randomVector(rand, 17);
          const grads = Array.from({ length: steps }, () => randomVector(rand, 17, 3));
          const s = createOptimizer(cfg, 17);
          const w = w0.slice();
          for (const g of grads) step(s, w, g);
          const ref = reference(cfg, w0, grads);
          ref.forEach((r, i) => {
            expect(Math.abs(w[i]! - r)).toBeLessThan(1e-5 * (1 + Math.abs(r)));
          });
        },
      ),
      { seed: 0x0b71, numRuns: 50 },
    );
  });

  it('two optimizers fed the same inputs give bit-identical params', () => {
    const rand = mulberry32(7);
    const n = 10_001;
    const w0 = randomVector(rand, n);
    const grads = Array.from({ length: 20 }, () => randomVector(rand, n, 0.1));
    const run = () => {
      const s = createOptimizer(cfg, n);
      const w = w0.slice();
      for (const g of grads) step(s, w, g);
      return w;
    };
    const [a, b] = [run(), run()];
    expect(bytesOf(a)).toEqual(bytesOf(b));
    expect(bytesOf(a)).not.toEqual(bytesOf(w0));
  });

  it('refuses a non-finite gradient entry anywhere and changes nothing', () => {
    const rand = mulberry32(11);
    const n = 9;
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 4, n - 1]) {
        const s = createOptimizer(cfg, n);
        const w = randomVector(rand, n);
        step(s, w, randomVector(rand, n)); // non-zero buffers, so "unchanged" means something
        const [wBefore, sBefore] = [w.slice(), snapshot(s)];
        const g = randomVector(rand, n);
        g[at] = bad;
        const r = applyUpdate(s, w, g);
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.error).toBeInstanceOf(OptimizerError);
        expect(r.error.name).toBe('OptimizerError');
        expect(r.error.code).toBe('non-finite-gradient');
        expect(r.error.message).toContain(`gradient[${at}]`);
        expect(bytesOf(w)).toEqual(bytesOf(wBefore));
        expect(snapshot(s)).toEqual(sBefore);
      }
    }
  });

  it('refuses a length mismatch and changes nothing', () => {
    const s = createOptimizer(cfg, 4);
    const w = f32([1, 2, 3, 4]);
    for (const [wl, gl] of [
      [4, 3],
      [4, 5],
      [3, 4],
    ] as const) {
      const ww = wl === 4 ? w : new Float32Array(wl);
      const r = applyUpdate(s, ww, new Float32Array(gl).fill(1));
      expect(r.ok ? 'ok' : r.error.code).toBe('length-mismatch');
    }
    expect(Array.from(w)).toEqual([1, 2, 3, 4]);
    expect(s.step).toBe(0);
  });

  it('an export/import round trip continues exactly like an uninterrupted run', () => {
    const rand = mulberry32(3);
    const n = 257;
    const w0 = randomVector(rand, n);
    const grads = Array.from({ length: 12 }, () => randomVector(rand, n, 0.5));

    const straight = createOptimizer(cfg, n);
    const w1 = w0.slice();
    for (const g of grads) step(straight, w1, g);

    const first = createOptimizer(cfg, n);
    const w2 = w0.slice();
    for (const g of grads.slice(0, 5)) step(first, w2, g);
    const exported = exportOptimizerState(first);
    const copy = structuredClone(exported);
    // The snapshot is a copy: later applies on the source do not reach it.
    step(first, w2.slice(), grads[5]!);
    expect(exported).toEqual(copy);
    // Hyperparameters and step travel as JSON in a checkpoint; make sure they survive it.
    const viaJson = {
      ...(JSON.parse(JSON.stringify({ ...exported, buffers: [] })) as object),
      buffers: exported.buffers,
    } as ExportedOptimizerState;
    const restored = importOptimizerState(viaJson, n);
    if (!restored.ok) throw restored.error;
    for (const g of grads.slice(5)) step(restored.value, w2, g);

    expect(bytesOf(w2)).toEqual(bytesOf(w1));
    expect(snapshot(restored.value)).toEqual(snapshot(straight));
  });
});

describe('results that would not be finite are refused', () => {
  const refusesWithoutChange = (s: OptimizerState, w: Float32Array, g: number[]) => {
    const [wBefore, sBefore] = [w.slice(), snapshot(s)];
    const r = applyUpdate(s, w, f32(g));
    expect(r.ok ? 'ok' : r.error.code).toBe('non-finite-result');
    expect(bytesOf(w)).toEqual(bytesOf(wBefore));
    expect(snapshot(s)).toEqual(sBefore);
  };

  it('SGD: a parameter overflowing float32', () => {
    const s = createOptimizer({ kind: 'sgd', learningRate: 10, momentum: 0 }, 2);
    refusesWithoutChange(s, f32([0, 3e38]), [1, -1e38]);
  });

  it('SGD: the velocity overflowing float32', () => {
    const exported: ExportedOptimizerState = {
      kind: 'sgd',
      hyper: { learningRate: 0, momentum: 0.9 },
      step: 3,
      buffers: [f32([3e38, 1])],
    };
    const s = importOptimizerState(exported, 2);
    if (!s.ok) throw s.error;
    refusesWithoutChange(s.value, f32([0, 0]), [3e38, 0]);
  });

  it('Adam: the second moment overflowing float32 (the parameter itself would stay finite)', () => {
    const s = createOptimizer({ kind: 'adam', learningRate: 0.01 }, 2);
    // 0.001 * (1e21)^2 = 1e39 > 3.4e38
    refusesWithoutChange(s, f32([1, 1]), [0.5, 1e21]);
  });
});

describe('configuration and state validation', () => {
  it('createOptimizer throws OptimizerError for configs it cannot run', () => {
    const bad: [unknown, number][] = [
      [{ kind: 'sgd', learningRate: -0.1, momentum: 0 }, 3],
      [{ kind: 'sgd', learningRate: Number.NaN, momentum: 0 }, 3],
      [{ kind: 'sgd', learningRate: 0.1, momentum: 1 }, 3],
      [{ kind: 'sgd', learningRate: 0.1 }, 3],
      [{ kind: 'adam', learningRate: 0.1, beta1: 1 }, 3],
      [{ kind: 'adam', learningRate: 0.1, beta2: -0.1 }, 3],
      [{ kind: 'adam', learningRate: 0.1, epsilon: 0 }, 3],
      [{ kind: 'rmsprop', learningRate: 0.1 }, 3],
      [{ kind: 'sgd', learningRate: 0.1, momentum: 0 }, -1],
      [{ kind: 'sgd', learningRate: 0.1, momentum: 0 }, 1.5],
    ];
    for (const [cfg, p] of bad) {
      let thrown: unknown;
      try {
        createOptimizer(cfg as OptimizerConfig, p);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(cfg)).toBeInstanceOf(OptimizerError);
      expect((thrown as OptimizerError).code).toBe('bad-config');
    }
  });

  it('setLearningRate refuses a non-finite or negative rate and keeps the old one', () => {
    const s = createOptimizer({ kind: 'adam', learningRate: 0.01 }, 1);
    expect(() => setLearningRate(s, Number.POSITIVE_INFINITY)).toThrow(OptimizerError);
    expect(() => setLearningRate(s, -1)).toThrow(OptimizerError);
    expect(s.learningRate).toBe(0.01);
    setLearningRate(s, 0.001);
    expect(s.learningRate).toBe(0.001);
  });

  it('importOptimizerState refuses wrong kinds, counts, lengths, steps, hypers and NaNs', () => {
    const good = exportOptimizerState(createOptimizer({ kind: 'adam', learningRate: 0.01 }, 3));
    const nan = f32([0, Number.NaN, 0]);
    const cases: unknown[] = [
      { ...good, kind: 'rmsprop' },
      { ...good, kind: 'sgd' }, // adam hyper without momentum
      { ...good, buffers: [good.buffers[0]] },
      { ...good, buffers: [new Float32Array(3), new Float32Array(4)] },
      { ...good, buffers: [new Float32Array(3), nan] },
      { ...good, buffers: [new Float32Array(3), [0, 0, 0]] },
      { ...good, step: -1 },
      { ...good, step: 1.5 },
      { ...good, hyper: { ...good.hyper, beta2: 1 } },
      { ...good, hyper: null },
      null,
    ];
    for (const c of cases) {
      const r = importOptimizerState(c as ExportedOptimizerState, 3);
      expect(r.ok ? 'ok' : r.error.code, JSON.stringify(c)).toBe('bad-state');
    }
    expect(importOptimizerState(good, 4).ok).toBe(false);
    expect(importOptimizerState(good, 3).ok).toBe(true);
  });
});
