/**
 * The staleness gate (DESIGN.md 3.4): may this peer start its next local step, given the last
 * step it has received from each live peer? Shared by DLion (small s), BSP (s = 0) and Hop
 * (all but b peers).
 */

import { PolicyError } from './errors';
import { comparePeerIds, type PeerId } from './ids';

/**
 * Step numbering, made explicit because DESIGN.md leaves an off-by-one open: steps count from
 * 0, and the update a peer sends after finishing its step u carries step u. To start step t a
 * peer needs, from every live peer j, an update of step >= t - 1 - s: the step before, at
 * most s steps stale. Read literally ("step >= t - s"), lock-step would ask for the update of
 * a step that j, in lock-step itself, cannot have finished: everyone would wait at t = 0.
 * A peer not heard from yet counts as step -1, so steps 0..s start without hearing anyone.
 */
export const NOT_HEARD = -1;

/** The gate's answer: start the step now, or wait for these peers. */
export type GateDecision =
  /** `behind`: live peers that do not satisfy the bound but were let through by `allBut`. */
  | { readonly open: true; readonly behind: readonly PeerId[] }
  /** `waitingFor`: the live peers that do not satisfy the bound, sorted by id. */
  | { readonly open: false; readonly waitingFor: readonly PeerId[] };

/** Optional relaxations of the gate. */
export interface GateOptions {
  /**
   * Proceed when all but this many live peers satisfy the bound (Hop's backup workers, b = 1).
   * 0 by default: everyone.
   */
  readonly allBut?: number;
}

/**
 * Whether the peer may start `step` with staleness bound `s`.
 * `live` are the OTHER live peers (exclude self: the peer never waits for itself);
 * `lastStepFrom` holds the last step received from each (absent: never heard, step -1).
 * Example: gate(5, 2, [a, b], new Map([[a, 2], [b, 1]])) waits for b (needs >= 5 - 1 - 2 = 2).
 */
export function gate(
  step: number,
  s: number,
  live: readonly PeerId[],
  lastStepFrom: ReadonlyMap<PeerId, number>,
  options: GateOptions = {},
): GateDecision {
  const allBut = options.allBut ?? 0;
  if (!Number.isSafeInteger(s) || s < 0) {
    throw new PolicyError('bad-config', `staleness bound must be an integer >= 0, got ${s}`);
  }
  if (!Number.isSafeInteger(allBut) || allBut < 0) {
    throw new PolicyError('bad-config', `allBut must be an integer >= 0, got ${allBut}`);
  }
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new PolicyError('bad-input', `step must be an integer >= 0, got ${step}`);
  }
  const need = requiredStep(step, s);
  const lagging: PeerId[] = [];
  for (const peer of live) {
    // A NaN entry fails the comparison: that peer is waited for until membership expires it.
    if (!((lastStepFrom.get(peer) ?? NOT_HEARD) >= need) && !lagging.includes(peer)) {
      lagging.push(peer);
    }
  }
  lagging.sort(comparePeerIds);
  return lagging.length <= allBut
    ? { open: true, behind: lagging }
    : { open: false, waitingFor: lagging };
}

/** The lowest step every live peer must have sent for this peer to start `step`: step - 1 - s. */
export const requiredStep = (step: number, s: number): number => step - 1 - s;
