import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ROOM_PEERS, type Sharding } from '../../core';
import {
  formatSharding,
  parseShardQuery,
  SHARD_FILE_NAMES,
  type ShardRequest,
  shardQuery,
} from './shard-url';

const requests: fc.Arbitrary<ShardRequest> = fc
  .record({
    dataset: fc.constantFrom('mnist' as const, 'fashion-mnist' as const),
    seed: fc.integer({ min: 0, max: 0xffff_ffff }),
    peerCount: fc.integer({ min: 1, max: MAX_ROOM_PEERS }),
    sharding: fc.oneof(
      fc.constant<Sharding>({ kind: 'iid' }),
      fc
        .integer({ min: 1, max: 10 })
        .map((k): Sharding => ({ kind: 'classes', classesPerPeer: k })),
      fc
        .double({ min: 1e-6, max: 1000, noNaN: true })
        .map((alpha): Sharding => ({ kind: 'dirichlet', alpha })),
    ),
    validationFraction: fc.double({ min: 1e-6, max: 0.5, noNaN: true }),
    testSamples: fc.integer({ min: 1, max: 10_000 }),
    peerSeed: fc.nat(),
  })
  .map(({ peerSeed, ...r }) => ({ ...r, peerIndex: peerSeed % r.peerCount }));

const base = 'dataset=mnist&seed=1&peer=0&peers=3&sharding=iid&validation=0.1&test=2000';
const parse = (q: string) => parseShardQuery(new URLSearchParams(q));
const messageOf = (q: string): string => {
  const r = parse(q);
  return r.ok ? 'ok' : `${r.error.code}: ${r.error.message}`;
};
/** The base query with one parameter replaced (or removed, for undefined). */
const withParam = (key: string, value: string | undefined): string => {
  const p = new URLSearchParams(base);
  if (value === undefined) p.delete(key);
  else p.set(key, value);
  return p.toString();
};

describe('shard URLs', () => {
  it('round-trip every valid request', () => {
    fc.assert(
      fc.property(requests, (r) => {
        const back = parse(shardQuery(r));
        expect(back).toEqual({ ok: true, value: r });
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('read the documented example', () => {
    expect(parse(`${base.replace('iid', 'classes:2')}`)).toEqual({
      ok: true,
      value: {
        dataset: 'mnist',
        seed: 1,
        peerIndex: 0,
        peerCount: 3,
        sharding: { kind: 'classes', classesPerPeer: 2 },
        validationFraction: 0.1,
        testSamples: 2000,
      },
    });
    expect(formatSharding({ kind: 'dirichlet', alpha: 0.5 })).toBe('dirichlet:0.5');
    expect(SHARD_FILE_NAMES).toHaveLength(8);
    expect(SHARD_FILE_NAMES).toContain('validation-labels.idx.gz');
  });

  it('refuse bad, missing, repeated and unknown parameters with a message naming them', () => {
    const cases: [string, string][] = [
      [withParam('dataset', 'cifar'), 'dataset'],
      [withParam('dataset', undefined), "missing parameter 'dataset'"],
      [withParam('seed', '-1'), 'seed'],
      [withParam('seed', '0x10'), 'seed'],
      [withParam('seed', '1e3'), 'seed'],
      [withParam('seed', ''), 'seed'],
      [withParam('seed', '4294967296'), 'seed'],
      [withParam('peer', '3'), 'peer must be an integer in 0..2'],
      [withParam('peers', '0'), 'peers'],
      [withParam('peers', String(MAX_ROOM_PEERS + 1)), 'peers'],
      [withParam('sharding', 'classes:0'), 'sharding'],
      [withParam('sharding', 'classes:11'), 'sharding'],
      [withParam('sharding', 'classes:2:3'), 'sharding'],
      [withParam('sharding', 'dirichlet:0'), 'sharding'],
      [withParam('sharding', 'dirichlet:NaN'), 'sharding'],
      [withParam('sharding', 'dirichlet:Infinity'), 'sharding'],
      [withParam('sharding', 'IID'), 'sharding'],
      [withParam('validation', '0'), 'validation'],
      [withParam('validation', '0.6'), 'validation'],
      [withParam('validation', 'abc'), 'validation'],
      [withParam('test', '0'), 'test'],
      [withParam('test', '10001'), 'test'],
      [`${base}&extra=1`, "unknown parameter 'extra'"],
      [`${base}&seed=2`, "'seed' is given more than once"],
    ];
    for (const [query, fragment] of cases) {
      const message = messageOf(query);
      expect(message, query).toMatch(/^bad-shard: /);
      expect(message, query).toContain(fragment);
    }
    expect(messageOf(base)).toBe('ok');
  });

  it('never throw on arbitrary query strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (q) => {
        const r = parse(q);
        expect(typeof r.ok).toBe('boolean');
      }),
      { seed: 11, numRuns: 500 },
    );
  });
});
