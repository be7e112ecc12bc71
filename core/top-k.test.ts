import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTopKScratch, selectTopK } from './top-k';

/** The specification, by full sort: |v| descending, index ascending, take k, indices ascending. */
function referenceTopK(values: Float32Array, k: number): number[] {
  const order = Array.from(values.keys());
  order.sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b);
  return order.slice(0, Math.max(0, k)).sort((a, b) => a - b);
}

// Few distinct magnitudes (many ties), zeros of both signs, negatives, and wide exponent ranges.
const entry = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 2 ** -126, -(2 ** -149), 3.4e38, -3.4e38),
  fc.integer({ min: -4, max: 4 }),
  fc.float({ noNaN: true, noDefaultInfinity: true }),
);

describe('selectTopK', () => {
  /** Arrays up to `maxLength` long and a k from just below 0 to just above the length. */
  const arrayAndK = (maxLength: number) =>
    fc
      .array(entry, { maxLength, size: 'max' })
      .chain((raw) =>
        fc.tuple(fc.constant(raw), fc.integer({ min: -2, max: raw.length + 2 }), fc.boolean()),
      );
  const scratch = createTopKScratch(4);
  const matchesReference = ([raw, k, useScratch]: [number[], number, boolean]) => {
    const values = Float32Array.from(raw);
    const got = Array.from(selectTopK(values, k, useScratch ? scratch : undefined));
    const want = referenceTopK(values, k);
    // A boolean, not expect(): diffing long arrays on every shrink step is slow.
    return got.length === want.length && got.every((g, i) => g === want[i]);
  };

  it('equals the sort-based reference on short arrays with ties, zeros and negatives', () => {
    fc.assert(fc.property(arrayAndK(40), matchesReference), { seed: 42, numRuns: 2000 });
  });

  it('equals the sort-based reference on arrays up to 5000 long', () => {
    // No shrinking here: shrinking 5000-entry arrays takes minutes; the short test shrinks.
    fc.assert(fc.property(arrayAndK(5000), matchesReference), {
      seed: 43,
      numRuns: 200,
      endOnFailure: true,
    });
  });

  it('handles the edges: k <= 0, k >= length, empty input, all equal', () => {
    const v = Float32Array.of(3, -1, 2);
    expect(Array.from(selectTopK(v, 0))).toEqual([]);
    expect(Array.from(selectTopK(v, -5))).toEqual([]);
    expect(Array.from(selectTopK(v, 3))).toEqual([0, 1, 2]);
    expect(Array.from(selectTopK(v, 10))).toEqual([0, 1, 2]);
    expect(Array.from(selectTopK(new Float32Array(0), 3))).toEqual([]);
    // Ties at the threshold: lowest indices win, wherever the larger entries sit.
    expect(Array.from(selectTopK(new Float32Array(10).fill(-7), 4))).toEqual([0, 1, 2, 3]);
    expect(Array.from(selectTopK(Float32Array.of(1, 1, 9, 1, 1), 3))).toEqual([0, 1, 2]);
    expect(Array.from(selectTopK(Float32Array.of(1, -0, 0, -1, 0), 3))).toEqual([0, 1, 3]);
  });

  it('reads a subarray view in place (byteOffset respected)', () => {
    const base = Float32Array.of(100, 100, 1, -5, 3, 100);
    const view = base.subarray(2, 5);
    expect(Array.from(selectTopK(view, 2))).toEqual([1, 2]);
    expect(Array.from(base)).toEqual([100, 100, 1, -5, 3, 100]);
  });

  it('breaks ties within one radix bucket on the lowest bits exactly', () => {
    // Neighbouring floats share the top 21 bits and differ only in the last digit.
    const x = 1.5;
    const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
    const words = Uint32Array.of(bits, bits + 1, bits + 2, bits + 1, bits, bits + 2);
    const values = new Float32Array(words.buffer);
    expect(Array.from(selectTopK(values, 3))).toEqual([1, 2, 5]);
    expect(Array.from(selectTopK(values, 4))).toEqual([1, 2, 3, 5]);
  });

  it('matches the reference threshold count on 2M random values', () => {
    const n = 2_000_000;
    const values = new Float32Array(n);
    let state = 7;
    const next = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    // Gradient-like: many magnitudes over several octaves, a block of exact duplicates.
    for (let i = 0; i < n; i++) values[i] = (next() - 0.5) * 2 ** Math.floor(next() * 12 - 20);
    values.fill(0.25, 1000, 3000);
    const sortedMagnitudes = Float32Array.from(values, Math.abs).sort();
    const scratch = createTopKScratch(1024);
    for (const k of [1, 1000, 20_000, 200_000, 1_999_999]) {
      const got = selectTopK(values, k, scratch);
      const threshold = sortedMagnitudes[n - k]!;
      let greater = 0;
      let equal = 0;
      let ascending = true;
      for (let i = 0; i < got.length; i++) {
        if (i > 0 && got[i]! <= got[i - 1]!) ascending = false;
        const m = Math.abs(values[got[i]!]!);
        if (m > threshold) greater++;
        else if (m === threshold) equal++;
      }
      expect(got.length).toBe(k);
      expect(ascending).toBe(true);
      // Every entry strictly above the k-th magnitude is taken; the rest are ties with it.
      let above = 0;
      for (let i = n - 1; i >= 0 && sortedMagnitudes[i]! > threshold; i--) above++;
      expect(greater).toBe(above);
      expect(greater + equal).toBe(k);
    }
  });
});
