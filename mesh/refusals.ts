/**
 * Refused input (DESIGN.md 4): the kinds a peer counts, and the screening of an update's
 * entries before any of it reaches the pending sum. Pure: the peer does the counting and logging.
 */

import type { PeerId, UpdateMeta } from '../core';
import type { RefusalKind } from './events';

/** Entries beyond this magnitude in an update are refused as absurd (DESIGN.md 4). */
export const MAX_UPDATE_ABS = 1e4;

/** Every kind a peer counts, in the order the counters are listed. */
export const REFUSAL_KINDS: readonly RefusalKind[] = [
  'bad-frame',
  'bad-message',
  'bad-control',
  'non-finite-update',
  'absurd-update',
  'duplicate-update',
  'clipped-update',
  'too-many-requests',
  'loss-jump',
  'false-claim',
  'wrong-model',
  'bad-params',
  'unexpected-params',
  'bad-signal',
];

/** A counter at 0 for every kind: what a new peer starts with. */
export function createRefusalCounts(): Record<RefusalKind, number> {
  return Object.fromEntries(REFUSAL_KINDS.map((k) => [k, 0])) as Record<RefusalKind, number>;
}

/** Why some input is refused, in the words of the log line and the 'refused' event. */
export interface Refusal {
  readonly kind: RefusalKind;
  readonly message: string;
}

/** The parts of an update that screening reads. */
export interface ScreenedUpdate {
  readonly meta: Pick<UpdateMeta, 'paramCount'>;
  readonly payload: { readonly values: Float32Array };
}

/**
 * Screens an update from `from` for a model of `paramCount` parameters: the size must match,
 * then every entry must be finite and within MAX_UPDATE_ABS; the first bad entry decides.
 * undefined: accepted.
 * @example screenUpdate({ meta: { paramCount: 2 }, payload: { values: new Float32Array([1, NaN]) } },
 *   from, 2) // { kind: 'non-finite-update', message: 'non-finite entry from <from>' }
 */
export function screenUpdate(
  u: ScreenedUpdate,
  from: PeerId,
  paramCount: number,
): Refusal | undefined {
  if (u.meta.paramCount !== paramCount) {
    return {
      kind: 'wrong-model',
      message: `update of ${u.meta.paramCount} parameters from ${from}`,
    };
  }
  const values = u.payload.values;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      return { kind: 'non-finite-update', message: `non-finite entry from ${from}` };
    }
    if (Math.abs(v) > MAX_UPDATE_ABS) {
      return {
        kind: 'absurd-update',
        message: `entry ${v} from ${from} exceeds ${MAX_UPDATE_ABS}`,
      };
    }
  }
  return undefined;
}
