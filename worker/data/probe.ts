/**
 * The DKT probe set (DESIGN.md 3.5): public images of the room dataset's test split that
 * every peer holds, the same on every peer, on which peers compare their models. On non-iid
 * shards each peer's own validation split follows its own classes, so losses measured there
 * cannot be compared; losses on one common probe can.
 *
 * The probe is disjoint from the test subset peers report accuracy on: probe images are
 * taken, spread evenly, from the indices that are 2 (mod 5) of the test split (for 10 000
 * images: 2, 22, 42, ...), and the test subset, spread evenly as before, steps
 * over any probe index it meets. For the sizes in use (1000 or 2000 of 10 000 images, a
 * stride of 10 or 5) the test subset never meets one, so it is unchanged.
 */

import { DataError } from './errors';

/** Probe images per peer: about 0.1 s of evaluation for the MLP on a CPU. */
export const PROBE_SAMPLES = 500;

const STRIDE = 5;
const OFFSET = 2;

const isProbeCandidate = (j: number) => j % STRIDE === OFFSET;

/** How many indices of a split of `count` images are 2 (mod 5). */
const candidatesIn = (count: number) =>
  count > OFFSET ? Math.floor((count - 1 - OFFSET) / STRIDE) + 1 : 0;

/** How many probe images a test split of `count` images gives (at most PROBE_SAMPLES). */
export function probeCount(count: number, n: number = PROBE_SAMPLES): number {
  return Math.max(0, Math.min(n, candidatesIn(count)));
}

/** Indices of the probe images in a test split of `count` images, ascending. */
export function probeIndices(count: number, n: number = PROBE_SAMPLES): Uint32Array {
  checkCount(count, n);
  const candidates = candidatesIn(count);
  const m = probeCount(count, n);
  return Uint32Array.from(
    { length: m },
    (_, i) => OFFSET + STRIDE * Math.floor((i * candidates) / m),
  );
}

/**
 * Indices of the `n` test images a peer reports on, spread evenly over the split and never a
 * probe image: a spread index that is one moves to the nearest free index. At most
 * count - (probe size) images: asking for more gives every image outside the probe.
 */
export function testIndices(count: number, n: number, probe: Uint32Array): Uint32Array {
  checkCount(count, n);
  const inProbe = new Set(probe);
  const room = count - inProbe.size;
  if (n >= room) {
    const all = new Uint32Array(room);
    let k = 0;
    for (let j = 0; j < count; j++) if (!inProbe.has(j)) all[k++] = j;
    return all;
  }
  const taken = new Set<number>();
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const j = Math.floor((i * count) / n);
    let pick = j;
    // Nearest free index: j + 1, j - 1, j + 2, ... (probe indices are never adjacent).
    for (let d = 1; inProbe.has(pick) || taken.has(pick); d++) {
      const up = j + d;
      const down = j - d;
      if (up < count && !inProbe.has(up) && !taken.has(up)) pick = up;
      else if (down >= 0 && !inProbe.has(down) && !taken.has(down)) pick = down;
      else if (up >= count && down < 0) {
        throw new DataError('bad-batch', `no free test index near ${j} of ${count}`);
      }
    }
    taken.add(pick);
    out[i] = pick;
  }
  return out.sort();
}

/** Whether index `j` of a test split can be a probe image (for tests and checks). */
export const mayBeProbe = isProbeCandidate;

function checkCount(count: number, n: number): void {
  if (!(Number.isSafeInteger(count) && count >= 0)) {
    throw new DataError('bad-batch', `test split size must be an integer >= 0, got ${count}`);
  }
  if (!(Number.isSafeInteger(n) && n >= 0)) {
    throw new DataError('bad-batch', `sample count must be an integer >= 0, got ${n}`);
  }
}
