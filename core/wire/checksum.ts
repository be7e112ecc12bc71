/**
 * A 32-bit checksum for wire messages and frame headers (murmur3-style word mixing).
 * Every step is a bijection of the running state for a fixed input word, so a change to any
 * single 32-bit word (every single-bit flip among them) always changes the result; other
 * corruptions slip through with probability about 2^-32. Not a MAC: peers are authenticated by
 * DTLS on the data channel; this only catches corruption and buggy senders.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
export const CHECKSUM_SEED = 0x9747b28c;

const mixWord = (h: number, w: number): number => {
  let k = Math.imul(w, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
};

/** Folds the little-endian words of `words[from, to)` into state `h`. */
export function mixWords(h: number, words: Uint32Array, from: number, to: number): number {
  for (let i = from; i < to; i++) h = mixWord(h, words[i]!);
  return h;
}

/** Folds `bytes[from, to)` into state `h`, whatever their alignment; a 1-3 byte tail is padded. */
export function mixBytes(h: number, bytes: Uint8Array, from: number, to: number): number {
  const abs = bytes.byteOffset + from;
  const wordCount = (to - from) >>> 2;
  if ((abs & 3) === 0 && wordCount > 16) {
    h = mixWords(h, new Uint32Array(bytes.buffer, abs, wordCount), 0, wordCount);
  } else {
    for (let i = 0; i < wordCount; i++) {
      const p = from + i * 4;
      h = mixWord(
        h,
        bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24),
      );
    }
  }
  const tail = from + wordCount * 4;
  if (tail < to) {
    let w = 0;
    for (let p = tail; p < to; p++) w |= bytes[p]! << ((p - tail) * 8);
    // The tail length is folded in too, so a truncated tail never collides with a zero byte.
    h = mixWord(h, w ^ ((to - tail) << 30));
  }
  return h;
}

/** Final avalanche; `length` is mixed in so buffers that differ only by trailing zeros differ. */
export function finishChecksum(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Checksum of `bytes[from, to)`. */
export const checksum = (bytes: Uint8Array, from = 0, to = bytes.length): number =>
  finishChecksum(mixBytes(CHECKSUM_SEED, bytes, from, to), to - from);
