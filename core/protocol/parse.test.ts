import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../errors';
import type { Result } from '../result';
import type { ControlMessage } from './control';
import {
  encodeMessage,
  exceedsUtf8Bytes,
  MAX_CONTROL_BYTES,
  MAX_SIGNALING_BYTES,
  parseControlMessage,
  parsePeerStatus,
  parseSignalingClientMessage,
  parseSignalingServerMessage,
} from './parse';
import { PROTOCOL_VERSION } from './version';

const CODES = ['invalid-message', 'too-large', 'bad-json'];

const hello = {
  type: 'sig/hello',
  protocol: PROTOCOL_VERSION,
  room: 'r',
  name: 'Ada',
  kind: 'browser',
};
const ping = { type: 'mesh/ping', id: 1, t: 2 };
const status = {
  id: 'a',
  name: 'Ada',
  kind: 'browser',
  backend: 'cpu',
  strategy: 'bsp',
  step: 0,
  batchSize: 8,
  weight: 1,
  capacity: 10,
  loss: null,
  valAccuracy: null,
  links: [],
  merges: [],
};

const textParsers: [string, (text: string) => Result<unknown, ProtocolError>][] = [
  ['client', (t) => parseSignalingClientMessage(t)],
  ['server', (t) => parseSignalingServerMessage(t)],
  ['control', (t) => parseControlMessage(t)],
];

/** A Result the caller can rely on: ok, or a ProtocolError with a known code. */
const isWellFormed = (r: Result<unknown, ProtocolError>): boolean =>
  r.ok || (r.error instanceof ProtocolError && CODES.includes(r.error.code));

const codeOf = (r: Result<unknown, ProtocolError>): string | undefined =>
  r.ok ? undefined : r.error.code;

// Strings with every kind of UTF-16 content, lone surrogates included.
const anyUnit = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
);

describe('exceedsUtf8Bytes', () => {
  it('agrees with the real UTF-8 encoder for every string and limit', () => {
    fc.assert(
      fc.property(anyUnit, fc.nat(), (text, r) => {
        const bytes = Buffer.byteLength(text, 'utf8');
        const maxBytes = r % (bytes + 3); // limits around the true size matter most
        return exceedsUtf8Bytes(text, maxBytes) === bytes > maxBytes;
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('counts surrogate pairs as 4 bytes and lone surrogates as 3', () => {
    expect(exceedsUtf8Bytes('😀', 4)).toBe(false);
    expect(exceedsUtf8Bytes('😀', 3)).toBe(true);
    expect(exceedsUtf8Bytes('\uD800', 3)).toBe(false);
    expect(exceedsUtf8Bytes('\uD800', 2)).toBe(true);
    expect(exceedsUtf8Bytes('é', 1)).toBe(true);
  });
});

describe('size limit', () => {
  it('refuses an oversized frame before parsing it', () => {
    // Not JSON at all: a parser that looked first would answer 'bad-json'.
    expect(codeOf(parseSignalingClientMessage('{'.repeat(MAX_SIGNALING_BYTES + 1)))).toBe(
      'too-large',
    );
    expect(codeOf(parseSignalingServerMessage('['.repeat(MAX_SIGNALING_BYTES + 1)))).toBe(
      'too-large',
    );
    expect(codeOf(parseControlMessage('x'.repeat(MAX_CONTROL_BYTES + 1)))).toBe('too-large');
  });

  it('puts the boundary exactly at maxBytes, counted in UTF-8 bytes', () => {
    const json = encodeMessage(ping as ControlMessage);
    const atLimit = json + ' '.repeat(MAX_CONTROL_BYTES - json.length);
    expect(parseControlMessage(atLimit).ok).toBe(true);
    expect(codeOf(parseControlMessage(`${atLimit} `))).toBe('too-large');

    const named = JSON.stringify({ ...hello, name: 'Zoë' });
    const bytes = Buffer.byteLength(named, 'utf8');
    expect(bytes).toBe(named.length + 1);
    expect(parseSignalingClientMessage(named, bytes).ok).toBe(true);
    expect(codeOf(parseSignalingClientMessage(named, named.length))).toBe('too-large');
  });

  it('uses the caller limit when given', () => {
    const json = JSON.stringify(hello);
    expect(codeOf(parseSignalingClientMessage(json, 10))).toBe('too-large');
    expect(parseControlMessage(JSON.stringify(ping), 1 << 20).ok).toBe(true);
  });
});

describe('JSON and schema failures', () => {
  it.each(['', '{', '{"type":', "{'type':'mesh/bye'}", 'undefined', 'NaN', '{"a":1}x'])(
    '%j is bad-json',
    (text) => {
      for (const [, parse] of textParsers) expect(codeOf(parse(text))).toBe('bad-json');
    },
  );

  it.each(['null', '[]', '42', '"sig/hello"', 'true', '{}', '{"type":"sig/hello"}'])(
    '%j is invalid-message',
    (text) => {
      for (const [, parse] of textParsers) expect(codeOf(parse(text))).toBe('invalid-message');
    },
  );

  it('reports issues as "path: message"', () => {
    const r = parseSignalingClientMessage(
      JSON.stringify({ ...hello, name: 'x'.repeat(65), extra: 1 }),
    );
    if (r.ok) throw new Error('expected a refusal');
    expect(r.error.issues).toEqual([
      expect.stringMatching(/^name: \S/),
      expect.stringMatching(/^extra: \S/),
    ]);
    expect(r.error.message).toContain(r.error.issues[0]);
  });

  it('refuses a non-string input instead of throwing', () => {
    for (const [, parse] of textParsers) {
      for (const input of [undefined, null, 42, new Uint8Array([123, 125])]) {
        expect(codeOf(parse(input as unknown as string))).toBe('invalid-message');
      }
    }
  });

  it('refuses numbers JSON cannot carry exactly', () => {
    expect(codeOf(parseControlMessage('{"type":"mesh/ping","id":1,"t":1e400}'))).toBe(
      'invalid-message',
    );
    expect(codeOf(parseControlMessage('{"type":"mesh/ping","id":4294967296,"t":0}'))).toBe(
      'invalid-message',
    );
  });
});

describe('parsers never throw', () => {
  it.each(textParsers)('%s: arbitrary strings', (_, parse) => {
    fc.assert(
      fc.property(anyUnit, (text) => isWellFormed(parse(text))),
      { seed: 42, numRuns: 500 },
    );
  });

  it.each(textParsers)('%s: arbitrary JSON values', (_, parse) => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => isWellFormed(parse(JSON.stringify(json)))),
      { seed: 42, numRuns: 500 },
    );
  });

  it.each(textParsers)('%s: valid messages with one field replaced by any JSON', (_, parse) => {
    const base = fc.constantFrom<Record<string, unknown>>(hello, ping, {
      type: 'sig/status',
      status,
    });
    fc.assert(
      fc.property(base, fc.string({ maxLength: 12 }), fc.jsonValue(), (msg, key, value) => {
        const keys = Object.keys(msg);
        const field = keys.includes(key) ? key : (keys[key.length % keys.length] ?? key);
        const r = parse(JSON.stringify({ ...msg, [field]: value }));
        if (!isWellFormed(r)) return false;
        // Whatever passes must survive its own round trip unchanged.
        return !r.ok || JSON.stringify(parse(JSON.stringify(r.value))) === JSON.stringify(r);
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('parsePeerStatus: arbitrary values, hostile objects included', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => isWellFormed(parsePeerStatus(input))),
      { seed: 42, numRuns: 500 },
    );
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('getter says no');
        },
        has() {
          throw new Error('has says no');
        },
      },
    );
    const r = parsePeerStatus(hostile);
    expect(r.ok).toBe(false);
    expect(isWellFormed(r)).toBe(true);
  });

  it('parsePeerStatus accepts a valid status object', () => {
    expect(parsePeerStatus(status)).toStrictEqual({ ok: true, value: status });
  });
});
