import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F16_MAX, fromF16Bits, quantizeF16, roundToF16, toF16Bits } from './fp16';

describe('fp16', () => {
  it('round-trips every finite half-precision bit pattern exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >>> 10) & 0x1f;
      if (exp === 0x1f) continue;
      const back = toF16Bits(fromF16Bits(h));
      // -0 and +0 are distinct bit patterns and must stay distinct.
      expect(back).toBe(h);
    }
  });

  it('rounds to the nearest representable half (ties to even) with relative error <= 2^-11', () => {
    fc.assert(
      fc.property(fc.float({ min: -F16_MAX, max: F16_MAX, noNaN: true }), (x) => {
        const y = roundToF16(x);
        if (Math.abs(x) >= 2 ** -14)
          expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11);
        else expect(Math.abs(y - x)).toBeLessThanOrEqual(2 ** -25);
      }),
      { seed: 42, numRuns: 20_000 },
    );
    expect(roundToF16(1 + 2 ** -11)).toBe(1); // tie goes to even mantissa
    expect(roundToF16(1 + 3 * 2 ** -11)).toBe(1 + 2 * 2 ** -10);
  });

  it('maps overflow to infinity and keeps NaN', () => {
    expect(fromF16Bits(toF16Bits(70000))).toBe(Number.POSITIVE_INFINITY);
    expect(fromF16Bits(toF16Bits(-70000))).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(fromF16Bits(toF16Bits(Number.NaN)))).toBe(true);
    expect(roundToF16(F16_MAX)).toBe(F16_MAX);
  });

  it('quantizeF16 equals roundToF16 of the value clamped to the fp16 range', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const clamped = Math.min(F16_MAX, Math.max(-F16_MAX, x));
        expect(Object.is(quantizeF16(x), roundToF16(clamped))).toBe(true);
      }),
      { seed: 43, numRuns: 50_000 },
    );
  });
});
