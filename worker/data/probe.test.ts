import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mayBeProbe, PROBE_SAMPLES, probeCount, probeIndices, testIndices } from './probe';

const spread = (count: number, n: number) =>
  Array.from({ length: Math.min(n, count) }, (_, i) =>
    Math.floor((i * count) / Math.min(n, count)),
  );

describe('probeIndices', () => {
  it('takes PROBE_SAMPLES images of a 10 000-image split, spread, ascending, all 2 mod 5', () => {
    const p = probeIndices(10_000);
    expect(p).toHaveLength(PROBE_SAMPLES);
    expect([...p.slice(0, 3)]).toEqual([2, 22, 42]);
    expect(p.every((j) => mayBeProbe(j) && j < 10_000)).toBe(true);
    expect(new Set(p).size).toBe(p.length);
    expect([...p]).toEqual([...p].sort((x, y) => x - y));
  });

  it('is smaller for small splits and empty for none', () => {
    expect(probeCount(0)).toBe(0);
    expect(probeIndices(0)).toHaveLength(0);
    expect([...probeIndices(13)]).toEqual([2, 7, 12]);
    expect(probeCount(13)).toBe(3);
  });

  it('refuses sizes that are not counts', () => {
    expect(() => probeIndices(-1)).toThrow(/integer >= 0/);
    expect(() => probeIndices(10.5)).toThrow(/integer >= 0/);
  });
});

describe('testIndices', () => {
  it('is the old even spread for the sizes in use (1000, 2000, 500 of 10 000)', () => {
    const p = probeIndices(10_000);
    for (const n of [500, 1000, 2000])
      expect([...testIndices(10_000, n, p)]).toEqual(spread(10_000, n));
  });

  it('never shares an image with the probe, and never repeats one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2500 }),
        (count, n) => {
          const p = probeIndices(count);
          const t = testIndices(count, n, p);
          const probe = new Set(p);
          expect(t.length).toBe(Math.min(n, count - p.length));
          expect(new Set(t).size).toBe(t.length);
          for (const j of t) {
            expect(probe.has(j)).toBe(false);
            expect(j).toBeLessThan(count);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives every image outside the probe when asked for more than that', () => {
    const p = probeIndices(10_000);
    const t = testIndices(10_000, 10_000, p);
    expect(t).toHaveLength(10_000 - PROBE_SAMPLES);
  });
});
