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
