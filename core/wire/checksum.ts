/**
 * A 32-bit checksum for wire messages and frame headers.
 *
 * The input is read as little-endian 32-bit words (a 1-3 byte tail is zero-padded and tagged
 * with its length). Word i goes to lane i mod 4; each lane does h = imul(rotl(h, 5) ^ w, odd).
 * Every step is a bijection of the lane state for a fixed word and of the word for a fixed
 * state, so a change to any single word, every single-bit flip among them, always changes the
 * result. Four independent lanes let the CPU overlap the multiplies: this runs at several GB/s,
 * which the dense-update path needs. Other corruptions slip through with probability about
 * 2^-32. Not a MAC: peers are authenticated by DTLS on the data channel; this only catches
 * corruption and buggy senders.
 */

const M = 0x9e3779b1; // odd, so multiplication by it is a bijection mod 2^32
export const CHECKSUM_SEED = 0x9747b28c;
const EXP_MASK = 0x7f80_0000;
const EXP_ONE = 0x0080_0000;

/** Running checksum state: four lanes and the number of words absorbed so far. */
export interface ChecksumState {
  h0: number;
  h1: number;
  h2: number;
  h3: number;
  words: number;
}

export const createChecksum = (): ChecksumState => ({
  h0: CHECKSUM_SEED,
  h1: CHECKSUM_SEED ^ 0x1111_1111,
  h2: CHECKSUM_SEED ^ 0x2222_2222,
  h3: CHECKSUM_SEED ^ 0x3333_3333,
  words: 0,
});

const step = (h: number, w: number): number => Math.imul(((h << 5) | (h >>> 27)) ^ w, M);

/** Absorbs one word into the lane its position selects. */
function absorbWord(s: ChecksumState, w: number): void {
  switch (s.words & 3) {
    case 0:
      s.h0 = step(s.h0, w);
      break;
    case 1:
      s.h1 = step(s.h1, w);
      break;
    case 2:
      s.h2 = step(s.h2, w);
      break;
    default:
      s.h3 = step(s.h3, w);
  }
  s.words++;
}

/**
 * Absorbs `words[from, to)`. With `finiteCheck`, also reports whether every word, read as a
 * float32, is finite (the decoder checks values while it sums them: one pass, not two).
 */
export function absorbWords(
  s: ChecksumState,
  words: Uint32Array,
  from: number,
  to: number,
  finiteCheck = false,
): boolean {
  let i = from;
  // Bring the lane counter to 0 so the unrolled loop can keep lanes in registers.
  let finite = true;
  while (i < to && (s.words & 3) !== 0) {
    const w = words[i++]!;
    if ((w & EXP_MASK) === EXP_MASK) finite = false;
    absorbWord(s, w);
  }
  let { h0, h1, h2, h3 } = s;
  const start4 = i;
  const end4 = i + ((to - i) & ~3);
  if (finiteCheck) {
    let bad = 0;
    for (; i < end4; i += 4) {
      const a = words[i]!;
      const b = words[i + 1]!;
      const c = words[i + 2]!;
      const d = words[i + 3]!;
      // (w & E) + 2^23 reaches 2^31 exactly when the exponent is all ones (Inf or NaN), and
      // stays below it otherwise, so OR-ing these sums flags a non-finite value without a branch.
      bad |= ((a & EXP_MASK) + EXP_ONE) | ((b & EXP_MASK) + EXP_ONE);
      bad |= ((c & EXP_MASK) + EXP_ONE) | ((d & EXP_MASK) + EXP_ONE);
      h0 = Math.imul(((h0 << 5) | (h0 >>> 27)) ^ a, M);
      h1 = Math.imul(((h1 << 5) | (h1 >>> 27)) ^ b, M);
      h2 = Math.imul(((h2 << 5) | (h2 >>> 27)) ^ c, M);
      h3 = Math.imul(((h3 << 5) | (h3 >>> 27)) ^ d, M);
    }
    if ((bad & 0x8000_0000) !== 0) finite = false;
  } else {
    for (; i < end4; i += 4) {
      h0 = Math.imul(((h0 << 5) | (h0 >>> 27)) ^ words[i]!, M);
      h1 = Math.imul(((h1 << 5) | (h1 >>> 27)) ^ words[i + 1]!, M);
      h2 = Math.imul(((h2 << 5) | (h2 >>> 27)) ^ words[i + 2]!, M);
      h3 = Math.imul(((h3 << 5) | (h3 >>> 27)) ^ words[i + 3]!, M);
    }
  }
  s.h0 = h0;
  s.h1 = h1;
  s.h2 = h2;
  s.h3 = h3;
  s.words += end4 - start4;
  return absorbRest(s, words, i, to, finite);
}

function absorbRest(
  s: ChecksumState,
  words: Uint32Array,
  from: number,
  to: number,
  finite: boolean,
): boolean {
  for (let i = from; i < to; i++) {
    const w = words[i]!;
    if ((w & EXP_MASK) === EXP_MASK) finite = false;
    absorbWord(s, w);
  }
  return finite;
}

/** Absorbs `bytes[from, to)` whatever their alignment; a 1-3 byte tail is padded and tagged. */
export function absorbBytes(s: ChecksumState, bytes: Uint8Array, from: number, to: number): void {
  const wordCount = (to - from) >>> 2;
  const abs = bytes.byteOffset + from;
  if ((abs & 3) === 0 && wordCount > 0) {
    absorbWords(s, new Uint32Array(bytes.buffer, abs, wordCount), 0, wordCount);
  } else {
    for (let i = 0; i < wordCount; i++) {
      const p = from + i * 4;
      absorbWord(
        s,
        (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24)) >>> 0,
      );
    }
  }
  const tail = from + wordCount * 4;
  if (tail < to) {
    let w = 0;
    for (let p = tail; p < to; p++) w |= bytes[p]! << ((p - tail) * 8);
    // The tail length is folded in too, so a shorter tail never collides with a zero byte.
    absorbWord(s, (w ^ ((to - tail) << 30)) >>> 0);
  }
}

const fmix = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
};

/** The final 32-bit value (u32). Each lane is finalised (a bijection) and the lanes combined. */
export function finishChecksum(s: ChecksumState): number {
  const lanes =
    fmix(s.h0) ^ fmix(s.h1 ^ 0x5bd1e995) ^ fmix(s.h2 ^ 0x27d4eb2f) ^ fmix(s.h3 ^ 0x165667b1);
  return fmix(lanes ^ s.words) >>> 0;
}

/** Checksum of `bytes[from, to)`. */
export function checksum(bytes: Uint8Array, from = 0, to = bytes.length): number {
  const s = createChecksum();
  absorbBytes(s, bytes, from, to);
  return finishChecksum(s);
}
