/**
 * Weighted dynamic batching (DESIGN.md 3.1): local batch sizes proportional to measured capacity,
 * the gradient weights that follow from them, and when to recompute them. Every peer runs the
 * same deterministic computation on the same inputs, so no coordinator is needed.
 */

import { PolicyError } from './errors';
import { comparePeerIds, type PeerId } from './ids';

/**
 * EWMA of capacity samples (samples per second of pure compute). A non-finite or negative sample
 * is ignored: the previous estimate is returned (undefined if there was none). The first valid
 * sample is taken as is.
 */
export function smoothCapacity(previous: number, sample: number, alpha?: number): number;
export function smoothCapacity(
  previous: number | undefined,
  sample: number,
  alpha?: number,
): number | undefined;
export function smoothCapacity(
  previous: number | undefined,
  sample: number,
  alpha = 0.3,
): number | undefined {
  if (!(alpha > 0 && alpha <= 1)) {
    throw new PolicyError('bad-config', `EWMA alpha must be in (0, 1], got ${alpha}`);
  }
  const prior = previous !== undefined && Number.isFinite(previous) ? previous : undefined;
  if (!(Number.isFinite(sample) && sample >= 0)) return prior;
  if (prior === undefined) return sample;
  return prior + alpha * (sample - prior);
}

export interface BatchConfig {
  /** B: the sum of the local batches. */
  readonly globalBatch: number;
  /** b_min: the smallest local batch a live peer gets. */
  readonly minBatch: number;
  /** b_max: the largest local batch a live peer gets. */
  readonly maxBatch: number;
}

export interface PeerCapacity {
  readonly id: PeerId;
  /** Smoothed samples per second; 0, negative or non-finite means "not measured". */
  readonly capacity: number;
}

const isCount = (n: number, min: number) => Number.isInteger(n) && n >= min;

function checkBatchConfig(cfg: BatchConfig): void {
  const { globalBatch, minBatch, maxBatch } = cfg;
  if (!isCount(globalBatch, 0) || !isCount(minBatch, 1) || !isCount(maxBatch, minBatch)) {
    throw new PolicyError(
      'bad-config',
      `need integers globalBatch >= 0 and 1 <= minBatch <= maxBatch, got ${globalBatch}, ${minBatch}, ${maxBatch}`,
    );
  }
}

function sortedUnique<T extends { readonly id: PeerId }>(items: readonly T[]): T[] {
  const sorted = [...items].sort((a, b) => comparePeerIds(a.id, b.id));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.id === sorted[i - 1]!.id) {
      throw new PolicyError('bad-input', `peer ${sorted[i]!.id} is listed twice`);
    }
  }
  return sorted;
}

/**
 * Water-filling: the real shares x_i = clamp(lambda c_i, lo, hi) with sum x = total, for
 * n lo < total < n hi and every c_i > 0. sum x is continuous and non-decreasing in lambda, and
 * linear between the breakpoints lo / c_i and hi / c_i, so find the segment where it crosses
 * total and solve for lambda there, with the peers clamped on that segment held fixed.
 */
function waterFill(capacities: readonly number[], total: number, lo: number, hi: number): number[] {
  const sumAt = (lambda: number) => {
    let s = 0;
    for (const c of capacities) s += Math.min(hi, Math.max(lo, lambda * c));
    return s;
  };
  const breakpoints = capacities.flatMap((c) => [lo / c, hi / c]).sort((a, b) => a - b);
  // sumAt(0) = n lo < total <= n hi = sumAt(last breakpoint): a crossing segment exists.
  let left = 0;
  let right = 0;
  for (const point of breakpoints) {
    if (point <= left) continue;
    right = point;
    if (sumAt(point) >= total) break;
    left = point;
  }
  // No breakpoint lies inside (left, right): each peer is clamped high, clamped low or free on
  // the whole segment, and at least one is free because the sum rises across it.
  let fixed = 0;
  let freeCapacity = 0;
  for (const c of capacities) {
    if (hi / c <= left) fixed += hi;
    else if (lo / c >= right) fixed += lo;
    else freeCapacity += c;
  }
  const lambda = (total - fixed) / freeCapacity;
  return capacities.map((c) => Math.min(hi, Math.max(lo, lambda * c)));
}

/**
 * Integer batches from real shares that sum to `total`: floors, then the remainder one by one to
 * the largest fractional parts (ties: lowest id, i.e. the earliest in the sorted order), within
 * [lo, hi]. Float error in the shares can leave the floors a unit off either way; both directions
 * are corrected.
 */
function largestRemainder(shares: readonly number[], total: number, lo: number, hi: number) {
  const batches = shares.map((x) => Math.min(hi, Math.max(lo, Math.floor(x))));
  let remainder = total - batches.reduce((a, b) => a + b, 0);
  const byFraction = shares
    .map((x, i) => ({ i, frac: x - Math.floor(x) }))
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  while (remainder > 0) {
    const before = remainder;
    for (const { i } of byFraction) {
      if (remainder === 0) break;
      if (batches[i]! < hi) {
        batches[i]!++;
        remainder--;
      }
    }
    if (remainder === before) break;
  }
  while (remainder < 0) {
    const before = remainder;
    for (let j = byFraction.length - 1; j >= 0 && remainder < 0; j--) {
      const i = byFraction[j]!.i;
      if (batches[i]! > lo) {
        batches[i]!--;
        remainder++;
      }
    }
    if (remainder === before) break;
  }
  return batches;
}

/**
 * Local batch per peer: b_i = clamp(round(B c_i / sum c), b_min, b_max), rounded by the largest
 * remainder method so that sum b = B, with the clamping done as a water-filling so the sum still
 * holds whenever n b_min <= B <= n b_max. Infeasible budgets saturate: every peer gets b_min when
 * B < n b_min, b_max when B > n b_max (the sum then differs from B). A peer whose capacity is 0,
 * negative or non-finite (not yet measured) counts as the slowest measured peer; with no measured
 * peer at all the split is equal. Capacities are read as float32, the precision the wire carries.
 * The result does not depend on the order of `peers`.
 *
 * @example assignBatches([{ id: a, capacity: 300 }, { id: b, capacity: 100 }],
 *   { globalBatch: 128, minBatch: 8, maxBatch: 256 }) // a -> 96, b -> 32
 */
export function assignBatches(
  peers: readonly PeerCapacity[],
  cfg: BatchConfig,
): Map<PeerId, number> {
  checkBatchConfig(cfg);
  const { globalBatch, minBatch, maxBatch } = cfg;
  const sorted = sortedUnique(peers);
  const n = sorted.length;
  const result = new Map<PeerId, number>();
  if (n === 0) return result;
  if (globalBatch <= n * minBatch || globalBatch >= n * maxBatch) {
    const each = globalBatch <= n * minBatch ? minBatch : maxBatch;
    for (const p of sorted) result.set(p.id, each);
    return result;
  }
  const measured = (c: number) => Number.isFinite(c) && c > 0;
  // Capacities travel as float32 in update headers (and as doubles in heartbeats): rounding
  // every one to float32 first makes a peer's own double and its peers' decoded copy give
  // the same batches, so no remainder goes two ways across the mesh.
  const wire = sorted.map((p) => Math.fround(p.capacity));
  let slowest = Number.POSITIVE_INFINITY;
  for (const c of wire) if (measured(c)) slowest = Math.min(slowest, c);
  if (slowest === Number.POSITIVE_INFINITY) slowest = 1;
  const capacities = wire.map((c) => (measured(c) ? c : slowest));
  const shares = waterFill(capacities, globalBatch, minBatch, maxBatch);
  const batches = largestRemainder(shares, globalBatch, minBatch, maxBatch);
  sorted.forEach((p, i) => {
    result.set(p.id, batches[i]!);
  });
  return result;
}

/** Equal split of `globalBatch` for the baselines; the remainder goes to the lowest ids. */
export function assignEqualBatches(
  ids: readonly PeerId[],
  globalBatch: number,
): Map<PeerId, number> {
  if (!isCount(globalBatch, 0)) {
    throw new PolicyError(
      'bad-config',
      `globalBatch must be a non-negative integer, got ${globalBatch}`,
    );
  }
  const sorted = sortedUnique(ids.map((id) => ({ id })));
  const result = new Map<PeerId, number>();
  const n = sorted.length;
  if (n === 0) return result;
  const base = Math.floor(globalBatch / n);
  const extra = globalBatch - base * n;
  sorted.forEach(({ id }, i) => {
    result.set(id, base + (i < extra ? 1 : 0));
  });
  return result;
}

/**
 * Gradient weights w_i = b_i / sum b: each peer scales its mean gradient by its weight, so the
 * sum of what everyone sends is the mean gradient over the global batch. All 0 if sum b is 0.
 */
export function batchWeights(batches: ReadonlyMap<PeerId, number>): Map<PeerId, number> {
  let total = 0;
  for (const b of batches.values()) if (Number.isFinite(b) && b > 0) total += b;
  const result = new Map<PeerId, number>();
  for (const [id, b] of batches) {
    result.set(id, total > 0 && Number.isFinite(b) && b > 0 ? b / total : 0);
  }
  return result;
}

/** What the last rebalance was computed from; undefined fields mean there has been none. */
export interface RebalanceState {
  readonly lastStep: number | undefined;
  readonly membershipVersion: number | undefined;
  readonly capacities: ReadonlyMap<PeerId, number>;
}

export interface RebalanceInput {
  /** The step about to start. */
  readonly step: number;
  /** Current smoothed capacity of every live peer (self included), by id. */
  readonly capacities: ReadonlyMap<PeerId, number>;
  /** Bumped by the caller whenever the live set changes. */
  readonly membershipVersion: number;
}

export interface RebalanceConfig {
  /** R: recompute at least every this many steps (about 20). */
  readonly every: number;
  /** Recompute when a capacity moved by more than this fraction since the last time (0.2). */
  readonly shiftThreshold: number;
}

export type RebalanceReason = 'initial' | 'membership' | 'capacity-shift' | 'periodic';

export type RebalanceDecision =
  | { readonly rebalance: false; readonly reason?: undefined }
  | { readonly rebalance: true; readonly reason: RebalanceReason };

/** The state before any rebalance: the first shouldRebalance call says 'initial'. */
export function createRebalanceState(): RebalanceState {
  return { lastStep: undefined, membershipVersion: undefined, capacities: new Map() };
}

/** The state after rebalancing with `input`: remembers its step, membership and capacities. */
export function recordRebalance(input: RebalanceInput): RebalanceState {
  return {
    lastStep: input.step,
    membershipVersion: input.membershipVersion,
    capacities: new Map(input.capacities),
  };
}

function shifted(before: number, now: number, threshold: number): boolean {
  if (!Number.isFinite(now)) return false; // no new evidence
  if (!(Number.isFinite(before) && before > 0)) return now > 0; // first real measurement
  return Math.abs(now - before) > threshold * before;
}

/**
 * Whether batches must be recomputed before this step, and why. Reasons are checked in the order
 * initial, membership (version changed or the set of ids differs), capacity-shift (any peer moved
 * by more than shiftThreshold relative to the capacity used last time), periodic (`every` steps
 * since the last one, or a step counter that went backwards, e.g. after a restore). Pure: call
 * recordRebalance with the same input after acting on a positive decision.
 */
export function shouldRebalance(
  state: RebalanceState,
  input: RebalanceInput,
  cfg: RebalanceConfig,
): RebalanceDecision {
  if (!isCount(cfg.every, 1) || !(Number.isFinite(cfg.shiftThreshold) && cfg.shiftThreshold >= 0)) {
    throw new PolicyError(
      'bad-config',
      `need an integer every >= 1 and a finite shiftThreshold >= 0, got ${cfg.every}, ${cfg.shiftThreshold}`,
    );
  }
  if (state.lastStep === undefined) return { rebalance: true, reason: 'initial' };
  const before = state.capacities;
  const now = input.capacities;
  const sameMembers =
    state.membershipVersion === input.membershipVersion &&
    before.size === now.size &&
    [...now.keys()].every((id) => before.has(id));
  if (!sameMembers) return { rebalance: true, reason: 'membership' };
  for (const [id, c] of now) {
    if (shifted(before.get(id)!, c, cfg.shiftThreshold)) {
      return { rebalance: true, reason: 'capacity-shift' };
    }
  }
  if (input.step - state.lastStep >= cfg.every || input.step < state.lastStep) {
    return { rebalance: true, reason: 'periodic' };
  }
  return { rebalance: false };
}
