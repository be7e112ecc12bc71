/**
 * The staleness gate as a peer applies it (DESIGN.md 3.4 and 3.6): the bound s of the room's
 * strategy, the live peers the gate counts, and whether the next step may start. Pure.
 */

import { gate, hopReady, type PeerId, type RoomConfig, type StrategyTraits } from '../core';

/**
 * s of the gate: the room's `staleness` for DLion and its ablations; the baselines keep
 * their own (bsp 0, the asynchronous ones BASELINE_STALENESS), as the strategy table says.
 */
export const gateStaleness = (
  config: Pick<RoomConfig, 'strategy' | 'staleness'>,
  traits: Pick<StrategyTraits, 'staleness'>,
): number => (config.strategy.startsWith('dlion') ? config.staleness : traits.staleness);

/** What the gate knows of a remote peer. */
export interface GateRemote {
  /** It has sent at least one update. */
  readonly updated: boolean;
  /** The step it reported in its hello. */
  readonly helloStep: number;
}

/**
 * The live peers the gate waits for before this peer starts `step` with bound `staleness`:
 * those with a link, minus joiners that are still far behind and have sent no update yet.
 * @example countedPeers([a, b], remotes, 10, 2) // [a] when b said hello at step 3 and is silent
 */
export function countedPeers(
  live: readonly PeerId[],
  remotes: ReadonlyMap<PeerId, GateRemote>,
  step: number,
  staleness: number,
): PeerId[] {
  return live.filter((id) => {
    const r = remotes.get(id);
    // A peer far behind that has not sent an update yet is fetching the mesh's parameters
    // (join sync): the gate counts it from its first update, so it stalls nobody meanwhile.
    return r !== undefined && (r.updated || r.helloStep >= step - staleness - 1);
  });
}

export interface GateInput {
  /** The step this peer is about to start. */
  readonly step: number;
  readonly staleness: number;
  /** The peers countedPeers returned. */
  readonly counted: readonly PeerId[];
  /** The last step heard from each peer (membership's lastSteps). */
  readonly lastSteps: ReadonlyMap<PeerId, number>;
  /** Hop's b; 0 for every other strategy. */
  readonly backupPeers: number;
}

/** Whether the step may start: Hop's gate when the strategy has backup peers, else the staleness gate. */
export function gateOpen(input: GateInput): boolean {
  if (input.backupPeers > 0) {
    return hopReady({
      step: input.step,
      staleness: input.staleness,
      live: input.counted,
      lastStepFrom: input.lastSteps,
      backupPeers: input.backupPeers,
    }).ready;
  }
  return gate(input.step, input.staleness, input.counted, input.lastSteps).open;
}

/**
 * The send-backlog bound of the strategies whose exchange queues every update (bsp, Ako,
 * Gaia, Hop, dlion-no-prio; DLion's prioritized exchange skips a busy link instead): a peer
 * may not start a step while more than `bound` of its messages wait in the queue of more
 * than `backupPeers` links. The loop uses a bound of 1: a looser one (s messages) let Hop's
 * dense updates arrive up to 2s steps late, and its accuracy oscillated down to 0.55 on equal
 * peers (0.93 with the bound of 1). Without it a peer with a slow uplink runs ahead of what it has
 * delivered: its queue, its memory and the staleness of its updates grow without limit,
 * which is not the bounded staleness these systems promise (Hop bounds the gap between
 * neighbours in both directions with its token queues).
 * @example backlogOpen([0, 3, 1], 2, 0) // false: one link holds 3 > 2 messages
 */
export function backlogOpen(
  queued: readonly number[],
  bound: number,
  backupPeers: number,
): boolean {
  let lagging = 0;
  for (const q of queued) if (q > bound) lagging++;
  return lagging <= backupPeers;
}
