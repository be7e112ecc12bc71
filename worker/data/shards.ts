/**
 * A peer's private data shard (DESIGN.md 6): which sample indices it trains on and which it
 * holds out for validation, computed by every peer alone from (seed, peer index, peer count).
 *
 * No coordination: every peer draws the same seeded permutations and Dirichlet proportions
 * for the whole dataset, then keeps its own part, so the shards of one run are disjoint.
 */

import { err, mulberry32, ok, type Result, type Sharding } from '../../core';
import { DataError } from './errors';

export type ShardOptions = {
  /** The training set's labels, one per sample; indices in the shard point into this. */
  readonly labels: Uint8Array | Uint16Array;
  readonly classes: number;
  /** The room's seed: equal on every peer of a run. */
  readonly seed: number;
  readonly peerIndex: number;
  readonly peerCount: number;
  readonly sharding: Sharding;
  /** Share of the shard held out for validation, in [0, 0.5]. */
  readonly validationFraction: number;
};

/** Indices into the dataset, each list ascending; the trainer shuffles per epoch. */
export type Shard = {
  readonly train: Uint32Array;
  readonly validation: Uint32Array;
  /** Samples per class in train + validation. */
  readonly classCounts: number[];
};

// Independent random streams, so that one kind's draws never shift another's.
const STREAM_IID = 1;
const STREAM_CLASS_ORDER = 2;
const STREAM_CLASS_OFFSET = 3;
const STREAM_DIRICHLET = 4;
const STREAM_VALIDATION = 5;

/**
 * The shard of peer `peerIndex` out of `peerCount`. Deterministic: the same options give
 * the same shard on every machine.
 * - iid: one seeded permutation of all samples, cut into peerCount contiguous slices whose
 *   sizes differ by at most one.
 * - classes: the peer holds `peerClasses(...)`; each class's samples (seeded order) are
 *   split evenly among the peers that hold it. Classes no peer holds go unused.
 * - dirichlet: per class, proportions over peers from Dirichlet(alpha); the class's samples
 *   (seeded order) are cut by the cumulative proportions. Small alpha is skewed, large
 *   alpha near iid; a peer may draw nothing, which is 'bad-shard' (pick another seed).
 * Validation: max(1, round(fraction * size)) of the shard's own samples when fraction > 0
 * (at least one, so that every peer can evaluate), a seeded subset; the rest is train.
 */
export function makeShard(options: ShardOptions): Result<Shard, DataError> {
  const invalid = checkOptions(options);
  if (invalid !== undefined) return err(new DataError('bad-shard', invalid));
  const { labels, classes, peerIndex, peerCount, sharding } = options;
  const seed = options.seed >>> 0;

  let own: Uint32Array;
  if (sharding.kind === 'iid') {
    const order = identity(labels.length);
    shuffle(order, mulberry32(streamSeed(seed, STREAM_IID, 0)));
    own = order.slice(
      sliceStart(labels.length, peerCount, peerIndex),
      sliceStart(labels.length, peerCount, peerIndex + 1),
    );
  } else {
    const byClass = groupByClass(labels, classes);
    for (let k = 0; k < classes; k++) {
      shuffle(byClass.members(k), mulberry32(streamSeed(seed, STREAM_CLASS_ORDER, k)));
    }
    own =
      sharding.kind === 'classes'
        ? classesPart(byClass, seed, peerIndex, peerCount, classes, sharding.classesPerPeer)
        : dirichletPart(byClass, seed, peerIndex, peerCount, classes, sharding.alpha);
  }
  if (own.length === 0) {
    return err(
      new DataError(
        'bad-shard',
        `peer ${peerIndex} of ${peerCount} draws no samples (${describe(sharding)})`,
      ),
    );
  }

  const size = own.length;
  const held =
    options.validationFraction > 0 ? Math.max(1, Math.round(options.validationFraction * size)) : 0;
  if (size - held < 1) {
    return err(
      new DataError(
        'bad-shard',
        `peer ${peerIndex} holds ${size} samples: none left to train on after validation`,
      ),
    );
  }
  // Partial Fisher-Yates: the first `held` positions become a uniform random subset.
  const rng = mulberry32(streamSeed(seed, STREAM_VALIDATION, peerIndex));
  for (let i = 0; i < held; i++) {
    const j = i + Math.floor(rng() * (size - i));
    const t = own[i]!;
    own[i] = own[j]!;
    own[j] = t;
  }
  const validation = own.slice(0, held).sort();
  const train = own.slice(held).sort();

  const classCounts = new Array<number>(classes).fill(0);
  for (let i = 0; i < size; i++) classCounts[labels[own[i]!]!]! += 1;
  return ok({ train, validation, classCounts });
}

/**
 * The classes peer `peerIndex` holds under 'classes' sharding: classesPerPeer consecutive
 * classes (mod classes) starting at peerIndex * classesPerPeer + offset, with a seeded
 * offset. Consecutive peers tile the classes in order, so peers 0..P-1 together hold
 * min(classes, P * classesPerPeer) distinct classes: every class is held as soon as
 * peerCount * classesPerPeer >= classes, and the load per class differs by at most one
 * holder around the ring. Ascending.
 */
export function peerClasses(
  seed: number,
  peerIndex: number,
  classes: number,
  classesPerPeer: number,
): number[] {
  const offset = Math.floor(mulberry32(streamSeed(seed >>> 0, STREAM_CLASS_OFFSET, 0))() * classes);
  const held: number[] = [];
  for (let j = 0; j < classesPerPeer; j++)
    held.push((peerIndex * classesPerPeer + j + offset) % classes);
  return held.sort((a, b) => a - b);
}

/**
 * One draw from Dirichlet(alpha, ..., alpha) over k components, summing to 1.
 * Computed from log-gamma draws, so that alpha far below 1 (where Gamma(alpha) samples
 * underflow to 0) still gives a proper, if extremely skewed, vector.
 */
export function sampleDirichlet(alpha: number, k: number, rng: () => number): Float64Array {
  const logs = new Float64Array(k);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < k; i++) {
    logs[i] = logGamma(alpha, rng);
    if (logs[i]! > max) max = logs[i]!;
  }
  if (max === Number.NEGATIVE_INFINITY) {
    // Every draw underflowed even in logs (alpha near 1e-308): take the alpha -> 0 limit,
    // where one uniformly chosen component holds everything.
    logs.fill(0);
    logs[Math.floor(rng() * k)] = 1;
    return logs;
  }
  let sum = 0;
  for (let i = 0; i < k; i++) {
    logs[i] = Math.exp(logs[i]! - max);
    sum += logs[i]!;
  }
  for (let i = 0; i < k; i++) logs[i] = logs[i]! / sum;
  return logs;
}

/** The peer's samples under 'classes' sharding: its share of each class it holds. */
function classesPart(
  byClass: ClassGroups,
  seed: number,
  peerIndex: number,
  peerCount: number,
  classes: number,
  classesPerPeer: number,
): Uint32Array {
  // holders[k]: the peers that hold class k, ascending; this peer's rank among them picks
  // its slice of the class.
  const holders: number[][] = Array.from({ length: classes }, () => []);
  for (let p = 0; p < peerCount; p++) {
    for (const k of peerClasses(seed, p, classes, classesPerPeer)) holders[k]!.push(p);
  }
  const parts: Uint32Array[] = [];
  for (const k of peerClasses(seed, peerIndex, classes, classesPerPeer)) {
    const members = byClass.members(k);
    const owners = holders[k]!;
    const rank = owners.indexOf(peerIndex);
    parts.push(
      members.subarray(
        sliceStart(members.length, owners.length, rank),
        sliceStart(members.length, owners.length, rank + 1),
      ),
    );
  }
  return concat(parts);
}

/** The peer's samples under 'dirichlet' sharding: per class, its cut of the proportions. */
function dirichletPart(
  byClass: ClassGroups,
  seed: number,
  peerIndex: number,
  peerCount: number,
  classes: number,
  alpha: number,
): Uint32Array {
  const parts: Uint32Array[] = [];
  for (let k = 0; k < classes; k++) {
    const members = byClass.members(k);
    const shares = sampleDirichlet(
      alpha,
      peerCount,
      mulberry32(streamSeed(seed, STREAM_DIRICHLET, k)),
    );
    // Cut points round the cumulative share, so the cuts are monotone, the last is exactly
    // the class size, and the parts are disjoint and cover the class whatever the rounding.
    let before = 0;
    for (let p = 0; p < peerIndex; p++) before += shares[p]!;
    const start = Math.round(before * members.length);
    const end =
      peerIndex === peerCount - 1
        ? members.length
        : Math.round((before + shares[peerIndex]!) * members.length);
    parts.push(members.subarray(start, Math.max(start, Math.min(end, members.length))));
  }
  return concat(parts);
}

/** Log of one Gamma(alpha, 1) draw: Marsaglia-Tsang, with the boost for alpha < 1. */
function logGamma(alpha: number, rng: () => number): number {
  if (alpha < 1) {
    // Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha); in logs, so U^(1/alpha) cannot underflow.
    return logGamma(alpha + 1, rng) + Math.log(1 - rng()) / alpha;
  }
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng(); // in (0, 1], so its log is finite
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d * v);
  }
}

/** A standard normal draw (Box-Muller, one of the pair). */
function normal(rng: () => number): number {
  const u = 1 - rng(); // (0, 1]: log(u) finite
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Sample indices grouped by class (counting sort, ascending within a class). */
type ClassGroups = { readonly members: (k: number) => Uint32Array };

function groupByClass(labels: Uint8Array | Uint16Array, classes: number): ClassGroups {
  const start = new Uint32Array(classes + 1);
  for (let i = 0; i < labels.length; i++) start[labels[i]! + 1]! += 1;
  for (let k = 0; k < classes; k++) start[k + 1]! += start[k]!;
  const fill = start.slice(0, classes);
  const order = new Uint32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i]!;
    order[fill[k]!] = i;
    fill[k]! += 1;
  }
  return { members: (k) => order.subarray(start[k]!, start[k + 1]!) };
}

/** Fisher-Yates in place with the given generator. */
function shuffle(values: Uint32Array, rng: () => number): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = values[i]!;
    values[i] = values[j]!;
    values[j] = t;
  }
}

/** A seeded Fisher-Yates permutation of 0..n-1 (the trainer's epoch order, own-data splits). */
export function permutation(n: number, rng: () => number): Uint32Array {
  const order = identity(n);
  shuffle(order, rng);
  return order;
}

const identity = (n: number): Uint32Array => {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
};

/** Start of slice `part` when n items are cut into `parts` near-equal contiguous slices. */
const sliceStart = (n: number, parts: number, part: number): number =>
  Math.floor((part * n) / parts);

const concat = (parts: readonly Uint32Array[]): Uint32Array => {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint32Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** A 32-bit seed for stream `stream`, item `index` of the run seed (murmur3-style mixing). */
function streamSeed(seed: number, stream: number, index: number): number {
  let h = seed ^ Math.imul(stream, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Why the options cannot give a shard, or undefined when they can. */
function checkOptions(o: ShardOptions): string | undefined {
  if (!(Number.isInteger(o.peerCount) && o.peerCount >= 1))
    return `peerCount ${o.peerCount} must be an integer >= 1`;
  if (!(Number.isInteger(o.peerIndex) && o.peerIndex >= 0 && o.peerIndex < o.peerCount)) {
    return `peerIndex ${o.peerIndex} is not in 0..${o.peerCount - 1}`;
  }
  if (!(Number.isInteger(o.classes) && o.classes >= 1 && o.classes <= 256)) {
    return `classes ${o.classes} must be an integer in 1..256`;
  }
  if (!Number.isInteger(o.seed)) return `seed ${o.seed} must be an integer`;
  if (!(o.validationFraction >= 0 && o.validationFraction <= 0.5)) {
    return `validationFraction ${o.validationFraction} is not in [0, 0.5]`;
  }
  if (o.labels.length === 0) return 'no labels: the dataset is empty';
  for (let i = 0; i < o.labels.length; i++) {
    if (o.labels[i]! >= o.classes)
      return `label ${o.labels[i]} at ${i} is not in 0..${o.classes - 1}`;
  }
  const s = o.sharding;
  if (
    s.kind === 'classes' &&
    !(Number.isInteger(s.classesPerPeer) && s.classesPerPeer >= 1 && s.classesPerPeer <= o.classes)
  ) {
    return `classesPerPeer ${s.classesPerPeer} is not in 1..${o.classes}`;
  }
  if (s.kind === 'dirichlet' && !(Number.isFinite(s.alpha) && s.alpha > 0)) {
    return `dirichlet alpha ${s.alpha} must be finite and > 0`;
  }
  return undefined;
}

const describe = (s: Sharding): string =>
  s.kind === 'iid'
    ? 'iid'
    : s.kind === 'classes'
      ? `classes, ${s.classesPerPeer} per peer`
      : `dirichlet, alpha ${s.alpha}`;
