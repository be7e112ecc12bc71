import { describe, expect, it } from 'vitest';
import { createPacer, effectiveCapBps, releaseTime, siteLinkShape } from './shaper';

describe('effectiveCapBps', () => {
  it('takes the lowest valid cap and ignores unset or invalid ones', () => {
    expect(effectiveCapBps(undefined, undefined)).toBeUndefined();
    expect(effectiveCapBps(2e6, undefined, 5e6)).toBe(2e6);
    expect(effectiveCapBps(undefined, 8e6, 5e6)).toBe(5e6);
    expect(effectiveCapBps(Number.NaN, -1, 0, 3e6)).toBe(3e6);
  });
});

describe('siteLinkShape', () => {
  const rules = {
    intra: { bps: 100e6, latencyMs: 1 },
    inter: { bps: 5e6, latencyMs: 40 },
    pairs: [{ a: 'north', b: 'south', bps: 1e6, latencyMs: 80 }],
  };

  it('inside a site, between sites, and a named pair in either order', () => {
    expect(siteLinkShape(rules, 'north', 'north')).toEqual({ bps: 100e6, latencyMs: 1 });
    expect(siteLinkShape(rules, 'north', 'east')).toEqual({ bps: 5e6, latencyMs: 40 });
    expect(siteLinkShape(rules, 'south', 'north')?.bps).toBe(1e6);
    expect(siteLinkShape(rules, 'north', 'south')?.latencyMs).toBe(80);
  });

  it('no shape when a site is unknown or there are no rules', () => {
    expect(siteLinkShape(rules, 'north', undefined)).toBeUndefined();
    expect(siteLinkShape(rules, undefined, 'north')).toBeUndefined();
    expect(siteLinkShape(undefined, 'a', 'a')).toBeUndefined();
    expect(siteLinkShape({ inter: { bps: 1 } }, 'a', 'a')).toBeUndefined();
  });
});

describe('releaseTime', () => {
  it('paces frames back to back at the cap and adds the latency', () => {
    const pacer = createPacer();
    // 1000 bytes at 8 kbit/s take 1 s on the wire.
    expect(releaseTime(pacer, 1000, 0, 8000, 40)).toBe(1040);
    expect(releaseTime(pacer, 1000, 10, 8000, 40)).toBe(2040);
    expect(releaseTime(createPacer(), 1000, 5, undefined, 0)).toBe(5);
  });
});
