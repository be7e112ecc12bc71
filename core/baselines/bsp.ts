/**
 * The synchronous baseline (`bsp`): equal batches, the whole weighted gradient to every peer,
 * lock-step (s = 0). These helpers give the weights and the reference average the runtime's
 * receiver-weighted merge must reproduce.
 */

import { PolicyError } from '../errors';

/**
 * Weight of one peer's mean gradient when all N peers hold equal batches: 1 / N. Where B is not
 * a multiple of N the batches differ by one sample; use bspWeights(batches) for the exact weights.
 */
export function bspWeight(peerCount: number): number {
  if (!Number.isInteger(peerCount) || peerCount < 1) {
    throw new PolicyError('bad-config', `peer count must be a positive integer, got ${peerCount}`);
  }
  return 1 / peerCount;
}

/**
 * w_i = b_i / sum b for every peer: scaling each peer's mean gradient by its w_i makes the sum
 * over peers the mean gradient over the global batch (DESIGN.md 3.1), equal batches or not.
 */
export function bspWeights(batches: readonly number[]): number[] {
  let total = 0;
  for (const b of batches) {
    if (!Number.isInteger(b) || b < 0) {
      throw new PolicyError('bad-config', `batch sizes must be non-negative integers, got ${b}`);
    }
    total += b;
  }
  if (total === 0) throw new PolicyError('bad-config', 'the global batch is empty');
  return batches.map((b) => b / total);
}

function checkLengths(updates: readonly Float32Array[], out: Float32Array): void {
  for (const u of updates) {
    if (u.length !== out.length) {
      throw new PolicyError('bad-input', `update of ${u.length} values, expected ${out.length}`);
    }
  }
}

/**
 * out = sum_j weights[j] * updates[j], accumulated in double precision per entry (one rounding
 * to f32), so the result does not depend on the order peers' updates arrived in.
 * Throws PolicyError on mismatched lengths: a caller bug, since the codec fixes every length to P.
 */
export function weightedSum(
  updates: readonly Float32Array[],
  weights: readonly number[],
  out: Float32Array,
): Float32Array {
  if (weights.length !== updates.length) {
    throw new PolicyError('bad-input', `${weights.length} weights for ${updates.length} updates`);
  }
  checkLengths(updates, out);
  const n = updates.length;
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += weights[j]! * updates[j]![i]!;
    out[i] = s;
  }
  return out;
}

/** out = the plain mean of the updates: the reference the weighted "add what arrives" merge must equal. */
export function averageUpdates(updates: readonly Float32Array[], out: Float32Array): Float32Array {
  if (updates.length === 0) throw new PolicyError('bad-input', 'no updates to average');
  checkLengths(updates, out);
  const n = updates.length;
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += updates[j]![i]!;
    out[i] = s / n;
  }
  return out;
}
