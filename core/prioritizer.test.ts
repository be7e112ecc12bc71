import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors';
import {
  accumulate,
  budgetBytes,
  createLinkResidual,
  type LinkResidual,
  planSend,
  type SendPlan,
} from './prioritizer';
import { createTopKScratch } from './top-k';
import { F16_MAX, roundToF16 } from './wire/fp16';
import {
  denseUpdateBytes,
  entriesForBudget,
  sparseUpdateBytesEstimate,
  type ValueType,
  wireBytes,
} from './wire/sizes';

const denseWire = (p: number, vt: ValueType) => wireBytes(denseUpdateBytes(p, vt));
const clampF16 = (v: number) => Math.min(F16_MAX, Math.max(-F16_MAX, v));
/** What the receiver gets for residual value v: the spec, written independently of the code. */
const expectedSent = (v: number, vt: ValueType) => (vt === 'f32' ? v : roundToF16(clampF16(v)));

/** Residual entries and their positions in a plan, as plain arrays. */
function sentEntries(plan: SendPlan, p: number): { index: number; value: number }[] {
  if (plan.kind === 'dense') return Array.from(plan.values, (value, index) => ({ index, value }));
  if (plan.kind === 'sparse') {
    expect(plan.values.length).toBe(plan.indices.length);
    expect(plan.indices.every((i) => i < p)).toBe(true);
    return Array.from(plan.indices, (index, j) => ({ index, value: plan.values[j]! }));
  }
  return [];
}

function filled(link: LinkResidual, values: readonly number[]): LinkResidual {
  const r = accumulate(link, Float32Array.from(values), 1);
  expect(r.ok).toBe(true);
  return link;
}

type Op =
  | { kind: 'acc'; weight: number; gradient: number[] }
  | { kind: 'plan'; budgetShare: number; valueType: ValueType; drained: boolean };

// Gradient entries: zeros, ordinary values, fp16 subnormals, and values beyond F16_MAX.
const gradientEntry = fc.oneof(
  fc.constant(0),
  fc.float({ min: -4, max: 4, noNaN: true }),
  fc.float({ min: Math.fround(-1e-6), max: Math.fround(1e-6), noNaN: true }),
  fc.float({ min: -300_000, max: 300_000, noNaN: true }),
);

const opFor = (p: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({
      kind: fc.constant('acc' as const),
      weight: fc.double({ min: -2, max: 2, noNaN: true }),
      gradient: fc.array(gradientEntry, { minLength: p, maxLength: p }),
    }),
    fc.record({
      kind: fc.constant('plan' as const),
      // Shares of the dense wire size: none, sparse of every size, dense and beyond.
      budgetShare: fc.oneof(fc.double({ min: 0, max: 1.2, noNaN: true }), fc.constant(1)),
      valueType: fc.constantFrom<ValueType>('f32', 'f16'),
      drained: fc.boolean(),
    }),
  );

describe('accumulate', () => {
  it('adds weight x gradient and tracks the added L1 mass', () => {
    const link = createLinkResidual(3);
    expect(accumulate(link, Float32Array.of(1, -2, 0.5), 0.5).ok).toBe(true);
    expect(accumulate(link, Float32Array.of(1, 0, -1), 2).ok).toBe(true);
    expect(Array.from(link.residual)).toEqual([2.5, -1, -1.75]);
    expect(link.addedL1).toBeCloseTo(0.5 + 1 + 0.25 + 2 + 2, 12);
  });

  it('refuses non-finite input, length mismatch and overflow, leaving the residual unchanged', () => {
    const link = filled(createLinkResidual(4), [1, -2, 3, -4]);
    const before = Float32Array.from(link.residual);
    const added = link.addedL1;
    const refused: [Float32Array, number][] = [
      [Float32Array.of(1, 1, 1, Number.NaN), 1],
      [Float32Array.of(1, Number.POSITIVE_INFINITY, 1, 1), 1],
      [Float32Array.of(1, 1, Number.NEGATIVE_INFINITY, 1), 0], // 0 x inf is not finite either
      [Float32Array.of(1, 1, 1, 1), Number.NaN],
      [Float32Array.of(1, 1, 1, 1), Number.POSITIVE_INFINITY],
      [Float32Array.of(1, 1, 1), 1],
      [Float32Array.of(1, 1, 1, 1, 1), 1],
      [Float32Array.of(3e38, 0, 0, 0), 2], // finite, but the float32 residual would overflow
    ];
    for (const [gradient, weight] of refused) {
      const result = accumulate(link, gradient, weight);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toBeInstanceOf(PolicyError);
        expect(result.error.code).toBe('bad-input');
      }
      expect(Array.from(link.residual)).toEqual(Array.from(before));
      expect(link.addedL1).toBe(added);
    }
  });
});

describe('budgetBytes', () => {
  it('is bandwidth x step time, and 0 for non-finite or negative input', () => {
    expect(budgetBytes(1_000_000, 100)).toBe(100_000);
    expect(budgetBytes(12_500, 80)).toBe(1000);
    expect(budgetBytes(0, 100)).toBe(0);
    for (const [bw, t] of [
      [Number.NaN, 100],
      [1e6, Number.NaN],
      [-1, 100],
      [1e6, -5],
      [Number.POSITIVE_INFINITY, 100],
      [1e6, Number.POSITIVE_INFINITY],
    ] as const) {
      expect(budgetBytes(bw, t)).toBe(0);
    }
  });
});

describe('planSend', () => {
  it('conserves mass: everything added = everything sent + residual, per entry', () => {
    const scratch = createTopKScratch();
    const run = fc
      .integer({ min: 1, max: 48 })
      .chain((p) => fc.tuple(fc.constant(p), fc.array(opFor(p), { maxLength: 24 })));
    fc.assert(
      fc.property(run, ([p, ops]) => {
        const link = createLinkResidual(p);
        const added = new Float64Array(p);
        const addedAbs = new Float64Array(p);
        const sent = new Float64Array(p);
        let sentL1 = 0;
        for (const op of ops) {
          if (op.kind === 'acc') {
            const g = Float32Array.from(op.gradient);
            expect(accumulate(link, g, op.weight).ok).toBe(true);
            for (let i = 0; i < p; i++) {
              added[i]! += op.weight * g[i]!;
              addedAbs[i]! += Math.abs(op.weight * g[i]!);
            }
            continue;
          }
          const before = Float32Array.from(link.residual);
          const budget = Math.floor(op.budgetShare * denseWire(p, op.valueType));
          const plan = planSend(
            link,
            { budgetBytes: budget, valueType: op.valueType, drained: op.drained },
            scratch,
          );
          const entries = sentEntries(plan, p);
          if (!op.drained) expect(plan).toEqual({ kind: 'skip', reason: 'not-drained' });
          if (plan.kind === 'skip') expect(link.residual).toEqual(before);
          if (plan.kind === 'sparse') {
            for (let j = 1; j < plan.indices.length; j++) {
              expect(plan.indices[j]!).toBeGreaterThan(plan.indices[j - 1]!);
            }
          }
          if (plan.kind !== 'skip') {
            const message =
              plan.kind === 'dense'
                ? denseUpdateBytes(p, op.valueType)
                : sparseUpdateBytesEstimate(p, entries.length, op.valueType);
            expect(wireBytes(message)).toBeLessThanOrEqual(budget);
            expect(link.lastBytes).toBe(wireBytes(message));
          }
          for (const { index, value } of entries) {
            // + 0 turns -0 into +0: the sign of a zero carries no mass.
            expect(value + 0).toBe(expectedSent(before[index]!, op.valueType) + 0);
            sent[index]! += value;
            sentL1 += Math.abs(value);
          }
        }
        expect(link.sentL1).toBeCloseTo(sentL1, 6);
        for (let i = 0; i < p; i++) {
          // Float32 rounding of each accumulate (and of r - F16_MAX) is the only loss allowed:
          // relative 2^-24, or half the smallest subnormal where the sum underflows.
          const tolerance = (ops.length + 1) * (2 ** -23 * addedAbs[i]! + 2 ** -149);
          expect(Math.abs(added[i]! - (sent[i]! + link.residual[i]!))).toBeLessThanOrEqual(
            tolerance,
          );
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('sends the k largest |r| that fit the budget, never a zero entry, and zeroes them (f32)', () => {
    const scratch = createTopKScratch();
    const input = fc.integer({ min: 2, max: 3000 }).chain((p) =>
      fc.tuple(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -50, max: 50 })), {
          minLength: p,
          maxLength: p,
        }),
        fc.double({ min: 0, max: 1, noNaN: true }),
      ),
    );
    fc.assert(
      fc.property(input, ([values, share]) => {
        const p = values.length;
        const link = filled(createLinkResidual(p), values);
        const before = Float32Array.from(link.residual);
        const budget = Math.floor(share * (denseWire(p, 'f32') - 1));
        const plan = planSend(
          link,
          { budgetBytes: budget, valueType: 'f32', drained: true },
          scratch,
        );
        const allowed = entriesForBudget(p, budget, 'f32');
        const nonZero = values.filter((v) => v !== 0).length;
        if (allowed.kind === 'none') return plan.kind === 'skip' && plan.reason === 'no-budget';
        if (nonZero === 0) return plan.kind === 'skip' && plan.reason === 'empty';
        const maxK = allowed.kind === 'sparse' ? allowed.k : p;
        const chosen = new Set(sentEntries(plan, p).map((e) => e.index));
        expect(chosen.size).toBe(Math.min(maxK, nonZero));
        let smallestSent = Number.POSITIVE_INFINITY;
        let largestKept = 0;
        for (let i = 0; i < p; i++) {
          const m = Math.abs(before[i]!);
          if (chosen.has(i)) {
            smallestSent = Math.min(smallestSent, m);
            expect(link.residual[i]).toBe(0);
          } else {
            largestKept = Math.max(largestKept, m);
            expect(link.residual[i]).toBe(before[i]);
          }
        }
        expect(smallestSent).toBeGreaterThan(0);
        expect(smallestSent).toBeGreaterThanOrEqual(largestKept);
        return true;
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('reports the share of the residual mass sent', () => {
    const p = 1000;
    const values = new Array<number>(p).fill(0.25);
    values[500] = -100;
    const link = filled(createLinkResidual(p), values);
    const budget = wireBytes(sparseUpdateBytesEstimate(p, 3, 'f32'));
    const allowed = entriesForBudget(p, budget, 'f32');
    expect(allowed.kind).toBe('sparse');
    const k = allowed.kind === 'sparse' ? allowed.k : 0;
    const plan = planSend(link, { budgetBytes: budget, valueType: 'f32', drained: true });
    expect(plan.kind).toBe('sparse');
    expect(link.sentFraction).toBeCloseTo((100 + (k - 1) * 0.25) / (100 + 999 * 0.25), 9);
    planSend(link, { budgetBytes: 0, valueType: 'f32', drained: true });
    expect(link.sentFraction).toBe(0);
    planSend(link, { budgetBytes: denseWire(p, 'f32'), valueType: 'f32', drained: true });
    expect(link.sentFraction).toBe(1);
    expect(link.sentL1).toBeCloseTo(link.addedL1, 9);
  });

  for (const valueType of ['f32', 'f16'] as const) {
    it(`falls back to dense exactly at the dense wire size (${valueType})`, () => {
      const p = 4096;
      const values = Array.from({ length: p }, (_, i) => ((i * 37) % 101) - 50.5);
      const dense = denseWire(p, valueType);

      const atBreakEven = filled(createLinkResidual(p), values);
      const plan = planSend(atBreakEven, { budgetBytes: dense, valueType, drained: true });
      expect(plan.kind).toBe('dense');
      if (plan.kind === 'dense') expect(plan.values.length).toBe(p);
      expect(atBreakEven.lastBytes).toBe(dense);

      const below = filled(createLinkResidual(p), values);
      const sparse = planSend(below, { budgetBytes: dense - 1, valueType, drained: true });
      expect(sparse.kind).toBe('sparse');
      if (sparse.kind === 'sparse') {
        expect(sparse.indices.length).toBeLessThan(p);
        expect(sparse.indices.length).toBeGreaterThan(p / 2);
        const bytes = wireBytes(sparseUpdateBytesEstimate(p, sparse.indices.length, valueType));
        expect(bytes).toBeLessThan(dense);
      }
    });
  }

  it('empties an f32 residual with a dense budget, and skips an empty one', () => {
    const link = filled(createLinkResidual(5), [1, -2, 3, -4, 5]);
    const plan = planSend(link, { budgetBytes: 1e9, valueType: 'f32', drained: true });
    expect(plan).toEqual({ kind: 'dense', values: Float32Array.of(1, -2, 3, -4, 5) });
    expect(Array.from(link.residual)).toEqual([0, 0, 0, 0, 0]);
    expect(planSend(link, { budgetBytes: 1e9, valueType: 'f32', drained: true })).toEqual({
      kind: 'skip',
      reason: 'empty',
    });
    expect(link.sends).toBe(1);
    expect(link.skips).toBe(1);
  });

  it('sends only the non-zero entries when that is smaller than dense', () => {
    const p = 10_000;
    const values = new Array<number>(p).fill(0);
    values[3] = 2;
    values[9000] = -1;
    const link = filled(createLinkResidual(p), values);
    const plan = planSend(link, { budgetBytes: 1e9, valueType: 'f32', drained: true });
    expect(plan).toEqual({
      kind: 'sparse',
      indices: Uint32Array.of(3, 9000),
      values: Float32Array.of(2, -1),
    });
    expect(link.residual.every((v) => v === 0)).toBe(true);
  });

  it('skips a link that has not drained and keeps accumulating into its residual', () => {
    const link = createLinkResidual(3);
    accumulate(link, Float32Array.of(1, 2, 3), 1);
    const opts = { budgetBytes: 1e9, valueType: 'f32' as const, drained: false };
    expect(planSend(link, opts)).toEqual({ kind: 'skip', reason: 'not-drained' });
    accumulate(link, Float32Array.of(10, 20, 30), 0.5);
    expect(planSend(link, opts)).toEqual({ kind: 'skip', reason: 'not-drained' });
    expect(Array.from(link.residual)).toEqual([6, 12, 18]);
    expect(planSend(link, { ...opts, drained: true })).toEqual({
      kind: 'dense',
      values: Float32Array.of(6, 12, 18),
    });
  });

  it('skips with no budget and keeps the residual', () => {
    const link = filled(createLinkResidual(3), [1, 2, 3]);
    for (const budget of [0, -10, Number.NaN, 20]) {
      expect(planSend(link, { budgetBytes: budget, valueType: 'f32', drained: true })).toEqual({
        kind: 'skip',
        reason: 'no-budget',
      });
    }
    expect(Array.from(link.residual)).toEqual([1, 2, 3]);
  });

  it('f16: never sends beyond F16_MAX, keeps the excess and the rounding error in the residual', () => {
    const link = filled(createLinkResidual(3), [100_000, -70_000, 1 + 2 ** -12]);
    const dense = { budgetBytes: 1e9, valueType: 'f16' as const, drained: true };
    const first = planSend(link, dense);
    expect(first).toEqual({ kind: 'dense', values: Float32Array.of(F16_MAX, -F16_MAX, 1) });
    expect(Array.from(link.residual)).toEqual([100_000 - F16_MAX, -70_000 + F16_MAX, 2 ** -12]);
    const second = planSend(link, dense);
    // 34496 is a multiple of 32, exact in fp16; -4496 too; 2^-12 is a normal half.
    expect(second).toEqual({
      kind: 'dense',
      values: Float32Array.of(100_000 - F16_MAX, -70_000 + F16_MAX, 2 ** -12),
    });
    expect(Array.from(link.residual)).toEqual([0, 0, 0]);
  });

  it('f16: transmits roundToF16 of the clamped value for every float32 magnitude', () => {
    const anyFloat = fc.float({
      noNaN: true,
      noDefaultInfinity: true,
      min: Math.fround(-3e38),
      max: Math.fround(3e38),
    });
    const magnitudes = fc.oneof(
      anyFloat,
      fc.float({ min: Math.fround(-1e-4), max: Math.fround(1e-4), noNaN: true }),
      fc.float({ min: 60_000, max: 70_000, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(magnitudes, { minLength: 1, maxLength: 64 }), (values) => {
        const link = filled(createLinkResidual(values.length), values);
        const before = Float32Array.from(link.residual);
        const plan = planSend(link, { budgetBytes: 1e9, valueType: 'f16', drained: true });
        for (const { index, value } of sentEntries(plan, values.length)) {
          const want = roundToF16(clampF16(before[index]!));
          if (value !== want) return false;
          if (Math.fround(before[index]! - value) !== link.residual[index]) return false;
        }
        return true;
      }),
      { seed: 11, numRuns: 500 },
    );
    // Ties to even on both sides of the subnormal/normal boundary.
    const link = filled(createLinkResidual(4), [
      2 ** -25,
      3 * 2 ** -25,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ]);
    const plan = planSend(link, { budgetBytes: 1e9, valueType: 'f16', drained: true });
    expect(plan).toEqual({
      kind: 'dense',
      values: Float32Array.of(0, 2 ** -23, 1, 1 + 2 ** -9),
    });
  });
});
