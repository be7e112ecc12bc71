/**
 * Per-link prioritized gradient exchange (DESIGN.md 3.2): one residual per outgoing link, the
 * largest entries that fit the link's byte budget sent each step, the rest delayed (error feedback).
 *
 * Memory: a peer keeps (|L| - 1) residuals of P float32s, 4 P bytes each. With 1M parameters and
 * 8 live peers that is 7 x 4 MB = 28 MB; with 10M parameters, 280 MB. Sparse plans also hold k
 * indices and values, and a dense plan one P-sized copy, until the caller has encoded them.
 */

import { PolicyError } from './errors';
import { err, ok, type Result } from './result';
import { createTopKScratch, selectTopK, type TopKScratch } from './top-k';
import { quantizeF16 } from './wire/fp16';
import {
  denseUpdateBytes,
  entriesForBudget,
  sparseUpdateBytesEstimate,
  type ValueType,
  wireBytes,
} from './wire/sizes';

/** The residual of one link i -> j and its running statistics; owned and mutated by the caller. */
export interface LinkResidual {
  /**
   * r_ij: gradient mass not yet sent on this link (the runtime adds its mean gradient with
   * weight 1: the receiver weighs what arrives).
   */
  readonly residual: Float32Array;
  /** Cumulative L1 mass added by accumulate (sum |w g|). */
  addedL1: number;
  /** Cumulative L1 mass of the values actually transmitted. */
  sentL1: number;
  /** Cumulative estimated wire bytes of the plans made (frame headers included). */
  sentBytes: number;
  /** Share of the residual's L1 mass that the last plan sent, in [0, 1]; 0 after a skip. */
  sentFraction: number;
  /** Estimated wire bytes of the last plan; 0 after a skip. */
  lastBytes: number;
  /** Plans that sent something. */
  sends: number;
  /** Plans that were skipped, for any reason. */
  skips: number;
}

/** What to transmit on a link this step; indices are ascending, values match them one to one. */
export type SendPlan =
  | { readonly kind: 'skip'; readonly reason: 'not-drained' | 'no-budget' | 'empty' }
  | { readonly kind: 'dense'; readonly values: Float32Array }
  | { readonly kind: 'sparse'; readonly indices: Uint32Array; readonly values: Float32Array };

export interface PlanOptions {
  /** Wire bytes this link may carry for this step's send (see budgetBytes). */
  readonly budgetBytes: number;
  readonly valueType: ValueType;
  /** Whether the link's previous send has left its buffer. */
  readonly drained: boolean;
}

/** A zero residual for a link over `paramCount` parameters. */
export function createLinkResidual(paramCount: number): LinkResidual {
  if (!Number.isInteger(paramCount) || paramCount < 0) {
    throw new PolicyError(
      'bad-config',
      `paramCount must be a non-negative integer, got ${paramCount}`,
    );
  }
  return {
    residual: new Float32Array(paramCount),
    addedL1: 0,
    sentL1: 0,
    sentBytes: 0,
    sentFraction: 0,
    lastBytes: 0,
    sends: 0,
    skips: 0,
  };
}

/**
 * Magnitudes at or above this round to float32 infinity. Checking |r + w g| against it in double
 * precision refuses NaN, infinities and float32 overflow with one comparison.
 */
const F32_OVERFLOW = 2 ** 128 - 2 ** 103;

/**
 * r += weight * g. Refused, with the residual untouched, on a length mismatch, a non-finite weight,
 * a non-finite entry in g, or a sum that would overflow float32: all are checked before any write.
 */
export function accumulate(
  link: LinkResidual,
  gradient: Float32Array,
  weight: number,
): Result<void, PolicyError> {
  const r = link.residual;
  const n = r.length;
  if (gradient.length !== n) {
    return err(
      new PolicyError('bad-input', `gradient has ${gradient.length} entries, expected ${n}`),
    );
  }
  if (!Number.isFinite(weight)) {
    return err(new PolicyError('bad-input', `weight must be finite, got ${weight}`));
  }
  let mass = 0;
  let bad = -1;
  for (let i = 0; i < n; i++) {
    const add = weight * gradient[i]!;
    if (!(Math.abs(r[i]! + add) < F32_OVERFLOW)) {
      bad = i;
      break;
    }
    mass += Math.abs(add);
  }
  if (bad >= 0) {
    const g = gradient[bad]!;
    const why = Number.isFinite(g) ? 'would overflow the residual' : `is ${g}`;
    return err(new PolicyError('bad-input', `gradient entry ${bad} ${why}`));
  }
  for (let i = 0; i < n; i++) r[i] = r[i]! + weight * gradient[i]!;
  link.addedL1 += mass;
  return ok(undefined);
}

/**
 * Byte budget of one send: bandwidth x step time, because the send of step t overlaps step t + 1.
 * Non-finite or negative inputs give 0.
 */
export function budgetBytes(bandwidthBytesPerSec: number, stepTimeMs: number): number {
  const bytes = (bandwidthBytesPerSec * stepTimeMs) / 1000;
  if (!(bandwidthBytesPerSec >= 0) || !(stepTimeMs >= 0) || !Number.isFinite(bytes)) return 0;
  return Math.floor(bytes);
}

/**
 * The value that arrives for residual entry v: v itself for f32; for f16 the value clamped to
 * +-F16_MAX (fp16 would be infinite beyond it; the excess stays in the residual) and rounded to
 * the nearest half.
 */
const transmitted = (v: number, valueType: ValueType): number =>
  valueType === 'f32' ? v : quantizeF16(v);

function skip(link: LinkResidual, reason: 'not-drained' | 'no-budget' | 'empty'): SendPlan {
  link.sentFraction = 0;
  link.lastBytes = 0;
  link.skips++;
  return { kind: 'skip', reason };
}

function recordSend(link: LinkResidual, sent: number, residualMass: number, bytes: number): void {
  link.sentL1 += sent;
  link.sentFraction = residualMass > 0 ? Math.min(1, sent / residualMass) : 0;
  link.lastBytes = bytes;
  link.sentBytes += bytes;
  link.sends++;
}

/**
 * Decides this step's send on one link and subtracts what it transmits from the residual, so a
 * value is delayed, never dropped. Skips when the previous send has not drained (the residual
 * keeps growing), when the budget holds no entry, or when the residual is all zero. Sends dense
 * when the budget holds the whole vector (sparse with every non-zero entry where that is
 * smaller), else the k largest |r| that fit, never a zero entry. The plan's arrays are fresh and
 * the caller's; pass one scratch per thread to keep top-k allocation-free.
 */
export function planSend(
  link: LinkResidual,
  opts: PlanOptions,
  scratch: TopKScratch = createTopKScratch(),
): SendPlan {
  if (!opts.drained) return skip(link, 'not-drained');
  const r = link.residual;
  const n = r.length;
  const { valueType } = opts;
  const budget = entriesForBudget(n, opts.budgetBytes, valueType);
  if (budget.kind === 'none') return skip(link, 'no-budget');

  let mass = 0;
  let nonZero = 0;
  for (let i = 0; i < n; i++) {
    const v = r[i]!;
    if (v !== 0) {
      nonZero++;
      mass += Math.abs(v);
    }
  }
  if (nonZero === 0) return skip(link, 'empty');

  const denseBytes = denseUpdateBytes(n, valueType);
  // A dense budget with a mostly-zero residual: the non-zero entries alone carry the same
  // information in fewer bytes, so the link drains sooner.
  const sparseAllBytes = sparseUpdateBytesEstimate(n, nonZero, valueType);
  if (budget.kind === 'dense' && !(nonZero < n && sparseAllBytes < denseBytes)) {
    const values = new Float32Array(n);
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const v = transmitted(r[i]!, valueType);
      values[i] = v;
      r[i] = r[i]! - v;
      sent += Math.abs(v);
    }
    recordSend(link, sent, mass, wireBytes(denseBytes));
    return { kind: 'dense', values };
  }

  const k = budget.kind === 'dense' ? nonZero : Math.min(budget.k, nonZero);
  const indices = selectTopK(r, k, scratch);
  const values = new Float32Array(indices.length);
  let sent = 0;
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    const v = transmitted(r[i]!, valueType);
    values[j] = v;
    r[i] = r[i]! - v;
    sent += Math.abs(v);
  }
  recordSend(link, sent, mass, wireBytes(sparseUpdateBytesEstimate(n, k, valueType)));
  return { kind: 'sparse', indices, values };
}
