import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStrategyName, type StrategyTraits, strategyTraits } from './strategies';
import { STRATEGIES, type StrategyName } from './strategy-names';

const differingTraits = (a: StrategyTraits, b: StrategyTraits): string[] =>
  (Object.keys(a) as (keyof StrategyTraits)[]).filter((key) => a[key] !== b[key]);

describe('strategyTraits', () => {
  it('gives every strategy a complete set of traits', () => {
    for (const name of STRATEGIES) {
      const t = strategyTraits(name);
      expect(['wdb', 'equal']).toContain(t.batching);
      expect(['prioritized', 'dense', 'ako', 'gaia']).toContain(t.exchange);
      expect(Number.isInteger(t.staleness) && t.staleness >= 0).toBe(true);
      expect(Number.isInteger(t.backupPeers) && t.backupPeers >= 0).toBe(true);
      expect(Object.isFrozen(t)).toBe(true);
    }
  });

  it('runs DLion with WDB, per-link prioritization, a small staleness bound and DKT', () => {
    const t = strategyTraits('dlion');
    expect(t).toEqual({
      batching: 'wdb',
      exchange: 'prioritized',
      staleness: 2,
      dkt: true,
      backupPeers: 0,
      skipIterations: false,
    });
  });

  it('makes each ablation differ from DLion in exactly its own technique', () => {
    const dlion = strategyTraits('dlion');
    const expected: [StrategyName, keyof StrategyTraits][] = [
      ['dlion-no-wdb', 'batching'],
      ['dlion-no-prio', 'exchange'],
      ['dlion-no-dkt', 'dkt'],
    ];
    for (const [name, trait] of expected) {
      expect(differingTraits(dlion, strategyTraits(name))).toEqual([trait]);
    }
    expect(strategyTraits('dlion-no-wdb').batching).toBe('equal');
    expect(strategyTraits('dlion-no-prio').exchange).toBe('dense');
    expect(strategyTraits('dlion-no-dkt').dkt).toBe(false);
  });

  it('runs BSP lock-step with dense exchange and equal batches', () => {
    const t = strategyTraits('bsp');
    expect(t.staleness).toBe(0);
    expect(t.exchange).toBe('dense');
    expect(t.batching).toBe('equal');
    expect(t.backupPeers).toBe(0);
  });

  it('gives the baselines equal batches, no DKT and a bounded, non-zero staleness (except BSP)', () => {
    for (const name of ['bsp', 'ako', 'gaia', 'hop'] as const) {
      const t = strategyTraits(name);
      expect(t.batching).toBe('equal');
      expect(t.dkt).toBe(false);
      if (name !== 'bsp') {
        expect(t.staleness).toBeGreaterThan(0);
        expect(t.staleness).toBeLessThan(Number.POSITIVE_INFINITY);
      }
    }
    expect(strategyTraits('ako').exchange).toBe('ako');
    expect(strategyTraits('gaia').exchange).toBe('gaia');
    expect(strategyTraits('hop').exchange).toBe('dense');
  });

  it('gives only Hop backup peers (b = 1) and iteration skipping', () => {
    for (const name of STRATEGIES) {
      const t = strategyTraits(name);
      expect(t.backupPeers).toBe(name === 'hop' ? 1 : 0);
      expect(t.skipIterations).toBe(name === 'hop');
    }
  });

  it('keeps the strategies distinguishable: no two share all traits', () => {
    for (const a of STRATEGIES) {
      for (const b of STRATEGIES) {
        if (a !== b) expect(differingTraits(strategyTraits(a), strategyTraits(b))).not.toEqual([]);
      }
    }
  });
});

describe('parseStrategyName', () => {
  it('accepts every known name', () => {
    for (const name of STRATEGIES)
      expect(parseStrategyName(name)).toEqual({ ok: true, value: name });
  });

  it('refuses other spellings and other types with a PolicyError', () => {
    for (const bad of [
      'DLion',
      ' bsp',
      'bsp ',
      '',
      'dlion-no',
      'sync',
      42,
      null,
      undefined,
      {},
      ['bsp'],
    ]) {
      const r = parseStrategyName(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.name).toBe('PolicyError');
        expect(r.error.code).toBe('bad-input');
      }
    }
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = parseStrategyName(v);
        expect(r.ok).toBe((STRATEGIES as readonly unknown[]).includes(v));
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
