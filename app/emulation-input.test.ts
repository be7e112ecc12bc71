import { describe, expect, it } from 'vitest';
import { parseEmulationInput } from './emulation-input';

describe('parseEmulationInput', () => {
  it('reads a slowdown factor and a cap in Mbit/s (empty: none)', () => {
    expect(parseEmulationInput('2.5', '10')).toEqual({
      ok: true,
      value: { slowdown: 2.5, uplinkBps: 10_000_000 },
    });
    expect(parseEmulationInput('', ' ')).toEqual({
      ok: true,
      value: { slowdown: 1, uplinkBps: undefined },
    });
  });

  it('names each bad field', () => {
    const r = parseEmulationInput('0.5', '-1');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.slowdown).toContain('Slowdown');
    expect(r.error.uplink).toContain('uplink');
    const only = parseEmulationInput('abc', '');
    expect(!only.ok && [only.error.slowdown !== undefined, only.error.uplink]).toEqual([
      true,
      undefined,
    ]);
  });
});
