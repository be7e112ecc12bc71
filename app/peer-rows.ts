/**
 * The rows of the peers table and the nodes of the mesh graph: the polled room merged with
 * this tab's own peer, whose live view (from its event stream) is newer than what it last
 * posted to the server. Pure.
 */

import type { LinkStatus, PeerData, PeerKind } from '../core';
import type { PeerView } from './peer-view';
import type { RoomMember } from './room-view';

export interface PeerRow {
  readonly id: string;
  readonly name: string;
  readonly kind: PeerKind;
  readonly site: string | undefined;
  /** This tab's own peer. */
  readonly self: boolean;
  /** False while the peer has not reported a status: its numbers are unknown. */
  readonly reported: boolean;
  readonly paused: boolean;
  readonly backend: string | undefined;
  /** Why WebGPU was not used; empty when it was. */
  readonly backendNote: string;
  readonly capacity: number | undefined;
  readonly batchSize: number | undefined;
  readonly weight: number | undefined;
  readonly step: number | undefined;
  /**
   * Steps behind the most advanced peer of the room, all as last reported to the server (so
   * the numbers compared are of about the same age).
   */
  readonly staleness: number | undefined;
  /** Validation loss and accuracy; null before the first evaluation. */
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly links: readonly LinkStatus[];
  /** Whose data it trains on, its samples per label, where it is evaluated (no samples). */
  readonly data: PeerData | undefined;
}

/** What the rows read of this tab's own peer. */
export interface OwnPeer {
  readonly id: string;
  readonly name: string;
  readonly view: PeerView;
}

/** A row before staleness, with the step that staleness compares. */
type RowDraft = Omit<PeerRow, 'staleness'> & { readonly reportedStep: number | undefined };

const memberRow = (m: RoomMember): RowDraft => ({
  id: m.id,
  name: m.name,
  kind: m.kind,
  site: m.site,
  self: false,
  reported: m.status !== undefined,
  paused: m.status?.paused ?? false,
  backend: m.status?.backend,
  backendNote: m.status?.backendNote ?? '',
  capacity: m.status?.capacity,
  batchSize: m.status?.batchSize,
  weight: m.status?.weight,
  step: m.status?.step,
  reportedStep: m.status?.step,
  loss: m.status?.loss ?? null,
  accuracy: m.status?.valAccuracy ?? null,
  links: m.status?.links ?? [],
  data: m.status?.data,
});

const ownRow = (own: OwnPeer, polled: RoomMember | undefined): RowDraft => {
  const v = own.view;
  return {
    id: own.id,
    name: own.name,
    kind: polled?.kind ?? 'browser',
    site: polled?.site,
    self: true,
    reported: v.step !== undefined,
    paused: v.phase === 'paused',
    backend: v.backend,
    backendNote: v.backendNote,
    capacity: v.capacity,
    batchSize: v.batchSize,
    weight: v.weight,
    step: v.step,
    // Compared with the others' reports, this peer's own report: its live step is seconds
    // ahead of theirs and would make every other peer look behind.
    reportedStep: polled?.status?.step ?? v.step,
    loss: v.valLoss,
    accuracy: v.valAccuracy,
    links: v.links,
    data: polled?.status?.data,
  };
};

/** The table's rows: this tab first, then the room in the server's (join) order. */
export function peerRows(members: readonly RoomMember[], own: OwnPeer | undefined): PeerRow[] {
  const drafts: RowDraft[] = [];
  if (own !== undefined)
    drafts.push(
      ownRow(
        own,
        members.find((m) => m.id === own.id),
      ),
    );
  for (const m of members) if (m.id !== own?.id) drafts.push(memberRow(m));
  const steps = drafts.flatMap((d) => (d.reportedStep === undefined ? [] : [d.reportedStep]));
  const maxStep = steps.length === 0 ? undefined : Math.max(...steps);
  return drafts.map(({ reportedStep, ...d }) => ({
    ...d,
    staleness:
      reportedStep === undefined || maxStep === undefined ? undefined : maxStep - reportedStep,
  }));
}
