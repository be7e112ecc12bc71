/**
 * Exact top-k by magnitude in linear time: a radix select on the IEEE-754 bits of |x|, used by
 * the per-link prioritizer every step on every link, so it never sorts and allocates nothing
 * P-sized once its scratch has grown.
 */

/**
 * Reusable working memory for selectTopK. The candidate buffers grow on demand (to the largest
 * bucket seen so far), so one scratch per thread, reused across calls, reaches a steady state
 * with no allocation except the k-sized result.
 */
export interface TopKScratch {
  /** Digit histogram (2^11 buckets). */
  readonly histogram: Uint32Array;
  /** |x| bits of the entries in the bucket that holds the threshold. */
  candidateBits: Uint32Array;
  /** Their indices, ascending; reused in place for the selected candidates. */
  candidateIndices: Uint32Array;
}

// The magnitude bits of a finite float are 31 bits (sign cleared): 11 + 10 + 10 radix digits.
const TOP_BITS = 11;
const TOP_SHIFT = 31 - TOP_BITS;
const LOW_BITS = 10;
const LOW_MASK = (1 << LOW_BITS) - 1;
const ABS_MASK = 0x7fffffff;

/** Working memory for selectTopK with room for `capacity` threshold-bucket candidates up front. */
export function createTopKScratch(capacity = 0): TopKScratch {
  const size = Math.max(0, Math.floor(Number.isFinite(capacity) ? capacity : 0));
  return {
    histogram: new Uint32Array(1 << TOP_BITS),
    candidateBits: new Uint32Array(size),
    candidateIndices: new Uint32Array(size),
  };
}

function ensureCandidates(scratch: TopKScratch, count: number): void {
  if (scratch.candidateBits.length >= count) return;
  // Grow geometrically so a slowly drifting distribution does not reallocate every step.
  const size = Math.max(count, Math.ceil(scratch.candidateBits.length * 1.5));
  scratch.candidateBits = new Uint32Array(size);
  scratch.candidateIndices = new Uint32Array(size);
}

/**
 * The bucket holding the `need`-th largest key, scanning `hist[0..buckets)` from the top, and how
 * many counted entries lie in strictly higher buckets.
 */
function findBucket(
  hist: Uint32Array,
  buckets: number,
  need: number,
): { bucket: number; above: number } {
  let above = 0;
  let b = buckets - 1;
  for (; b > 0; b--) {
    const h = hist[b]!;
    if (above + h >= need) break;
    above += h;
  }
  return { bucket: b, above };
}

/**
 * Indices of the k entries of largest |value|, in ascending index order; ties at the threshold
 * magnitude go to the lowest indices, so the result is deterministic (+0 and -0 are equal).
 * k <= 0 gives an empty array, k >= length every index. Values must be finite (NaN has no rank).
 *
 * @example selectTopK(Float32Array.of(0.1, -3, 2, 0.5), 2) // Uint32Array [1, 2]
 */
export function selectTopK(values: Float32Array, k: number, scratch?: TopKScratch): Uint32Array {
  const n = values.length;
  const want = Math.floor(k);
  if (!(want > 0) || n === 0) return new Uint32Array(0);
  if (want >= n) {
    const all = new Uint32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  const s = scratch ?? createTopKScratch();
  const hist = s.histogram;
  // For non-negative floats the uint32 bit order equals the numeric order.
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);

  // Pass 1 over P: histogram of the top 11 magnitude bits.
  hist.fill(0);
  for (let i = 0; i < n; i++) {
    const key = (bits[i]! & ABS_MASK) >>> TOP_SHIFT;
    hist[key] = hist[key]! + 1;
  }
  const top = findBucket(hist, 1 << TOP_BITS, want);
  const bucket1 = top.bucket;
  const candidateCount = hist[bucket1]!;
  ensureCandidates(s, candidateCount);
  const cBits = s.candidateBits;
  const cIdx = s.candidateIndices;

  // Pass 2 over P: entries in higher buckets are in for sure (emitted in index order); the
  // threshold bucket's entries become candidates.
  const out = new Uint32Array(want);
  let sure = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const v = bits[i]! & ABS_MASK;
    const key = v >>> TOP_SHIFT;
    if (key > bucket1) {
      out[sure++] = i;
    } else if (key === bucket1) {
      cBits[c] = v;
      cIdx[c] = i;
      c++;
    }
  }
  const need = want - sure;

  let selected = need;
  if (need < c) {
    // Refine on the two lower 10-bit digits, over the candidates only.
    hist.fill(0, 0, 1 << LOW_BITS);
    for (let j = 0; j < c; j++) {
      const key = (cBits[j]! >>> LOW_BITS) & LOW_MASK;
      hist[key] = hist[key]! + 1;
    }
    const mid = findBucket(hist, 1 << LOW_BITS, need);
    hist.fill(0, 0, 1 << LOW_BITS);
    for (let j = 0; j < c; j++) {
      const v = cBits[j]!;
      if (((v >>> LOW_BITS) & LOW_MASK) === mid.bucket) {
        const key = v & LOW_MASK;
        hist[key] = hist[key]! + 1;
      }
    }
    const low = findBucket(hist, 1 << LOW_BITS, need - mid.above);
    const threshold = ((bucket1 << TOP_SHIFT) | (mid.bucket << LOW_BITS) | low.bucket) >>> 0;
    // Everything above the threshold is in; of the entries equal to it, the lowest indices.
    let equalBudget = need - mid.above - low.above;
    selected = 0;
    for (let j = 0; j < c; j++) {
      const v = cBits[j]!;
      if (v > threshold || (v === threshold && equalBudget-- > 0)) {
        cIdx[selected++] = cIdx[j]!;
      }
    }
  }

  // Merge the two ascending runs (sure entries, selected candidates) from the back, in place.
  let a = sure - 1;
  let b = selected - 1;
  let w = want - 1;
  while (b >= 0) {
    const fromCandidates = cIdx[b]!;
    if (a >= 0 && out[a]! > fromCandidates) out[w--] = out[a--]!;
    else {
      out[w--] = fromCandidates;
      b--;
    }
  }
  return out;
}
