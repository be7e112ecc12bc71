/**
 * The Hop baseline (Luo et al., ASPLOS '19): a bounded-staleness gate that tolerates b
 * stragglers (backup peers), and iteration skipping, so a peer that fell far behind jumps
 * ahead instead of dragging the mesh.
 */

import { PolicyError } from '../errors';
import type { PeerId } from '../ids';
import { gate } from '../staleness-gate';

/** Hop's gate input; step numbering is the staleness gate's (core/staleness-gate.ts). */
export interface HopGateInput {
  /** The step this peer is about to start. */
  readonly step: number;
  /** Staleness bound s. */
  readonly staleness: number;
  /** The other live peers (this peer excluded). */
  readonly live: readonly PeerId[];
  /** The step of the newest update received from each peer (absent: never heard). */
  readonly lastStepFrom: ReadonlyMap<PeerId, number>;
  /** b: how many live peers may lag without holding this peer back (Hop's default is 1). */
  readonly backupPeers: number;
}

export type HopGateDecision =
  | { readonly ready: true; readonly lagging: readonly PeerId[] }
  | { readonly ready: false; readonly lagging: readonly PeerId[] };

/**
 * Hop's gate: the staleness gate, passing once all but b live peers satisfy it. `lagging`
 * lists the peers below the bar (sorted by id), for the dashboard and for skipping.
 * b is capped at |live| - 1, so a peer with any live peer waits for at least one: with b >=
 * |live| the gate would never wait and Hop would degrade into unbounded asynchrony (a mesh
 * of two would never synchronize at all).
 */
export function hopReady(input: HopGateInput): HopGateDecision {
  const { step, staleness, live, lastStepFrom, backupPeers } = input;
  if (!Number.isInteger(backupPeers) || backupPeers < 0) {
    throw new PolicyError(
      'bad-config',
      `backup peers must be a non-negative integer, got ${backupPeers}`,
    );
  }
  const allBut = Math.min(backupPeers, Math.max(0, live.length - 1));
  const d = gate(step, staleness, live, lastStepFrom, { allBut });
  return d.open ? { ready: true, lagging: d.behind } : { ready: false, lagging: d.waitingFor };
}

/**
 * Iteration skipping: if this peer is more than `maxLag` steps behind the furthest live peer,
 * it jumps to max(median, furthest - maxLag) of the peers' steps (lower median for an even
 * count). The median puts it back in the middle of the pack, no longer the straggler that
 * the others' gates must tolerate, without claiming the progress of the fastest peer, whose
 * model has seen far more updates; the floor guarantees it lands within the lag bound even
 * when the pack is spread out. A peer within the bound never skips. Pass the strategy's
 * staleness bound as `maxLag`: beyond it, its updates are too stale for a gate to wait on.
 * Units: `ownStep` and `peerSteps` must count the same thing, the last step each has sent
 * (this peer's: the step it is about to start minus 1; the peers': `lastSteps(membership)`).
 * Then a peer skips exactly when the furthest peer's gate (same s) would wait for it; mixing
 * "about to start" with "last sent" shifts the rule by one step.
 * Skipping means: take `skipTo` as this peer's last step (the next step it starts is
 * skipTo + 1), keep the model (with whatever updates have been merged) and carry on; no
 * steps are computed in between.
 */
export function hopSkip(
  ownStep: number,
  peerSteps: readonly number[],
  maxLag: number,
): { readonly skipTo: number } | { readonly skipTo: undefined } {
  if (!Number.isInteger(maxLag) || maxLag < 0) {
    throw new PolicyError('bad-config', `maxLag must be a non-negative integer, got ${maxLag}`);
  }
  // Steps come from peers' headers; anything but a step count is ignored, never trusted.
  const steps = peerSteps.filter((s) => Number.isSafeInteger(s) && s >= 0);
  if (steps.length === 0) return { skipTo: undefined };
  let furthest = Number.NEGATIVE_INFINITY;
  for (const s of steps) furthest = Math.max(furthest, s);
  if (!(ownStep < furthest - maxLag)) return { skipTo: undefined };
  // Peer counts are small (a mesh, not P): sorting a copy is fine here.
  steps.sort((a, b) => a - b);
  const median = steps[Math.floor((steps.length - 1) / 2)]!;
  return { skipTo: Math.max(median, furthest - maxLag) };
}
