/**
 * What the page shows about its peer, folded from the peer's event stream (MeshEvent) and
 * its latest status. Pure: `nextView(view, event, peer)` returns a new view; the page keeps
 * it in a Solid store with `reconcile`, so only the numbers that changed re-render.
 */

import type { LinkStatus, RoomConfig } from '../core';
import type { Emulation, MeshEvent, MeshPeer, PeerPhase, RefusalKind } from '../mesh';

export interface PeerView {
  readonly phase: PeerPhase;
  /** What is happening and, for failures, what to do. */
  readonly detail: string;
  /** The server's error code of a failure, when there is one. */
  readonly code: string | undefined;
  readonly peerId: string | undefined;
  readonly config: RoomConfig | undefined;
  readonly slot: number | undefined;
  readonly backend: string | undefined;
  /** Why WebGPU was not used; empty when it was. */
  readonly backendNote: string;
  /** Steps computed so far; undefined before the first. */
  readonly step: number | undefined;
  readonly batchSize: number | undefined;
  /** w_i = b_i / sum b. */
  readonly weight: number | undefined;
  /** Training loss of the last step (on its batch). */
  readonly trainLoss: number | undefined;
  /** Samples/s of compute, smoothed. */
  readonly capacity: number | undefined;
  /** Last DKT evaluation (the room's probe, or this peer's validation split); null before the first. */
  readonly valLoss: number | null;
  readonly valAccuracy: number | null;
  readonly links: readonly LinkStatus[];
  /** Knowledge-transfer merges into this peer's model, rolled back ones included. */
  readonly merges: number;
  readonly rolledBack: number;
  readonly refusals: Readonly<Partial<Record<RefusalKind, number>>>;
  /** Names of the other live peers, by id (for the links table). */
  readonly names: Readonly<Record<string, string>>;
  readonly emulation: Emulation | undefined;
}

export const initialView = (emulation?: Emulation): PeerView => ({
  phase: 'connecting',
  detail: 'opening the signaling connection',
  code: undefined,
  peerId: undefined,
  config: undefined,
  slot: undefined,
  backend: undefined,
  backendNote: '',
  step: undefined,
  batchSize: undefined,
  weight: undefined,
  trainLoss: undefined,
  capacity: undefined,
  valLoss: null,
  valAccuracy: null,
  links: [],
  merges: 0,
  rolledBack: 0,
  refusals: {},
  names: {},
  emulation,
});

/** What nextView reads from the peer besides the event. */
export type PeerReadings = Pick<MeshPeer, 'status' | 'refusals'>;

/** The view's fields that the peer's latest status carries. */
const fromStatus = (view: PeerView, peer: PeerReadings): PeerView => {
  const s = peer.status();
  if (s === undefined) return view;
  return {
    ...view,
    backend: s.backend,
    backendNote: s.backendNote ?? '',
    capacity: s.capacity,
    links: s.links,
    // Evaluations arrive as their own events too; the status keeps the last one after a reload.
    valLoss: view.valLoss ?? s.loss,
    valAccuracy: view.valAccuracy ?? s.valAccuracy,
  };
};

/** The view after `event`. */
export function nextView(view: PeerView, event: MeshEvent, peer: PeerReadings): PeerView {
  switch (event.type) {
    case 'phase':
      return { ...view, phase: event.phase, detail: event.detail, code: event.code };
    case 'joined':
      return { ...view, peerId: event.peerId, config: event.config, slot: event.slot };
    case 'step':
      // The status is re-read on every step: links and their rates move between the
      // status posts, and reading it is a getter, not a round trip.
      return fromStatus(
        {
          ...view,
          step: event.step,
          batchSize: event.batchSize,
          weight: event.weight,
          trainLoss: event.loss,
        },
        peer,
      );
    case 'evaluation':
      // Test-split evaluations are a benchmark's (PeerOptions.testEveryMs); the view shows
      // the DKT evaluation the peer reports to the mesh (the probe, or its validation split).
      if (event.split === 'test') return view;
      return { ...view, valLoss: event.loss, valAccuracy: event.accuracy };
    case 'status':
      return fromStatus(view, { status: () => event.status, refusals: peer.refusals });
    case 'merge':
      return {
        ...view,
        merges: view.merges + 1,
        rolledBack: view.rolledBack + (event.merge.rolledBack ? 1 : 0),
      };
    case 'peer-joined':
      return { ...view, names: { ...view.names, [event.peerId]: event.name } };
    case 'peer-left': {
      const { [event.peerId]: _gone, ...names } = view.names;
      return { ...view, names };
    }
    case 'refused':
      return { ...view, refusals: { ...peer.refusals() } };
    case 'emulation':
      return { ...view, emulation: event.emulation };
    case 'rebalance':
      return view;
  }
}
