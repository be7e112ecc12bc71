/**
 * Robust aggregation (DESIGN.md 10): the norm a receiver bounds each arriving update by. Pure.
 *
 * What is clipped: one update as it arrives (a step's contribution of one sender, in units of
 * its mean gradient), before the receiver weighs it; never a residual, which stays with its
 * sender. The bound is `factor` times a reference: the lower median of the latest norms of
 * every peer the step counts, the receiver's own gradient included. A hostile peer adds one
 * value to that median, so it can move the bound by one rank at most; alone with one honest
 * peer, the lower median of the two is the smaller.
 *
 * Sparse updates: DLion's per-link exchange sends the largest m of P entries, and the residual
 * carries the rest to later steps. In steady state such a message carries about one step's
 * mass in m entries, so its L2 norm is about sqrt(P / m) times a dense step's. The norm that is
 * compared is therefore the L2 norm times sqrt(m / P) (`updateNorm`), which puts a dense update,
 * a top-k of 1% and Ako's range of 1/256 of the model on one scale.
 */

import type { RoomConfig } from './protocol';
import type { UpdatePayload } from './wire/codec';

/** The clipping factor when a room sets none: 4 for DLion and its ablations, off otherwise. */
export const DEFAULT_CLIP_FACTOR = 4;

/**
 * A sender's history (UpdateHistory) is bounded by this fraction of the clipping factor times
 * the median history: the whole of it, so 4 x by default. Measured on `both` (sim, one run
 * each): half of it (2 x) cost an honest run 2.5 points of accuracy at 40 s (0.939 against
 * 0.964 unclipped), the whole 0.3 points (0.961); both held a steady push in `quick`.
 */
export const HISTORY_FACTOR_RATIO = 1;

/** The room's clipping factor: its `clipFactor`, or the strategy's default. */
export const clipFactorOf = (config: Pick<RoomConfig, 'clipFactor' | 'strategy'>): number =>
  config.clipFactor ?? (config.strategy.startsWith('dlion') ? DEFAULT_CLIP_FACTOR : 0);

/** L2 norm of `values`, summed in float64. */
export function l2Norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! * values[i]!;
  return Math.sqrt(s);
}

/**
 * The norm an update is bounded by: its entries' L2 norm times sqrt(m / P), m the entries it
 * carries of the model's P (see the header).
 * @example updateNorm({ encoding: 'dense', values: new Float32Array([3, 4]) }, 2) // 5
 */
export function updateNorm(payload: UpdatePayload, paramCount: number): number {
  const m = payload.values.length;
  if (m === 0 || !(paramCount > 0)) return 0;
  return l2Norm(payload.values) * Math.sqrt(Math.min(1, m / paramCount));
}

/** The lower median of `values` (the smaller middle one of an even count); 0 for none. */
export function lowerMedian(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v) && v >= 0).sort((a, b) => a - b);
  if (finite.length === 0) return 0;
  return finite[(finite.length - 1) >> 1]!;
}

/**
 * The factor (at most 1) by which an update of norm `norm` is scaled so that it is at most
 * `factor` x `reference`. 1 when clipping is off (factor 0), before any reference, or within
 * the bound.
 * @example clipScale(10, 1, 4) // 0.4
 */
export function clipScale(norm: number, reference: number, factor: number): number {
  if (!(factor > 0) || !(reference > 0) || !(norm > factor * reference)) return 1;
  return (factor * reference) / norm;
}

/**
 * A sender's history: the exponential moving average of the updates it sent (each scaled by
 * sqrt(m / P), as `updateNorm` measures them), kept lazily as scale x u so that a sparse update
 * costs its m entries, not P. Honest gradients are mostly noise step to step, and their
 * average is short; a peer that pushes one direction step after step (a bias, or a model it
 * wants) has a long one. Bounding a sender's average by the median of the others' bounds
 * what it can push over many steps, where bounding single updates cannot (Karimireddy, He and
 * Jaggi, "Learning from History for Byzantine Robust Optimization", ICML 2021, clip the
 * workers' momenta for the same reason).
 */
export interface UpdateHistory {
  readonly u: Float32Array;
  scale: number;
  /** sum of u_i^2, in float64, kept up to date entry by entry. */
  sumSquares: number;
}

/** The weight of the newest update in the average: 0.1, about the last ten updates. */
export const HISTORY_GAIN = 0.1;

export const createUpdateHistory = (paramCount: number): UpdateHistory => ({
  u: new Float32Array(paramCount),
  scale: 1,
  sumSquares: 0,
});

/** The history's L2 norm. */
export const historyNorm = (h: UpdateHistory): number => h.scale * Math.sqrt(h.sumSquares);

/**
 * Decays the history by 1 - HISTORY_GAIN and adds HISTORY_GAIN times the update, scaled by
 * sqrt(m / P). Costs the update's entries (plus, every few hundred updates, one pass over P).
 */
export function addToHistory(h: UpdateHistory, payload: UpdatePayload, paramCount: number): void {
  const u = h.u;
  h.scale *= 1 - HISTORY_GAIN;
  if (h.scale < 1e-20) {
    // Fold the scale in before it underflows.
    let s = 0;
    for (let i = 0; i < u.length; i++) {
      u[i] = u[i]! * h.scale;
      s += u[i]! * u[i]!;
    }
    h.scale = 1;
    h.sumSquares = s;
  }
  const m = payload.values.length;
  if (m === 0 || !(paramCount > 0)) return;
  const k = (HISTORY_GAIN * Math.sqrt(Math.min(1, m / paramCount))) / h.scale;
  const v = payload.values;
  let s = h.sumSquares;
  const add = (i: number, x: number) => {
    const old = u[i]!;
    const next = Math.fround(old + k * x);
    u[i] = next;
    s += next * next - old * old;
  };
  if (payload.encoding === 'dense') for (let i = 0; i < m; i++) add(i, v[i]!);
  else if (payload.encoding === 'range') for (let i = 0; i < m; i++) add(payload.start + i, v[i]!);
  else for (let i = 0; i < m; i++) add(payload.indices[i]!, v[i]!);
  h.sumSquares = Math.max(0, s);
}

/**
 * The coordinate-wise median of equally long vectors (the mean of the two middle values for
 * an even count): how a joiner combines the parameters of the peers it asked, so that one
 * hostile source among three cannot choose any entry. A NEW array; `vectors` must be
 * non-empty and of one length (the caller checked each against the model).
 * @example coordinateMedian([Float32Array.of(1, 9), Float32Array.of(2, 0), Float32Array.of(100, 1)]) // [2, 1]
 */
export function coordinateMedian(vectors: readonly Float32Array[]): Float32Array {
  const n = vectors.length;
  const p = vectors[0]?.length ?? 0;
  const out = new Float32Array(p);
  if (n === 1) {
    out.set(vectors[0]!);
    return out;
  }
  const column = new Float64Array(n);
  for (let i = 0; i < p; i++) {
    for (let k = 0; k < n; k++) column[k] = vectors[k]![i]!;
    column.sort();
    out[i] = n % 2 === 1 ? column[n >> 1]! : (column[n / 2 - 1]! + column[n / 2]!) / 2;
  }
  return out;
}
