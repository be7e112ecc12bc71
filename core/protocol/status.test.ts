import * as v from 'valibot';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { PeerId } from '../ids';
import { encodeMessage, parsePeerStatus } from './parse';
import {
  boundedArray,
  MAX_LINKS,
  MAX_MERGES,
  PeerInfoSchema,
  PeerNameSchema,
  type PeerStatus,
} from './status';

const link = {
  to: 'peer-b',
  bandwidthBps: 12_500_000,
  rttMs: 3.5,
  bytesSent: 1_048_576,
  sentFraction: 0.25,
};
const merge = {
  from: 'peer-b',
  to: 'peer-a',
  beta: 0.5,
  lossBefore: 0.9,
  lossAfter: 0.4,
  rolledBack: false,
  atMs: 1_700_000_000_000,
};
const status = {
  id: 'peer-a',
  name: 'Lab 3 kiosk',
  kind: 'kiosk',
  site: 'lab-3',
  backend: 'webgpu',
  strategy: 'dlion',
  step: 1200,
  batchSize: 64,
  weight: 0.5,
  capacity: 850.5,
  loss: 0.31,
  valAccuracy: 0.91,
  links: [link],
  merges: [merge],
};

const issuesOf = (input: unknown): readonly string[] => {
  const r = parsePeerStatus(input);
  if (r.ok) throw new Error('expected the status to be refused');
  expect(r.error.code).toBe('invalid-message');
  return r.error.issues;
};

describe('PeerStatus', () => {
  it('round-trips full and minimal statuses through JSON', () => {
    const { site: _, ...siteless } = status;
    const minimal = { ...siteless, loss: null, valAccuracy: null, links: [], merges: [] };
    const full = {
      ...status,
      backendNote: 'navigator.gpu missing',
      paused: true,
      links: [{ ...link, rttMs: null }],
    };
    for (const s of [status, minimal, full]) {
      const parsed = parsePeerStatus(JSON.parse(encodeMessage(s as PeerStatus)));
      expect(parsed).toStrictEqual({ ok: true, value: s });
    }
  });

  it('carries the PeerId brand in its ids', () => {
    expectTypeOf<PeerStatus['id']>().toEqualTypeOf<PeerId>();
    expectTypeOf<PeerStatus['links'][number]['to']>().toEqualTypeOf<PeerId>();
  });

  it.each([
    ['weight', { weight: 1.5 }],
    ['valAccuracy', { valAccuracy: -0.1 }],
    ['loss', { loss: -1 }],
    ['loss', { loss: 1e300 }],
    ['capacity', { capacity: -5 }],
    ['step', { step: 2 ** 53 }],
    ['step', { step: 1.5 }],
    ['batchSize', { batchSize: 5000 }],
    ['backend', { backend: 'x'.repeat(33) }],
    ['backend', { backend: '' }],
    ['backendNote', { backendNote: 'x'.repeat(257) }],
    ['strategy', { strategy: 'fedavg' }],
    ['kind', { kind: 'phone' }],
    ['id', { id: 'peer a' }],
    ['site', { site: 'lab/3' }],
    ['paused', { paused: 'yes' }],
    ['links.0.sentFraction', { links: [{ ...link, sentFraction: 2 }] }],
    ['links.0.to', { links: [{ ...link, to: '' }] }],
    ['links.0.extra', { links: [{ ...link, extra: 1 }] }],
    ['merges.0.beta', { merges: [{ ...merge, beta: 0 }] }],
    ['merges.0.rolledBack', { merges: [{ ...merge, rolledBack: 0 }] }],
    ['links', { links: Array.from({ length: MAX_LINKS + 1 }, () => link) }],
    ['merges', { merges: Array.from({ length: MAX_MERGES + 1 }, () => merge) }],
    ['extra', { extra: true }],
  ])('refuses a bad %s', (path, patch) => {
    const issues = issuesOf({ ...status, ...patch });
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.startsWith(`${path}: `)).toBe(true);
  });

  it('accepts the largest allowed lists', () => {
    const r = parsePeerStatus({
      ...status,
      links: Array.from({ length: MAX_LINKS }, () => link),
      merges: Array.from({ length: MAX_MERGES }, () => merge),
    });
    expect(r.ok).toBe(true);
  });

  it('refuses a missing field', () => {
    const { capacity: _, ...rest } = status;
    expect(issuesOf(rest)).toEqual([expect.stringMatching(/^capacity: /)]);
  });
});

describe('boundedArray', () => {
  it('checks the length before the items, so a long junk array is one issue', () => {
    const schema = boundedArray(v.number(), 3);
    const r = v.safeParse(
      schema,
      Array.from({ length: 100_000 }, () => 'junk'),
    );
    expect(r.success).toBe(false);
    expect(r.issues).toHaveLength(1);
    expect(v.safeParse(schema, [1, 2, 3]).success).toBe(true);
    expect(v.safeParse(schema, [1, 'x']).issues?.map((i) => v.getDotPath(i))).toEqual(['1']);
  });
});

describe('PeerNameSchema', () => {
  it.each([
    ['Ada', true],
    ['x'.repeat(64), true],
    ['x'.repeat(65), false],
    ['', false],
    ['   ', false],
    ['Ünïcødé 名前', true],
    ['👩\u200D💻 Ada', true],
    ['line\nbreak', false],
    ['tab\there', false],
    ['nul\u0000', false],
    ['evil\u202Eredro', false],
    ['lone \uD800 surrogate', false],
    ['para\u2029sep', false],
  ])('%j -> accepted: %s', (name, accepted) => {
    expect(v.safeParse(PeerNameSchema, name).success).toBe(accepted);
  });

  it('is what PeerInfo uses', () => {
    const ok = { id: 'a', name: 'Ada', kind: 'browser' };
    expect(v.safeParse(PeerInfoSchema, ok).success).toBe(true);
    expect(v.safeParse(PeerInfoSchema, { ...ok, name: 'a\u0007' }).success).toBe(false);
  });
});
