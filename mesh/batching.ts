/**
 * Weighted dynamic batching as a peer applies it before each step (DESIGN.md 3.1): when to
 * recompute the batches, this peer's batch size, and its weight w_i = b_i / sum b. Pure: the
 * peer stores the outcome and emits the event.
 */

import {
  assignBatches,
  assignEqualBatches,
  type Batching,
  type PeerId,
  type RebalanceState,
  type RoomConfig,
  recordRebalance,
  shouldRebalance,
} from '../core';

/** What batching knows of a remote peer (from its hello, heartbeats and update headers). */
export interface BatchRemote {
  /** Its hello arrived and matched. */
  readonly ready: boolean;
  /** The capacity it claims, samples/s (bounded by the share cap, never believed whole). */
  readonly capacity: number;
}

export interface RebalanceInput {
  readonly self: PeerId;
  /** This peer's own capacity, samples/s. */
  readonly capacity: number;
  /** The peers the gate counts (gate-policy's countedPeers), self excluded. */
  readonly counted: readonly PeerId[];
  readonly remotes: ReadonlyMap<PeerId, BatchRemote>;
  /** The step about to start. */
  readonly step: number;
  readonly membershipVersion: number;
  readonly config: Pick<
    RoomConfig,
    'globalBatch' | 'minBatch' | 'maxBatch' | 'rebalanceEvery' | 'shareCap'
  >;
  readonly batching: Batching;
  /** What the last rebalance was computed from. */
  readonly state: RebalanceState;
  /** The batches of the last rebalance (empty before the first). */
  readonly batches: ReadonlyMap<PeerId, number>;
}

export interface RebalanceOutcome {
  /** The input's batches when nothing was recomputed. */
  readonly batches: ReadonlyMap<PeerId, number>;
  readonly state: RebalanceState;
  /** This peer's batch for the step, >= 1. */
  readonly batchSize: number;
  readonly weight: number;
  /**
   * The weight of every peer counted, this one included (b_j / sum b): a receiver scales what
   * arrives from j by it, never by what j claims (DESIGN.md 10).
   */
  readonly weights: ReadonlyMap<PeerId, number>;
  /** Set when the batches were recomputed: the 'rebalance' event's reason and batches. */
  readonly event:
    | { readonly reason: string; readonly batches: Readonly<Record<string, number>> }
    | undefined;
}

/**
 * Recomputes the batches when WDB says so (every R steps, a capacity shift of 20%, a
 * membership change) or when there are none yet, and derives this peer's batch and weight.
 * @example rebalance({ self: a, capacity: 300, counted: [b], remotes, step: 0, ... })
 *   // batches a -> 96, b -> 32 (b's capacity 100, B = 128): batchSize 96, weight 0.75
 */
export function rebalance(input: RebalanceInput): RebalanceOutcome {
  const { self, remotes, config: cfg } = input;
  // The peers the gate counts: one that has never sent an update (a joiner still fetching
  // the parameters, or a peer that only talks) takes no share of the global batch.
  const ids = [self, ...input.counted.filter((id) => remotes.get(id)?.ready)];
  const capacities = new Map<PeerId, number>();
  capacities.set(self, input.capacity);
  for (const id of ids) if (id !== self) capacities.set(id, remotes.get(id)?.capacity ?? 0);
  const at = { step: input.step, capacities, membershipVersion: input.membershipVersion };
  const decision = shouldRebalance(input.state, at, {
    every: cfg.rebalanceEvery,
    shiftThreshold: 0.2,
  });
  let batches = input.batches;
  let state = input.state;
  let event: RebalanceOutcome['event'];
  if (decision.rebalance || batches.size === 0) {
    // The share cap: shareCap times the fair share at most, whatever capacity a peer claims
    // (ceil keeps the caps summing to at least the global batch).
    const capped = Math.min(
      cfg.maxBatch,
      Math.max(cfg.minBatch, Math.ceil((cfg.shareCap * cfg.globalBatch) / ids.length)),
    );
    batches =
      input.batching === 'wdb'
        ? assignBatches(
            ids.map((id) => ({ id, capacity: capacities.get(id) ?? 0 })),
            { globalBatch: cfg.globalBatch, minBatch: cfg.minBatch, maxBatch: capped },
          )
        : assignEqualBatches(ids, cfg.globalBatch);
    state = recordRebalance(at);
    event = {
      reason: decision.rebalance ? decision.reason : 'initial',
      batches: Object.fromEntries(batches),
    };
  }
  // Peers that joined since the last rebalance are not in `batches` yet: the weight uses
  // the batches every current peer will run with, ours included.
  // A peer not in the batches yet counts with the fair share, never with the batch it claims.
  const fair = Math.max(1, Math.round(cfg.globalBatch / ids.length));
  const batchOf = (id: PeerId) => Math.max(1, batches.get(id) ?? fair);
  let total = 0;
  for (const id of ids) total += batchOf(id);
  const weights = new Map<PeerId, number>();
  for (const id of ids) weights.set(id, batchOf(id) / total);
  const batchSize = batchOf(self);
  return { batches, state, batchSize, weight: weights.get(self)!, weights, event };
}
