/**
 * IEEE 754 half precision <-> single precision, for fp16 update values on the wire.
 * Node 20 has no Float16Array, so the conversion works on the float32 bit pattern.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest finite half-precision value. */
export const F16_MAX = 65504;

/**
 * Half-precision bits of `x`, rounded to nearest even. Values beyond F16_MAX become infinity
 * (callers refuse those: see codec.ts), NaN stays NaN.
 */
export function toF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa into place, round to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Round to nearest even; a carry out of the mantissa correctly bumps the exponent.
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** The float value of half-precision bits `h` (0 <= h < 65536). */
export function fromF16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const qf32 = new Float32Array(1);
const qu32 = new Uint32Array(qf32.buffer);
/** Smallest normal half, 2^-14: below it fp16 has a fixed quantum of 2^-24. */
const F16_MIN_NORMAL = 2 ** -14;
/** Adding and subtracting 1.5 x 2^28 rounds a double to a multiple of 2^-24, ties to even. */
const F16_SUBNORMAL_ROUNDER = 1.5 * 2 ** 28;

/**
 * `v` clamped to +-F16_MAX and rounded to the nearest half, ties to even: what arrives when a
 * finite value is sent as fp16. Equal to roundToF16 on the clamped value (tested), but without
 * its per-call exponentiation: dense f16 sends run this P times per step.
 */
export function quantizeF16(v: number): number {
  const a = Math.abs(v);
  let q: number;
  if (a >= F16_MAX) q = F16_MAX;
  else if (a < F16_MIN_NORMAL) q = a + F16_SUBNORMAL_ROUNDER - F16_SUBNORMAL_ROUNDER;
  else {
    // Normal half: keep 10 of float32's 23 mantissa bits, round to nearest even; a carry into
    // the exponent is the correct result.
    qf32[0] = a;
    const bits = qu32[0]!;
    qu32[0] = (bits + 0xfff + ((bits >>> 13) & 1)) & 0xffffe000;
    q = qf32[0]!;
  }
  // 1 / -0 is -Infinity: keeps the sign of a negative zero, as a real fp16 round trip does.
  return v < 0 || 1 / v < 0 ? -q : q;
}

/** `x` as it arrives after an fp16 round trip: what error feedback must subtract. */
export const roundToF16 = (x: number): number => fromF16Bits(toF16Bits(x));

/**
 * Converts `src` to half-precision bits in `dst` (same length), rounding to nearest even, the
 * same as toF16Bits but on the raw bits, without a call per value. Returns the index of the
 * first value that is not finite or overflows fp16, or -1 when all converted.
 */
export function f32ToF16Array(src: Float32Array, dst: Uint16Array): number {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp >= 113 && exp <= 142) {
      // Normal half range: rebias the exponent, round the 13 dropped mantissa bits.
      let h = ((exp - 112) << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
      if (h >= 0x7c00) return i;
      dst[i] = sign | h;
    } else if (exp < 113) {
      dst[i] = toF16Bits(src[i]!); // subnormal or zero: rare, take the general path
    } else {
      return i;
    }
  }
  return -1;
}

/** Converts half-precision bits to f32 through a 65 536-entry table; returns the index of the first Inf/NaN, or -1. */
export function f16ToF32Array(src: Uint16Array, dst: Float32Array): number {
  const table = f16Table();
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    if ((h & 0x7c00) === 0x7c00) return i;
    dst[i] = table[h]!;
  }
  return -1;
}

let table: Float32Array | undefined;
/** All 65 536 half-precision values as f32, built on first use (256 KiB). */
function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65_536);
    for (let h = 0; h < 65_536; h++) table[h] = fromF16Bits(h);
  }
  return table;
}
