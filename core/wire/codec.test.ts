import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError } from '../errors';
import { mulberry32 as rng } from '../random';
import { absorbBytes, createChecksum, finishChecksum } from './checksum';
import {
  addPayloadInto,
  decodeMessage,
  encodeControl,
  encodeParams,
  encodeProbe,
  encodeUpdate,
  type UpdateMeta,
  type UpdatePayload,
  type WireMessage,
} from './codec';
import { roundToF16 } from './fp16';
import { chunkMessage, createReassembler, decodeFrame, pushChunk } from './frames';
import {
  bitmapUpdateBytes,
  denseUpdateBytes,
  entriesForBudget,
  FRAME_HEADER_BYTES,
  MAX_CHUNK_BYTES,
  MAX_CONTROL_TEXT_BYTES,
  MAX_PROBE_BYTES,
  MIN_CHUNK_BYTES,
  maxMessageBytes,
  rangeUpdateBytes,
  type ValueType,
  wireBytes,
} from './sizes';

function randomValues(n: number, rand: () => number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rand() - 0.5) * 2 ** Math.floor(rand() * 20 - 14);
  return v;
}

/** k distinct ascending indices in [0, P). */
function randomIndices(P: number, k: number, rand: () => number): Uint32Array {
  const picked = new Uint8Array(P);
  let left = k;
  // Selection sampling (Knuth's algorithm S): one pass, exactly k, already sorted.
  const out = new Uint32Array(k);
  for (let i = 0; i < P && left > 0; i++) {
    if (rand() * (P - i) < left) {
      picked[i] = 1;
      out[k - left] = i;
      left--;
    }
  }
  return out;
}

const meta = (P: number, valueType: ValueType, step = 7): UpdateMeta => ({
  step,
  batchSize: 32,
  capacity: 812.5,
  weight: 0.25,
  paramCount: P,
  valueType,
});

const expected = (values: Float32Array, valueType: ValueType): Float32Array =>
  valueType === 'f32' ? values : values.map(roundToF16);

/** Bit-exact comparison of float arrays; toEqual walks 2M elements far too slowly. */
function expectSameFloats(actual: Float32Array, wanted: Float32Array): void {
  expect(actual.length).toBe(wanted.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(wanted.buffer, wanted.byteOffset, wanted.length);
  let firstDiff = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      firstDiff = i;
      break;
    }
  }
  expect(firstDiff).toBe(-1);
}

/** Decodes and fails the test with the codec's message if the decoder refused. */
function mustDecode(bytes: Uint8Array): WireMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
  return r.value;
}

/** Recomputes the checksum of a message we altered on purpose, to reach the field checks. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const s = createChecksum();
  absorbBytes(s, bytes, 0, 8);
  absorbBytes(s, bytes, 12, bytes.length);
  view.setUint32(8, finishChecksum(s), true);
  return bytes;
}

function expectRefused(bytes: Uint8Array, code?: CodecError['code']): void {
  let r: ReturnType<typeof decodeMessage> | undefined;
  expect(() => {
    r = decodeMessage(bytes);
  }).not.toThrow();
  expect(r?.ok).toBe(false);
  if (r && !r.ok) {
    expect(r.error).toBeInstanceOf(CodecError);
    if (code) expect(r.error.code).toBe(code);
  }
}

/**
 * Sends a message through frames (in chunks of a random size the sender may pick) in a
 * shuffled order and returns the reassembled bytes.
 */
function throughFrames(message: Uint8Array, rand: () => number): Uint8Array {
  const chunk = MIN_CHUNK_BYTES + Math.floor(rand() * (MAX_CHUNK_BYTES - MIN_CHUNK_BYTES + 1));
  const frames = chunkMessage(123, message, rand() < 0.5 ? chunk : MAX_CHUNK_BYTES);
  for (let i = frames.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [frames[i], frames[j]] = [frames[j]!, frames[i]!];
  }
  const r = createReassembler();
  let out: Uint8Array | undefined;
  for (const f of frames) {
    // A data channel delivers its own copy of each frame.
    const d = decodeFrame(f.slice());
    if (!d.ok || d.value.kind !== 'chunk') throw new Error('frame refused');
    const p = pushChunk(r, d.value, 0);
    if (!p.ok) throw new Error(p.error.message);
    if (p.value) out = p.value.bytes;
  }
  if (!out) throw new Error('message never completed');
  return out;
}

const sizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 5000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 5001, max: 300_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 300_001, max: 2_000_000 }) },
);
const valueTypeArb = fc.constantFrom<ValueType>('f32', 'f16');

describe('update round trip', () => {
  it('dense updates of 1 .. 2M entries survive encode -> frames -> decode in both value types', () => {
    fc.assert(
      fc.property(sizeArb, valueTypeArb, fc.integer(), (P, vt, seed) => {
        const rand = rng(seed);
        const values = randomValues(P, rand);
        const bytes = encodeUpdate(meta(P, vt), { encoding: 'dense', values });
        expect(bytes.length).toBe(denseUpdateBytes(P, vt));
        const msg = mustDecode(throughFrames(bytes, rand));
        expect(msg.type).toBe('update');
        if (msg.type !== 'update' || msg.payload.encoding !== 'dense') return;
        expect(msg.meta).toEqual(meta(P, vt));
        expectSameFloats(msg.payload.values, expected(values, vt));
      }),
      { seed: 1, numRuns: 40 },
    );
  });

  it('sparse updates of any density round-trip, coded as varint or bitmap, whichever is smaller', () => {
    fc.assert(
      fc.property(
        sizeArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        valueTypeArb,
        fc.integer(),
        (P, density, vt, seed) => {
          const rand = rng(seed);
          const k = Math.min(P, Math.floor(P * density ** 3));
          const indices = randomIndices(P, k, rand);
          const values = randomValues(k, rand);
          const bytes = encodeUpdate(meta(P, vt), { encoding: 'sparse', indices, values });
          expect(bytes.length).toBeLessThanOrEqual(bitmapUpdateBytes(P, k, vt));
          const msg = mustDecode(throughFrames(bytes, rand));
          if (msg.type !== 'update' || msg.payload.encoding !== 'sparse')
            throw new Error('wrong kind');
          expect(msg.payload.indices.length).toBe(indices.length);
          expect(
            Buffer.from(
              msg.payload.indices.buffer,
              msg.payload.indices.byteOffset,
              msg.payload.indices.byteLength,
            ).equals(Buffer.from(indices.buffer)),
          ).toBe(true);
          expectSameFloats(msg.payload.values, expected(values, vt));
          expect(['sparse-varint', 'sparse-bitmap']).toContain(msg.wireEncoding);
        },
      ),
      { seed: 2, numRuns: 60 },
    );
  });

  it('range updates round-trip and use the documented size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        valueTypeArb,
        fc.integer(),
        (P, vt, seed) => {
          const rand = rng(seed);
          const start = Math.floor(rand() * P);
          const n = Math.floor(rand() * (P - start + 1));
          const values = randomValues(n, rand);
          const bytes = encodeUpdate(meta(P, vt), { encoding: 'range', start, values });
          expect(bytes.length).toBe(rangeUpdateBytes(n, vt));
          const msg = mustDecode(bytes);
          if (msg.type !== 'update' || msg.payload.encoding !== 'range')
            throw new Error('wrong kind');
          expect(msg.payload.start).toBe(start);
          expectSameFloats(msg.payload.values, expected(values, vt));
        },
      ),
      { seed: 3, numRuns: 40 },
    );
  });

  it('params and control messages round-trip', () => {
    const values = randomValues(70_000, rng(4));
    const msg = mustDecode(
      throughFrames(
        encodeParams({ step: 9, modelFingerprint: 0xdeadbeef, loss: 0.5, values }),
        rng(5),
      ),
    );
    expect(msg).toEqual({
      type: 'params',
      step: 9,
      modelFingerprint: 0xdeadbeef,
      loss: 0.5,
      values,
    });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        expect(mustDecode(encodeControl(text))).toEqual({ type: 'control', text });
      }),
      { seed: 6, numRuns: 300 },
    );
  });

  it('refuses a control text over its limit before decoding it; the limit itself passes', () => {
    const atLimit = 'x'.repeat(MAX_CONTROL_TEXT_BYTES);
    expect(mustDecode(encodeControl(atLimit))).toEqual({ type: 'control', text: atLimit });
    const over = decodeMessage(encodeControl('x'.repeat(MAX_CONTROL_TEXT_BYTES + 1)));
    expect(over.ok || over.error.code).toBe('too-large');
    // A header that claims a huge text is refused on the claim alone, whatever follows.
    const forged = encodeControl('{}');
    new DataView(forged.buffer).setUint32(12, 0x7fff_ffff, true);
    const claimed = decodeMessage(forged);
    expect(claimed.ok || claimed.error.code).toBe('too-large');
  });

  it('probes: any size up to the limit round-trips as its length; a non-zero filler does not', () => {
    for (const n of [0, 12, 13, 5000, MAX_PROBE_BYTES, MAX_PROBE_BYTES + 100]) {
      const probe = encodeProbe(n);
      expect(probe.length % 4).toBe(0);
      expect(probe.length).toBeLessThanOrEqual(MAX_PROBE_BYTES);
      expect(mustDecode(probe)).toEqual({ type: 'probe', byteLength: probe.length });
    }
    const dirty = encodeProbe(64);
    dirty[40] = 1;
    expectRefused(dirty); // the checksum catches it first
  });

  it('encoding into a reused buffer gives the same bytes as a fresh one', () => {
    const rand = rng(8);
    const out = new Uint8Array(1 << 20);
    out.fill(0xa5);
    for (const [P, k, vt] of [
      [100_000, 90_000, 'f32'],
      [100_000, 40, 'f16'],
      [50_000, 30_000, 'f32'],
      [7, 3, 'f16'],
    ] as const) {
      const indices = randomIndices(P, k, rand);
      const values = randomValues(k, rand);
      const fresh = encodeUpdate(meta(P, vt), { encoding: 'sparse', indices, values });
      const reused = encodeUpdate(meta(P, vt), { encoding: 'sparse', indices, values }, out);
      expect(reused.buffer).toBe(out.buffer);
      expect(Buffer.from(reused).equals(Buffer.from(fresh))).toBe(true);
    }
    const params = randomValues(1000, rand);
    const fresh = encodeParams({ step: 1, modelFingerprint: 2, loss: 3, values: params });
    expect(
      Buffer.from(
        encodeParams({ step: 1, modelFingerprint: 2, loss: 3, values: params }, out),
      ).equals(Buffer.from(fresh)),
    ).toBe(true);
  });

  it('addPayloadInto adds every coding at the right indices', () => {
    const target = new Float32Array(6);
    addPayloadInto(target, { encoding: 'dense', values: Float32Array.of(1, 1, 1, 1, 1, 1) });
    addPayloadInto(target, {
      encoding: 'sparse',
      indices: Uint32Array.of(0, 5),
      values: Float32Array.of(2, 3),
    });
    addPayloadInto(target, { encoding: 'range', start: 2, values: Float32Array.of(10, 20) });
    expect([...target]).toEqual([3, 1, 11, 21, 1, 4]);
  });
});

describe('bad input is refused with a CodecError and nothing else', () => {
  const samples = (): Uint8Array[] => {
    const rand = rng(11);
    const P = 3000;
    return [
      encodeUpdate(meta(P, 'f32'), { encoding: 'dense', values: randomValues(P, rand) }),
      encodeUpdate(meta(P, 'f16'), { encoding: 'dense', values: randomValues(P, rand) }),
      encodeUpdate(meta(P, 'f32'), {
        encoding: 'sparse',
        indices: randomIndices(P, 30, rand),
        values: randomValues(30, rand),
      }),
      encodeUpdate(meta(P, 'f16'), {
        encoding: 'sparse',
        indices: randomIndices(P, 2000, rand),
        values: randomValues(2000, rand),
      }),
      encodeUpdate(meta(P, 'f32'), {
        encoding: 'range',
        start: 100,
        values: randomValues(50, rand),
      }),
      encodeParams({ step: 1, modelFingerprint: 1, loss: 2, values: randomValues(500, rand) }),
      encodeControl('{"type":"mesh/ping","id":1,"t":2}'),
    ];
  };

  it('every truncation is refused', () => {
    for (const bytes of samples()) {
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 400))) {
        expectRefused(bytes.slice(0, cut));
      }
    }
  });

  it('every extension is refused', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples()),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        (bytes, extra) => {
          const longer = new Uint8Array(bytes.length + extra.length);
          longer.set(bytes);
          longer.set(extra, bytes.length);
          expectRefused(longer);
        },
      ),
      { seed: 12, numRuns: 300 },
    );
  });

  it('every single-bit flip is refused', () => {
    for (const bytes of samples()) {
      for (let bit = 0; bit < bytes.length * 8; bit += bytes.length > 2000 ? 13 : 1) {
        const flipped = bytes.slice();
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expectRefused(flipped);
      }
    }
  });

  it('random buffers are refused and never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => expectRefused(bytes)),
      { seed: 13, numRuns: 2000 },
    );
    // Random bodies behind a plausible header (right type, version and length) still fail.
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3),
        fc.uint8Array({ minLength: 40, maxLength: 2048 }),
        (type, body) => {
          const bytes = new Uint8Array(body.length & ~3);
          bytes.set(body.subarray(0, bytes.length));
          const view = new DataView(bytes.buffer);
          view.setUint8(0, type);
          view.setUint8(1, 1);
          view.setUint16(2, 0, true);
          view.setUint32(4, bytes.length, true);
          expectRefused(reseal(bytes));
        },
      ),
      { seed: 14, numRuns: 2000 },
    );
  });

  it('refuses out-of-range indices and non-finite values at both ends', () => {
    const P = 100;
    expect(() =>
      encodeUpdate(meta(P, 'f32'), {
        encoding: 'sparse',
        indices: Uint32Array.of(3, 100),
        values: Float32Array.of(1, 2),
      }),
    ).toThrow(CodecError);
    expect(() =>
      encodeUpdate(meta(P, 'f32'), {
        encoding: 'sparse',
        indices: Uint32Array.of(5, 5),
        values: Float32Array.of(1, 2),
      }),
    ).toThrow(CodecError);
    expect(() =>
      encodeUpdate(meta(P, 'f32'), { encoding: 'range', start: 90, values: new Float32Array(11) }),
    ).toThrow(CodecError);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const vt of ['f32', 'f16'] as const) {
        const values = new Float32Array(P);
        values[42] = bad;
        expect(() => encodeUpdate(meta(P, vt), { encoding: 'dense', values })).toThrow(CodecError);
      }
      expect(() =>
        encodeParams({ step: 0, modelFingerprint: 0, loss: 0, values: Float32Array.of(1, bad) }),
      ).toThrow(CodecError);
    }
    expect(() =>
      encodeUpdate(meta(P, 'f16'), { encoding: 'range', start: 0, values: Float32Array.of(1e6) }),
    ).toThrow(expect.objectContaining({ code: 'fp16-overflow' }));

    // A sender that computes a valid checksum over bad content is still refused.
    const dense = encodeUpdate(meta(P, 'f32'), { encoding: 'dense', values: new Float32Array(P) });
    new DataView(dense.buffer).setFloat32(48 + 4 * 42, Number.NaN, true);
    expectRefused(reseal(dense), 'non-finite');
    const half = encodeUpdate(meta(P, 'f16'), { encoding: 'dense', values: new Float32Array(P) });
    new DataView(half.buffer).setUint16(48 + 2 * 7, 0x7c00, true);
    expectRefused(reseal(half), 'non-finite');
    const sparse = encodeUpdate(meta(P, 'f32'), {
      encoding: 'sparse',
      indices: Uint32Array.of(1, 99),
      values: Float32Array.of(1, 2),
    });
    expect(sparse[49]).toBe(97); // second gap: 99 - 1 - 1
    sparse[49] = 98; // 1 + 1 + 98 = index 100: out of range
    expectRefused(reseal(sparse), 'bad-index');
    const range = encodeUpdate(meta(P, 'f32'), {
      encoding: 'range',
      start: 10,
      values: new Float32Array(5),
    });
    new DataView(range.buffer).setUint32(48, 96, true);
    expectRefused(reseal(range), 'bad-index');
    const bitmapBytes = encodeUpdate(meta(13, 'f32'), {
      encoding: 'sparse',
      indices: Uint32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8),
      values: new Float32Array(9),
    });
    bitmapBytes[49]! |= 0x80; // bit 15 >= P = 13
    expectRefused(reseal(bitmapBytes), 'bad-index');
  });

  it('refuses, at once, u32 length fields near 2^31 and 2^32 that a careless pad would wrap', () => {
    // Length fields whose padded size wraps in int32 arithmetic must not alias a short buffer.
    const control = encodeControl('');
    new DataView(control.buffer).setUint32(12, 0xffff_fffd, true);
    // Refused on the claim alone: over the control text limit, before any pad is computed.
    expectRefused(reseal(control), 'too-large');
    for (const n of [2 ** 30 + 1, 2 ** 31 - 1, 2 ** 32 - 1]) {
      const dense = new Uint8Array(52);
      const view = new DataView(dense.buffer);
      view.setUint8(0, 1);
      view.setUint8(1, 1);
      view.setUint32(4, dense.length, true);
      view.setUint32(28, n, true);
      view.setUint32(32, n, true);
      expectRefused(reseal(dense), 'truncated');
    }
    // A varint index section of 2^32 - 3 bytes: read as one that ends at the values, the
    // decoder would walk ~2^32 bytes past the buffer.
    const sparse = encodeUpdate(meta(1000, 'f32'), {
      encoding: 'sparse',
      indices: Uint32Array.of(5),
      values: Float32Array.of(1),
    });
    const crafted = new Uint8Array(52);
    crafted.set(sparse.subarray(0, 48));
    const view = new DataView(crafted.buffer);
    view.setUint32(4, crafted.length, true);
    view.setUint32(40, 0xffff_fffd, true);
    crafted.set([0xff, 0xff, 0xff, 0x8f], 48);
    const started = performance.now();
    expectRefused(reseal(crafted), 'truncated');
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('refuses each field a checksum-correct sender gets wrong, one check at a time', () => {
    const P = 100;
    const update = (
      payload: UpdatePayload,
      valueType: ValueType = 'f32',
    ): { bytes: Uint8Array; view: DataView } => {
      const bytes = encodeUpdate(meta(P, valueType), payload);
      return { bytes, view: new DataView(bytes.buffer) };
    };
    const one: UpdatePayload = {
      encoding: 'sparse',
      indices: Uint32Array.of(5),
      values: Float32Array.of(1),
    };

    for (const [offset, value, code] of [
      [20, -1, 'bad-field'],
      [20, Number.NaN, 'bad-field'],
      [24, 1.5, 'bad-field'],
      [24, Number.POSITIVE_INFINITY, 'bad-field'],
    ] as const) {
      const { bytes, view } = update(one);
      view.setFloat32(offset, value, true);
      expectRefused(reseal(bytes), code);
    }
    for (const offset of [2, 38, 44]) {
      const { bytes } = update(one);
      bytes[offset] = 1;
      expectRefused(reseal(bytes), 'bad-field');
    }
    // Index section: a non-zero pad byte, an overlong varint, bytes after the last index.
    const padded = update(one);
    padded.bytes[49] = 1;
    expectRefused(reseal(padded.bytes), 'bad-field');
    const overlong = update(one);
    overlong.bytes.set([0x85, 0x00], 48);
    overlong.view.setUint32(40, 2, true);
    expectRefused(reseal(overlong.bytes), 'bad-index');
    const trailing = update(one);
    trailing.view.setUint32(40, 3, true);
    expectRefused(reseal(trailing.bytes), 'extended');
    // Bitmap with fewer bits set than the header's count (decoded, it would repeat index 0).
    const dense80 = Uint32Array.from({ length: 80 }, (_, i) => i);
    const bitmap = update({ encoding: 'sparse', indices: dense80, values: new Float32Array(80) });
    expect(bitmap.view.getUint8(36)).toBe(2);
    bitmap.bytes[48 + 9]! &= 0x7f; // clears index 79
    expectRefused(reseal(bitmap.bytes), 'bad-field');
    // f16 values of odd count end in two pad bytes.
    const half = update({ encoding: 'range', start: 0, values: Float32Array.of(1, 2, 3) }, 'f16');
    half.bytes[half.bytes.length - 1] = 1;
    expectRefused(reseal(half.bytes), 'bad-field');

    const params = encodeParams({
      step: 1,
      modelFingerprint: 2,
      loss: 3,
      values: new Float32Array(4),
    });
    const pv = new DataView(params.buffer);
    pv.setFloat32(24, Number.NaN, true);
    expectRefused(reseal(params), 'non-finite');
    pv.setFloat32(24, 3, true);
    pv.setUint32(28, 1, true);
    expectRefused(reseal(params), 'bad-field');

    const control = encodeControl('a');
    control[17] = 1; // text padding
    expectRefused(reseal(control), 'bad-field');
    // Ill-formed UTF-8: overlong forms, a surrogate code point, a truncated sequence.
    for (const text of [
      [0xc0, 0x80],
      [0xe0, 0x9f, 0xbf],
      [0xf0, 0x8f, 0xbf, 0xbf],
      [0xed, 0xa0, 0x80],
      [0x61, 0xe2, 0x82],
    ]) {
      const bad = encodeControl('x'.repeat(text.length));
      bad.set(text, 16);
      expectRefused(reseal(bad), 'bad-json');
    }
  });

  it('frames: corrupt headers are refused at the frame, corrupt payloads at the message', () => {
    const rand = rng(21);
    const message = encodeUpdate(meta(40_000, 'f32'), {
      encoding: 'dense',
      values: randomValues(40_000, rand),
    });
    const frames = chunkMessage(5, message);
    expect(frames.length).toBe(3);
    expect(frames.reduce((s, f) => s + f.length, 0)).toBe(wireBytes(message.length));
    for (let bit = 0; bit < FRAME_HEADER_BYTES * 8; bit++) {
      const f = frames[1]!.slice();
      f[bit >> 3]! ^= 1 << (bit & 7);
      const d = decodeFrame(f);
      expect(d.ok).toBe(false);
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: frames.length - 1 }), fc.nat(), (which, pos) => {
        const copy = frames.map((f) => f.slice());
        const f = copy[which]!;
        const bit = FRAME_HEADER_BYTES * 8 + (pos % ((f.length - FRAME_HEADER_BYTES) * 8));
        f[bit >> 3]! ^= 1 << (bit & 7);
        const r = createReassembler();
        let out: Uint8Array | undefined;
        for (const frame of copy) {
          const d = decodeFrame(frame);
          if (!d.ok || d.value.kind !== 'chunk')
            throw new Error('payload flips must pass the frame header check');
          const p = pushChunk(r, d.value, 0);
          if (p.ok && p.value) out = p.value.bytes;
        }
        expect(out).toBeDefined();
        if (out) expectRefused(out);
      }),
      { seed: 22, numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), (bytes) => {
        const d = decodeFrame(bytes);
        expect(d.ok).toBe(false);
      }),
      { seed: 23, numRuns: 300 },
    );
  });

  it('reassembly refuses duplicates, disagreeing lengths and oversized messages, and bounds its memory', () => {
    const message = encodeUpdate(meta(40_000, 'f32'), {
      encoding: 'dense',
      values: new Float32Array(40_000),
    });
    const chunks = chunkMessage(9, message).map((f) => {
      const d = decodeFrame(f);
      if (!d.ok || d.value.kind !== 'chunk') throw new Error('bad frame');
      return d.value;
    });
    const r = createReassembler({ maxMessageBytes: 1 << 20, maxPending: 2 });
    expect(pushChunk(r, chunks[0]!, 0)).toEqual({ ok: true, value: undefined });
    const dup = pushChunk(r, chunks[0]!, 0);
    expect(dup.ok || dup.error.code).toBe('duplicate-chunk');
    const other = chunkMessage(9, new Uint8Array(200_000));
    const d = decodeFrame(other[0]!);
    if (!d.ok || d.value.kind !== 'chunk') throw new Error('bad frame');
    const disagree = pushChunk(r, d.value, 0);
    expect(disagree.ok || disagree.error.code).toBe('bad-field');
    expect(r.pending.size).toBe(0);
    // The same length cut into other chunk sizes is refused too: the offsets would not agree.
    expect(pushChunk(r, chunks[0]!, 0)).toEqual({ ok: true, value: undefined });
    const recut = decodeFrame(chunkMessage(9, message, 4096)[1]!);
    if (!recut.ok || recut.value.kind !== 'chunk') throw new Error('bad frame');
    const other2 = pushChunk(r, recut.value, 0);
    expect(other2.ok || other2.error.code).toBe('bad-field');
    expect(r.pending.size).toBe(0);
    const small = createReassembler({ maxMessageBytes: 100_000 });
    const big = pushChunk(small, d.value, 0);
    expect(big.ok || big.error.code).toBe('too-large');
    for (let id = 0; id < 5; id++) {
      const f = decodeFrame(chunkMessage(id, message)[0]!);
      if (f.ok && f.value.kind === 'chunk') pushChunk(r, f.value, id);
    }
    expect(r.pending.size).toBe(2);
    expect(r.dropped).toBeGreaterThanOrEqual(3);
  });
});

describe('sizes agree with the encoder', () => {
  it('entriesForBudget picks dense exactly when dense fits, and a k whose message fits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        valueTypeArb,
        fc.integer(),
        (P, budget, vt, seed) => {
          const plan = entriesForBudget(P, budget, vt);
          const denseWire = wireBytes(denseUpdateBytes(P, vt));
          if (denseWire <= budget) expect(plan.kind).toBe('dense');
          if (plan.kind !== 'sparse') return;
          expect(plan.k).toBeLessThan(P);
          // The real message must fit whatever the indices: evenly spread, random (what top-k
          // gives), and the varint worst case (as many gaps of 128 as fit, the rest 0).
          const k = plan.k;
          const step = P / k;
          const even = Uint32Array.from({ length: k }, (_, i) => Math.floor(i * step));
          const worst = new Uint32Array(k);
          for (let i = 0, at = 0, spare = P - k; i < k; i++, at++) {
            const gap = spare >= 128 ? 128 : 0;
            spare -= gap;
            at += gap;
            worst[i] = at;
          }
          const random = randomIndices(P, k, rng(seed));
          for (const indices of [even, worst, random]) {
            const bytes = encodeUpdate(meta(P, vt), {
              encoding: 'sparse',
              indices,
              values: randomValues(k, rng(seed)).map((x) => x / 1e6),
            });
            expect(wireBytes(bytes.length)).toBeLessThanOrEqual(budget);
          }
        },
      ),
      { seed: 31, numRuns: 150 },
    );
  });

  it('falls back to dense at the break-even', () => {
    const P = 10_000;
    const dense = wireBytes(denseUpdateBytes(P, 'f32'));
    expect(entriesForBudget(P, dense, 'f32')).toEqual({ kind: 'dense' });
    const below = entriesForBudget(P, dense - 1, 'f32');
    expect(below.kind).toBe('sparse');
    expect(entriesForBudget(P, 10, 'f32')).toEqual({ kind: 'none' });
  });

  it('maxMessageBytes holds every message a P-parameter peer sends, and nothing much larger', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_000_000 }), fc.integer(), (P, seed) => {
        const limit = maxMessageBytes(P);
        const next = rng(seed);
        // Every sparse k, with the index layout that makes varint largest, stays within it.
        const k = 1 + Math.floor(next() * P);
        const step = P / k;
        const indices = Uint32Array.from({ length: k }, (_, i) => Math.floor(i * step));
        const values = new Float32Array(k);
        const sizes = [
          encodeUpdate(meta(P, 'f32'), { encoding: 'sparse', indices, values }).length,
          denseUpdateBytes(P, 'f32'),
          rangeUpdateBytes(P, 'f32'),
          bitmapUpdateBytes(P, P, 'f32'),
          encodeParams({ step: 1, modelFingerprint: 1, loss: 1, values: new Float32Array(P) })
            .length,
          encodeProbe(MAX_PROBE_BYTES).length,
          encodeControl('x'.repeat(MAX_CONTROL_TEXT_BYTES)).length,
        ];
        for (const size of sizes) expect(size).toBeLessThanOrEqual(limit);
        // The bound is one of those sizes, not a loose figure.
        expect(sizes).toContain(limit);
      }),
      { seed: 7, numRuns: 40 },
    );
  });
});
