/**
 * The Ako baseline (Watcharapichat et al., SoCC '16): partial gradient exchange. The gradient
 * is cut into p balanced partitions; at step t each peer sends partition t mod p of the sum of
 * its last p gradients to every peer, with p just large enough for its uplink to keep up.
 */

import { PolicyError } from '../errors';
import { err, ok, type Result } from '../result';

/** A contiguous half-open range [start, end) of the flat parameter vector. */
export interface ParamRange {
  readonly start: number;
  readonly end: number;
}

function checkLayerSizes(layerSizes: readonly number[]): number {
  let total = 0;
  for (const size of layerSizes) {
    if (!Number.isInteger(size) || size < 0) {
      throw new PolicyError('bad-config', `layer sizes must be non-negative integers, got ${size}`);
    }
    total += size;
  }
  if (total === 0) throw new PolicyError('bad-config', 'the model has no parameters');
  return total;
}

/**
 * Cuts the flat vector (layers in order, each contiguous) into exactly min(p, P) contiguous,
 * non-empty partitions covering [0, P), as balanced as layers allow.
 *
 * Rule: cuts fall on layer boundaries, except that a layer larger than the ideal size P / p is
 * first cut into the fewest equal pieces no larger than P / p. Whole layers alone cannot honour
 * Ako's bandwidth bound when one layer dominates (a dense layer is often most of a small model)
 * or when p exceeds the layer count; a flat range costs the wire nothing extra (the codec's
 * 'range' encoding). Among cuts at those points, the largest partition is minimal (binary
 * search on the maximum with a greedy check), so it is at most about 2 P / p.
 */
export function partitionLayers(layerSizes: readonly number[], p: number): ParamRange[] {
  const total = checkLayerSizes(layerSizes);
  if (!Number.isInteger(p) || p < 1) {
    throw new PolicyError('bad-config', `partition count must be a positive integer, got ${p}`);
  }
  const parts = Math.min(p, total);

  // Units: whole layers, or equal pieces of a layer larger than total / parts.
  // ceil(size * parts / total) pieces per layer sum to at least `parts`, so every partition
  // gets at least one unit.
  const units: number[] = [];
  let largest = 0;
  for (const size of layerSizes) {
    if (size === 0) continue;
    const pieces = Math.ceil((size * parts) / total);
    const base = Math.floor(size / pieces);
    const extra = size - base * pieces;
    for (let k = 0; k < pieces; k++) units.push(base + (k < extra ? 1 : 0));
    largest = Math.max(largest, base + (extra > 0 ? 1 : 0));
  }

  // Fewest greedy partitions with no partition above `limit` (units are indivisible here).
  const partitionsNeeded = (limit: number): number => {
    let count = 1;
    let filled = 0;
    for (const u of units) {
      if (filled + u > limit) {
        count++;
        filled = 0;
      }
      filled += u;
    }
    return count;
  };
  let lo = Math.max(largest, Math.ceil(total / parts));
  let hi = total;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (partitionsNeeded(mid) <= parts) hi = mid;
    else lo = mid + 1;
  }
  const limit = lo;

  // Greedy fill up to `limit`, but leave at least one unit for every partition still to come,
  // so there are exactly `parts` partitions (greedy alone may need fewer).
  const ranges: ParamRange[] = [];
  let u = 0;
  let offset = 0;
  for (let k = 0; k < parts; k++) {
    const start = offset;
    const last = k === parts - 1;
    let filled = 0;
    while (u < units.length) {
      const size = units[u]!;
      const leftAfter = units.length - u - 1;
      if (!last && (filled + size > limit || leftAfter < parts - k - 1)) break;
      filled += size;
      offset += size;
      u++;
    }
    ranges.push({ start, end: offset });
  }
  return ranges;
}

export interface AkoPartitionInput {
  /** Live peers including this one. */
  readonly peers: number;
  /** Bytes of one dense update (the whole gradient). */
  readonly denseBytes: number;
  /**
   * This peer's uplink in bytes/s, shared by its N - 1 links. With only per-link estimates, pass
   * (N - 1) x the slowest link's: every link carries the same partition each step.
   */
  readonly bandwidthBytesPerSec: number;
  /** The current step time: a partition must reach every peer within one step. */
  readonly stepTimeMs: number;
  /** Upper bound on p (at most the parameter count; more partitions only delay values longer). */
  readonly maxP: number;
}

/**
 * Ako's partition count: the smallest p with (N - 1) S / p <= BW T, i.e.
 * p = clamp(ceil((N - 1) S / (BW T)), 1, maxP). An unknown (zero, negative, non-finite)
 * bandwidth or step time gives maxP: the cautious choice until measurements arrive.
 */
export function akoPartitionCount(input: AkoPartitionInput): number {
  const { peers, denseBytes, bandwidthBytesPerSec: bw, stepTimeMs, maxP } = input;
  if (!Number.isInteger(maxP) || maxP < 1) {
    throw new PolicyError('bad-config', `maxP must be a positive integer, got ${maxP}`);
  }
  if (!Number.isFinite(peers) || !Number.isFinite(denseBytes)) {
    throw new PolicyError('bad-config', 'peer count and dense size must be finite');
  }
  if (peers <= 1 || denseBytes <= 0) return 1;
  const bytesPerStep = bw * (stepTimeMs / 1000);
  if (!Number.isFinite(bytesPerStep) || !(bytesPerStep > 0)) return maxP;
  const p = Math.ceil(((peers - 1) * denseBytes) / bytesPerStep);
  return Math.min(maxP, Math.max(1, p));
}

/** A peer's Ako sender state: the sliding-sum accumulator and the current partitions. */
export interface AkoState {
  readonly layerSizes: readonly number[];
  /** Weighted gradients added since each entry's partition was last sent (P floats). */
  readonly acc: Float32Array;
  partitions: readonly ParamRange[];
}

/** Fresh Ako state with an empty accumulator and p partitions of the given layers. */
export function createAkoState(layerSizes: readonly number[], p: number): AkoState {
  const partitions = partitionLayers(layerSizes, p);
  const total = partitions[partitions.length - 1]!.end;
  return { layerSizes: [...layerSizes], acc: new Float32Array(total), partitions };
}

/**
 * Re-partitions for a new p (bandwidth or step time changed). The accumulator is kept as is:
 * nothing accumulated is lost, it is sent with whichever new partition now covers it.
 */
export function akoSetPartitionCount(state: AkoState, p: number): void {
  if (state.partitions.length === Math.min(p, state.acc.length)) return;
  state.partitions = partitionLayers(state.layerSizes, p);
}

/** What one Ako step sends to every peer: one partition's sliding sum. */
export interface AkoSend {
  /** Index of the partition (step mod p). */
  readonly partition: number;
  readonly partitionCount: number;
  readonly start: number;
  readonly end: number;
  /** acc[start, end): a copy, owned by the caller. */
  readonly values: Float32Array;
}

/**
 * One step: acc += weight * gradient, then partition (step mod p) is copied out and zeroed.
 * With consecutive steps each partition leaves once every p steps carrying the sum of the last
 * p weighted gradients on its range; every value is sent exactly once. Refuses non-finite input
 * (or a sum that would overflow) with the state unchanged.
 */
export function akoStep(
  state: AkoState,
  gradient: Float32Array,
  weight: number,
  step: number,
): Result<AkoSend, PolicyError> {
  const { acc } = state;
  if (gradient.length !== acc.length) {
    return err(
      new PolicyError('bad-input', `gradient of ${gradient.length}, expected ${acc.length}`),
    );
  }
  if (!Number.isSafeInteger(step) || step < 0) {
    return err(new PolicyError('bad-input', `step must be a non-negative integer, got ${step}`));
  }
  if (!Number.isFinite(weight)) return err(new PolicyError('bad-input', 'non-finite weight'));
  // Check before touching the state, so a refused gradient leaves no trace.
  for (let i = 0; i < acc.length; i++) {
    if (!Number.isFinite(Math.fround(acc[i]! + weight * gradient[i]!))) {
      return err(new PolicyError('bad-input', `non-finite gradient or overflow at index ${i}`));
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i]! += weight * gradient[i]!;

  const partitionCount = state.partitions.length;
  const partition = step % partitionCount;
  const { start, end } = state.partitions[partition]!;
  const values = acc.slice(start, end);
  acc.fill(0, start, end);
  return ok({ partition, partitionCount, start, end, values });
}
