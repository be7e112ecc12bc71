import { describe, expect, expectTypeOf, it } from 'vitest';
import type { PeerId } from '../ids';
import { type ControlMessage, type ControlMessageOf, MAX_BYE_REASON_LENGTH } from './control';
import { encodeMessage, parseControlMessage } from './parse';
import { MAX_STEP } from './status';
import { isSupportedProtocol, PROTOCOL_VERSION } from './version';

const hello = {
  type: 'mesh/hello',
  protocol: PROTOCOL_VERSION,
  peerId: 'peer-a',
  step: 0,
  capacity: 0,
  batchSize: 0,
  modelFingerprint: 0xdeadbeef,
};
const report = { type: 'mesh/report', step: 340, loss: 0.42, accuracy: 0.88, samples: 600 };

const examples = [
  hello,
  { ...hello, site: 'lab-3', step: 12, capacity: 930.25, batchSize: 96 },
  { type: 'mesh/heartbeat', step: 17, capacity: 512.5, batchSize: 40 },
  report,
  { type: 'mesh/dkt-request', step: 340 },
  { type: 'mesh/dkt-outcome', from: 'peer-b', kept: true, lossBefore: 0.9, lossAfter: 0.5 },
  { type: 'mesh/dkt-outcome', from: 'peer-b', kept: false, lossBefore: 0.5, lossAfter: 0.7 },
  { type: 'mesh/ping', id: 0xffff_ffff, t: 1234.5 },
  { type: 'mesh/pong', id: 7, t: 0 },
  { type: 'mesh/bye' },
  { type: 'mesh/bye', reason: 'tab closed' },
] as unknown as ControlMessage[];

const refused = (msg: unknown): readonly string[] => {
  const r = parseControlMessage(JSON.stringify(msg));
  if (r.ok) throw new Error(`expected ${JSON.stringify(msg)} to be refused`);
  expect(r.error.code).toBe('invalid-message');
  return r.error.issues;
};

describe('control messages', () => {
  it.each(examples.map((m) => [m.type, m] as const))('%s round-trips', (_, msg) => {
    expect(parseControlMessage(encodeMessage(msg))).toStrictEqual({ ok: true, value: msg });
  });

  it('types ids with their brands', () => {
    expectTypeOf<ControlMessageOf<'mesh/hello'>['peerId']>().toEqualTypeOf<PeerId>();
    expectTypeOf<ControlMessageOf<'mesh/dkt-outcome'>['from']>().toEqualTypeOf<PeerId>();
  });

  it('parses a hello from another version, for the caller to refuse by isSupportedProtocol', () => {
    const r = parseControlMessage(JSON.stringify({ ...hello, protocol: PROTOCOL_VERSION + 1 }));
    if (!r.ok || r.value.type !== 'mesh/hello') throw new Error('expected a hello');
    expect(isSupportedProtocol(r.value.protocol)).toBe(false);
  });

  it('refuses a claimed step past MAX_STEP (the wire counts steps in u32), and takes MAX_STEP', () => {
    expect(parseControlMessage(JSON.stringify({ ...hello, step: MAX_STEP })).ok).toBe(true);
    for (const step of [MAX_STEP + 1, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      const r = parseControlMessage(JSON.stringify({ ...hello, step }));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(/step/);
    }
  });

  it.each([
    ['type', { ...report, type: 'mesh/update' }],
    ['type', { ...hello, type: 'sig/hello' }],
    ['protocol', { ...hello, protocol: '1' }],
    ['protocol', { ...hello, protocol: undefined }], // every hello carries its version
    ['peerId', { ...hello, peerId: 'a b' }],
    ['modelFingerprint', { ...hello, modelFingerprint: 2 ** 32 }],
    ['modelFingerprint', { ...hello, modelFingerprint: -1 }],
    ['step', { ...hello, step: -1 }],
    ['step', { ...hello, step: 2 ** 53 }],
    ['capacity', { ...hello, capacity: 1e300 }],
    ['batchSize', { ...hello, batchSize: 1.5 }],
    ['batchSize', { ...hello, batchSize: 1e6 }],
    ['extra', { ...hello, extra: 1 }],
    ['accuracy', { ...report, accuracy: 1.01 }],
    ['accuracy', { ...report, accuracy: -0.01 }],
    ['loss', { ...report, loss: -0.5 }],
    ['loss', { ...report, loss: 1e300 }],
    ['loss', { ...report, loss: null }],
    ['samples', { ...report, samples: 2.5 }],
    ['kept', { type: 'mesh/dkt-outcome', from: 'b', kept: 'yes', lossBefore: 1, lossAfter: 1 }],
    ['from', { type: 'mesh/dkt-outcome', kept: true, lossBefore: 1, lossAfter: 1 }],
    ['id', { type: 'mesh/ping', id: -1, t: 0 }],
    ['id', { type: 'mesh/pong', id: 1.5, t: 0 }],
    ['t', { type: 'mesh/ping', id: 1 }],
    ['reason', { type: 'mesh/bye', reason: 'r'.repeat(MAX_BYE_REASON_LENGTH + 1) }],
    ['reason', { type: 'mesh/bye', reason: 42 }],
  ])('refuses a bad %s', (path, msg) => {
    const issues = refused(msg);
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.startsWith(`${path}: `)).toBe(true);
  });

  it('accepts the range edges', () => {
    for (const msg of [
      { ...report, accuracy: 0, loss: 0 },
      { ...report, accuracy: 1 },
      { ...hello, step: MAX_STEP, modelFingerprint: 2 ** 32 - 1 },
      { type: 'mesh/bye', reason: 'r'.repeat(MAX_BYE_REASON_LENGTH) },
    ]) {
      expect(parseControlMessage(JSON.stringify(msg)).ok).toBe(true);
    }
  });
});
