// Checkpoint blob: round trips, the documented layout, and refusal of every damaged or foreign blob.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checksum, mulberry32 } from '../core';
import {
  type Checkpoint,
  CheckpointError,
  type CheckpointErrorCode,
  type CheckpointExpectation,
  type CheckpointStore,
  createMemoryCheckpointStore,
  decodeCheckpoint,
  encodeCheckpoint,
  restoreCheckpoint,
} from './checkpoint';
import {
  applyUpdate,
  createOptimizer,
  exportOptimizerState,
  type OptimizerConfig,
} from './optimizer';

const SGD: OptimizerConfig = { kind: 'sgd', learningRate: 0.05, momentum: 0.9 };
const ADAM: OptimizerConfig = { kind: 'adam', learningRate: 0.001 };

/** A checkpoint with real optimizer state: a few applies on random data. */
function makeCheckpoint(
  opts: { cfg?: OptimizerConfig; paramCount?: number; seed?: number; room?: string } = {},
): Checkpoint {
  const { cfg = ADAM, paramCount = 7, seed = 1, room = 'lab-7' } = opts;
  const rand = mulberry32(seed);
  const vec = () => Float32Array.from({ length: paramCount }, () => rand() * 2 - 1);
  const params = vec();
  const opt = createOptimizer(cfg, paramCount);
  for (let i = 0; i < 3; i++) {
    const r = applyUpdate(opt, params, vec());
    if (!r.ok) throw r.error;
  }
  return {
    model: 'mlp',
    fingerprint: 0xdead_beef,
    room,
    dataset: 'mnist',
    step: 30,
    params,
    optimizer: exportOptimizerState(opt),
  };
}

const expectOf = (c: Checkpoint): CheckpointExpectation => ({
  model: c.model,
  fingerprint: c.fingerprint,
  paramCount: c.params.length,
  room: c.room,
});

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function expectSameCheckpoint(actual: Checkpoint, expected: Checkpoint): void {
  const { params, optimizer, ...header } = actual;
  const { params: p2, optimizer: o2, ...header2 } = expected;
  expect(header).toEqual(header2);
  expect(bytesOf(params)).toEqual(bytesOf(p2));
  expect(optimizer.kind).toBe(o2.kind);
  expect(optimizer.hyper).toEqual(o2.hyper);
  expect(optimizer.step).toBe(o2.step);
  expect(optimizer.buffers.length).toBe(o2.buffers.length);
  optimizer.buffers.forEach((b, i) => {
    expect(bytesOf(b)).toEqual(bytesOf(o2.buffers[i]!));
  });
}

/** Decodes and returns the error's code, failing the test if the blob was accepted. */
function refusal(bytes: Uint8Array, expectation: CheckpointExpectation): CheckpointErrorCode {
  const r = decodeCheckpoint(bytes, expectation);
  if (r.ok) throw new Error('blob accepted');
  expect(r.error).toBeInstanceOf(CheckpointError);
  expect(r.error.name).toBe('CheckpointError');
  return r.error.code;
}

/** The test's own reading of the documented layout: prefix, header JSON, float section. */
function split(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerBytes)));
  const floatsAt = Math.ceil((12 + headerBytes) / 4) * 4;
  return { view, headerBytes, header, floatsAt, floats: bytes.slice(floatsAt, bytes.length - 4) };
}

/** Rebuilds a blob around a new header (and optionally new float bytes), with a valid checksum. */
function rebuild(
  bytes: Uint8Array,
  edit: (header: Record<string, unknown>) => unknown,
  rawHeader?: string,
  floatBytes?: Uint8Array,
): Uint8Array {
  const { header, floats: original } = split(bytes);
  const floats = floatBytes ?? original;
  const text = new TextEncoder().encode(rawHeader ?? JSON.stringify(edit(header)));
  const floatsAt = Math.ceil((12 + text.length) / 4) * 4;
  const out = new Uint8Array(floatsAt + floats.length + 4);
  out.set(bytes.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, text.length, true);
  out.set(text, 12);
  out.set(floats, floatsAt);
  new DataView(out.buffer).setUint32(out.length - 4, checksum(out, 0, out.length - 4), true);
  return out;
}

/** Re-seals a blob whose bytes were edited in place, so that only the edit itself is judged. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, checksum(out, 0, out.length - 4), true);
  return out;
}

describe('encode / decode round trip', () => {
  it.each([
    ['sgd', SGD],
    ['adam', ADAM],
  ])('%s: bit-exact arrays and an equal header', (_name, cfg) => {
    const c = makeCheckpoint({ cfg, paramCount: 1001 });
    const bytes = encodeCheckpoint(c);
    const r = decodeCheckpoint(bytes, expectOf(c));
    if (!r.ok) throw r.error;
    expectSameCheckpoint(r.value, c);
  });

  it('follows the documented layout', () => {
    const c = makeCheckpoint({ cfg: ADAM, paramCount: 5 });
    const bytes = encodeCheckpoint(c);
    const { view, headerBytes, header, floatsAt } = split(bytes);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('DLCK');
    expect(view.getUint16(4, true)).toBe(1);
    expect(view.getUint16(6, true)).toBe(0);
    expect(header).toMatchObject({
      model: 'mlp',
      fingerprint: 0xdead_beef,
      paramCount: 5,
      optimizer: { kind: 'adam', bufferLengths: [5, 5] },
    });
    for (let i = 12 + headerBytes; i < floatsAt; i++) expect(bytes[i]).toBe(0);
    expect(bytes.length).toBe(floatsAt + 4 * 15 + 4);
    const params = new Float32Array(bytes.slice(floatsAt, floatsAt + 20).buffer);
    expect(bytesOf(params)).toEqual(bytesOf(c.params));
    expect(view.getUint32(bytes.length - 4, true)).toBe(checksum(bytes, 0, bytes.length - 4));
  });

  it('round-trips any room name and size (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        (room, paramCount, sgd) => {
          const c = makeCheckpoint({ cfg: sgd ? SGD : ADAM, paramCount, room });
          const r = decodeCheckpoint(encodeCheckpoint(c), expectOf(c));
          if (!r.ok) throw r.error;
          expectSameCheckpoint(r.value, c);
        },
      ),
      { seed: 0xc4ec, numRuns: 200 },
    );
  });

  it('decodes from an unaligned view and returns copies, not views of the input', () => {
    const c = makeCheckpoint({ paramCount: 33 });
    const bytes = encodeCheckpoint(c);
    const backing = new Uint8Array(bytes.length + 3);
    backing.set(bytes, 3);
    const view = backing.subarray(3);
    const r = decodeCheckpoint(view, expectOf(c));
    if (!r.ok) throw r.error;
    expectSameCheckpoint(r.value, c);
    backing.fill(0xff);
    expectSameCheckpoint(r.value, c);
  });

  it('refuses to write what it could not read back', () => {
    const c = makeCheckpoint({ paramCount: 4 });
    const nanParams = c.params.slice();
    nanParams[2] = Number.NaN;
    const cases: [Checkpoint, CheckpointErrorCode][] = [
      [{ ...c, params: nanParams }, 'non-finite'],
      [{ ...c, params: new Float32Array(5) }, 'bad-header'], // buffers are for 4
      [{ ...c, step: -1 }, 'bad-header'],
      [{ ...c, fingerprint: 2 ** 32 }, 'bad-header'],
      [{ ...c, dataset: '' }, 'bad-header'],
      [{ ...c, optimizer: { ...c.optimizer, buffers: [new Float32Array(4)] } }, 'bad-header'],
    ];
    for (const [bad, code] of cases) {
      let thrown: unknown;
      try {
        encodeCheckpoint(bad);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(CheckpointError);
      expect((thrown as CheckpointError).code).toBe(code);
    }
  });
});

describe('damaged blobs are refused, never half-read', () => {
  const c = makeCheckpoint({ cfg: SGD, paramCount: 6 });
  const bytes = encodeCheckpoint(c);
  const e = expectOf(c);

  it('every truncation', () => {
    for (let n = 0; n < bytes.length; n++) {
      const code = refusal(bytes.slice(0, n), e);
      expect(['truncated', 'checksum', 'bad-header'], `length ${n}`).toContain(code);
    }
  });

  it('every extension by 1 to 9 bytes, zeros or random', () => {
    const rand = mulberry32(5);
    for (let extra = 1; extra <= 9; extra++) {
      for (const fill of ['zero', 'random']) {
        const out = new Uint8Array(bytes.length + extra);
        out.set(bytes);
        if (fill === 'random') {
          for (let i = bytes.length; i < out.length; i++) out[i] = Math.floor(rand() * 256);
        }
        expect(refusal(out, e)).toBe('extended');
      }
    }
  });

  it('every single-bit flip in a small blob', () => {
    const seen = new Set<CheckpointErrorCode>();
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const out = bytes.slice();
      out[bit >> 3]! ^= 1 << (bit & 7);
      const code = refusal(out, e);
      seen.add(code);
      // Corruption is never mistaken for another peer's checkpoint or for a diverged model.
      expect(['foreign', 'non-finite'], `bit ${bit}`).not.toContain(code);
    }
    expect(seen).toContain('bad-magic');
    expect(seen).toContain('version');
    expect(seen).toContain('checksum');
  });

  it('sampled single-bit flips across a large blob: prefix, JSON, floats and checksum', () => {
    const big = makeCheckpoint({ cfg: ADAM, paramCount: 50_000 });
    const blob = encodeCheckpoint(big);
    const { headerBytes, floatsAt } = split(blob);
    const rand = mulberry32(99);
    const pick = (from: number, to: number) => from + Math.floor(rand() * (to - from));
    const positions = [
      ...Array.from({ length: 8 }, () => pick(0, 12)),
      ...Array.from({ length: 40 }, () => pick(12, 12 + headerBytes)),
      ...Array.from({ length: 40 }, () => pick(floatsAt, blob.length - 4)),
      ...Array.from({ length: 4 }, () => pick(blob.length - 4, blob.length)),
    ];
    for (const p of positions) {
      const out = blob.slice();
      out[p]! ^= 1 << Math.floor(rand() * 8);
      const code = refusal(out, expectOf(big));
      expect(['foreign', 'non-finite'], `byte ${p}`).not.toContain(code);
    }
  });

  it('random bytes, with or without a valid prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (junk, withPrefix) => {
        const out = junk.slice();
        if (withPrefix && out.length >= 8) out.set(bytes.subarray(0, 8));
        refusal(out, e);
      }),
      { seed: 0x7a2d, numRuns: 500 },
    );
  });

  it('an edited header whose checksum was not updated is corrupt', () => {
    const { header } = split(bytes);
    const edited = rebuild(bytes, (h) => ({ ...h, step: 31 }));
    edited[edited.length - 1]! ^= 0x10; // break the fresh checksum again
    expect(header.step).toBe(30);
    expect(refusal(edited, e)).toBe('checksum');
  });
});

describe('headers that fail the strict schema', () => {
  const c = makeCheckpoint({ cfg: ADAM, paramCount: 3 });
  const bytes = encodeCheckpoint(c);
  const e = expectOf(c);
  type H = Record<string, unknown> & {
    optimizer: Record<string, unknown> & { hyper: Record<string, unknown> };
  };
  const cases: [string, (h: H) => unknown][] = [
    ['an extra top-level key', (h) => ({ ...h, note: 'hi' })],
    [
      'an extra hyperparameter',
      (h) => ({ ...h, optimizer: { ...h.optimizer, hyper: { ...h.optimizer.hyper, amsgrad: 1 } } }),
    ],
    [
      'a metrics list that is not empty',
      (h) => ({ ...h, metrics: [{ step: 1, atMs: 1, loss: 1 }] }),
    ],
    ['a missing key', (h) => ({ ...h, dataset: undefined })],
    ['a fingerprint as a string', (h) => ({ ...h, fingerprint: String(h.fingerprint) })],
    ['a fractional step', (h) => ({ ...h, step: 1.5 })],
    ['a step past u32', (h) => ({ ...h, step: 2 ** 32 })],
    ['an unknown model', (h) => ({ ...h, model: 'resnet' })],
    [
      'one buffer length for adam',
      (h) => ({ ...h, optimizer: { ...h.optimizer, bufferLengths: [3] } }),
    ],
    ['an unknown optimizer', (h) => ({ ...h, optimizer: { ...h.optimizer, kind: 'rmsprop' } })],
    [
      'a beta2 of 1 (range judged by the optimizer)',
      (h) => ({ ...h, optimizer: { ...h.optimizer, hyper: { ...h.optimizer.hyper, beta2: 1 } } }),
    ],
    ['an array instead of an object', () => []],
  ];

  it.each(cases)('%s is refused as bad-header', (_what, edit) => {
    expect(
      refusal(
        rebuild(bytes, (h) => edit(h as H)),
        e,
      ),
    ).toBe('bad-header');
  });

  it('an older blob, with the empty metrics list it always carried, still restores', () => {
    const older = rebuild(bytes, (h) => ({ ...h, metrics: [] }));
    const r = decodeCheckpoint(older, e);
    if (!r.ok) throw r.error;
    expectSameCheckpoint(r.value, c);
  });

  it('a header that is not JSON, or not UTF-8, is refused as bad-header', () => {
    expect(
      refusal(
        rebuild(bytes, () => null, '{"model": "mlp",'),
        e,
      ),
    ).toBe('bad-header');
    const notUtf8 = rebuild(bytes, () => null, '{"room":"xx"}');
    notUtf8[21] = 0xff;
    expect(refusal(reseal(notUtf8), e)).toBe('bad-header');
  });

  it('buffer lengths that disagree with paramCount are refused as bad-header', () => {
    // 4 params + 2 x 3 buffer entries: a consistent total length, an inconsistent header.
    const edited = rebuild(
      bytes,
      (h) => ({
        ...h,
        paramCount: 4,
        optimizer: { ...(h.optimizer as object), bufferLengths: [3, 3] },
      }),
      undefined,
      new Uint8Array(4 * 10),
    );
    expect(refusal(edited, { ...e, paramCount: 4 })).toBe('bad-header');
  });

  it('a non-zero pad byte is refused', () => {
    const json = JSON.stringify(split(bytes).header);
    // Some number of trailing spaces (valid JSON) leaves 1-3 pad bytes before the floats.
    const padded = [0, 1, 2, 3]
      .map((spaces) => rebuild(bytes, () => null, json + ' '.repeat(spaces)))
      .find((b) => split(b).floatsAt > 12 + split(b).headerBytes)!;
    expect(decodeCheckpoint(padded, e).ok).toBe(true);
    const out = padded.slice();
    out[12 + split(padded).headerBytes] = 1;
    expect(refusal(reseal(out), e)).toBe('bad-header');
  });
});

describe('foreign and non-finite checkpoints', () => {
  const c = makeCheckpoint({ cfg: SGD, paramCount: 5 });
  const bytes = encodeCheckpoint(c);
  const e = expectOf(c);

  it.each<[string, Partial<CheckpointExpectation>, string]>([
    ['model', { model: 'cnn' }, 'model cnn'],
    ['fingerprint', { fingerprint: 0x1234 }, 'fingerprint 0x00001234'],
    ['parameter count', { paramCount: 6 }, '6 parameters'],
    ['room', { room: 'other-room' }, 'room "other-room"'],
    ['dataset', { dataset: 'fashion-mnist' }, 'dataset fashion-mnist'],
    ['optimizer', { optimizer: 'adam' }, 'optimizer adam'],
  ])(
    'another %s is refused as foreign, saying what it is and what was expected',
    (_w, diff, wanted) => {
      const r = decodeCheckpoint(bytes, { ...e, ...diff });
      if (r.ok) throw new Error('accepted');
      expect(r.error.code).toBe('foreign');
      expect(r.error.message).toContain(
        'checkpoint is for model mlp, fingerprint 0xdeadbeef, 5 parameters',
      );
      expect(r.error.message).toContain(`expected model ${diff.model ?? 'mlp'}`);
      expect(r.error.message).toContain(wanted);
    },
  );

  it('accepts when room, dataset and optimizer are not asked about, or match', () => {
    const { room: _room, ...noRoom } = e;
    expect(decodeCheckpoint(bytes, noRoom).ok).toBe(true);
    expect(decodeCheckpoint(bytes, { ...e, dataset: 'mnist', optimizer: 'sgd' }).ok).toBe(true);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    '%s in params or in an optimizer buffer is refused as non-finite',
    (bad) => {
      const { floatsAt } = split(bytes);
      for (const [index, where] of [
        [0, 'params[0]'],
        [4, 'params[4]'],
        [7, 'optimizer buffer 0[2]'],
      ] as const) {
        const out = bytes.slice();
        new DataView(out.buffer).setFloat32(floatsAt + 4 * index, bad, true);
        const r = decodeCheckpoint(reseal(out), e);
        if (r.ok) throw new Error('accepted');
        expect(r.error.code).toBe('non-finite');
        expect(r.error.message).toContain(where);
      }
    },
  );
});

describe('restoreCheckpoint', () => {
  const c = makeCheckpoint({ paramCount: 9 });
  const e = expectOf(c);

  it('restores a saved checkpoint whole', async () => {
    const store = createMemoryCheckpointStore();
    const blob = encodeCheckpoint(c);
    await store.save('k', blob);
    blob.fill(0); // the store holds its own copy
    const r = await restoreCheckpoint(store, 'k', e);
    if (r.kind !== 'restored') throw new Error(r.reason);
    expectSameCheckpoint(r.checkpoint, c);
  });

  it('starts fresh, with a reason, for a missing key', async () => {
    const r = await restoreCheckpoint(createMemoryCheckpointStore(), 'nothing-here', e);
    expect(r).toMatchObject({ kind: 'fresh', code: 'missing' });
    if (r.kind === 'fresh') expect(r.reason).toContain('nothing-here');
  });

  it('starts fresh for a corrupt blob and for a foreign one, and leaves them in the store', async () => {
    const store = createMemoryCheckpointStore();
    const blob = encodeCheckpoint(c);
    blob[blob.length - 20]! ^= 4;
    await store.save('corrupt', blob);
    await store.save('foreign', encodeCheckpoint({ ...c, model: 'cnn' }));
    const corrupt = await restoreCheckpoint(store, 'corrupt', e);
    expect(corrupt).toMatchObject({ kind: 'fresh', code: 'checksum' });
    if (corrupt.kind === 'fresh') expect(corrupt.reason).toMatch(/corrupt.*checksum/);
    const foreign = await restoreCheckpoint(store, 'foreign', e);
    expect(foreign).toMatchObject({ kind: 'fresh', code: 'foreign' });
    if (foreign.kind === 'fresh') expect(foreign.reason).toContain('model cnn');
    expect(store.keys().sort()).toEqual(['corrupt', 'foreign']);
  });

  it('starts fresh when the store throws, rejects or returns something other than bytes', async () => {
    const stores: CheckpointStore[] = [
      {
        load: () => {
          throw new Error('quota exceeded');
        },
        save: async () => {},
        remove: async () => {},
      },
      {
        load: () => Promise.reject(new Error('disk gone')),
        save: async () => {},
        remove: async () => {},
      },
      {
        load: async () => 'a string' as unknown as Uint8Array,
        save: async () => {},
        remove: async () => {},
      },
    ];
    const reasons: string[] = [];
    for (const store of stores) {
      const r = await restoreCheckpoint(store, 'k', e);
      expect(r).toMatchObject({ kind: 'fresh', code: 'store' });
      if (r.kind === 'fresh') reasons.push(r.reason);
    }
    expect(reasons[0]).toContain('quota exceeded');
    expect(reasons[1]).toContain('disk gone');
    expect(reasons[2]).toContain('not bytes');
  });

  it('memory store: remove is idempotent, and a load returns a private copy', async () => {
    const store = createMemoryCheckpointStore();
    await store.save('k', new Uint8Array([1, 2, 3]));
    const loaded = await store.load('k');
    loaded?.fill(9);
    expect(await store.load('k')).toEqual(new Uint8Array([1, 2, 3]));
    await store.remove('k');
    await store.remove('k');
    expect(await store.load('k')).toBeUndefined();
  });
});
