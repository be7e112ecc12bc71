/**
 * What a running peer tells its page or kiosk: its life-cycle state, each step, the links,
 * knowledge transfers and refused input. The dashboard is built from this stream alone.
 */

import type { EvalSplit, MergeEvent, PeerId, PeerStatus, RoomConfig } from '../core';
import type { Emulation, MeshEval, ModelExportFiles } from './types';

/** Where the peer is in its life cycle (DESIGN.md 2). */
export type PeerPhase =
  /** Opening the signaling socket. */
  | 'connecting'
  /** Joined; loading data, restoring the checkpoint, fetching the mesh's parameters. */
  | 'starting'
  | 'training'
  | 'paused'
  /** Signaling lost: open links keep training while the client reconnects. */
  | 'reconnecting'
  /** maxSteps reached. */
  | 'finished'
  | 'closed'
  /** Refused by the server (token, room full, bad config) or the trainer failed to start. */
  | 'failed';

/** Kinds of refused input, each counted (DESIGN.md 4). */
export type RefusalKind =
  | 'bad-frame'
  | 'bad-message'
  | 'bad-control'
  | 'non-finite-update'
  | 'absurd-update'
  /** A second update from one peer for a step it already sent (DESIGN.md 10). */
  | 'duplicate-update'
  /** Accepted, scaled down to the room's norm bound (robust aggregation, DESIGN.md 10). */
  | 'clipped-update'
  /** A request for our parameters over the requester's allowance (mesh/rate-limit.ts). */
  | 'too-many-requests'
  /** Our own loss jumped past rollbackFactor x the best: back to the best model (DESIGN.md 10). */
  | 'loss-jump'
  /** A DKT source whose claimed loss was far better than the model it sent (distrusted). */
  | 'false-claim'
  | 'wrong-model'
  | 'bad-params'
  | 'unexpected-params'
  | 'bad-signal';

export type MeshEvent =
  | {
      readonly type: 'phase';
      readonly phase: PeerPhase;
      /** What is happening and, for failures, what to do. */
      readonly detail: string;
      /** For 'failed': the server's error code when there is one. */
      readonly code?: string;
    }
  | {
      readonly type: 'joined';
      readonly peerId: PeerId;
      /** The key that resumes this id (keep it with the id; PeerOptions.resumeKey). */
      readonly resumeKey?: string;
      readonly config: RoomConfig;
      readonly slot: number;
    }
  | {
      readonly type: 'step';
      readonly step: number;
      readonly batchSize: number;
      readonly weight: number;
      readonly loss: number;
      readonly computeMs: number;
      /** Wall time of the whole iteration (gate wait, compute, send, merge). */
      readonly iterationMs: number;
      readonly atMs: number;
    }
  | {
      readonly type: 'evaluation';
      readonly step: number;
      readonly loss: number;
      readonly accuracy: number;
      /**
       * What DKT evaluated on (the room's dktEvaluateOn: the common 'probe' or the peer's own
       * 'validation' split; the dashboard shows it), or 'test': PeerOptions.testEveryMs.
       */
      readonly split: EvalSplit;
      readonly atMs: number;
    }
  | { readonly type: 'status'; readonly status: PeerStatus }
  | { readonly type: 'merge'; readonly merge: MergeEvent }
  | { readonly type: 'peer-joined'; readonly peerId: PeerId; readonly name: string }
  | { readonly type: 'peer-left'; readonly peerId: PeerId; readonly reason: string }
  | {
      readonly type: 'rebalance';
      readonly reason: string;
      readonly batches: Readonly<Record<string, number>>;
    }
  | {
      readonly type: 'refused';
      readonly kind: RefusalKind;
      readonly from?: PeerId;
      readonly message: string;
    }
  | { readonly type: 'emulation'; readonly emulation: Emulation };

/** An export of the model (MeshPeer.exportModel). */
export interface ModelExport {
  readonly files: ModelExportFiles;
  readonly step: number;
  readonly test: MeshEval;
}

/** The handle createPeer returns. */
export interface MeshPeer {
  /** This peer's id once joined. */
  id(): PeerId | undefined;
  phase(): PeerPhase;
  /** The latest status (what is posted to the server), undefined before the first step. */
  status(): PeerStatus | undefined;
  /** Counters of refused input by kind. */
  refusals(): Readonly<Record<RefusalKind, number>>;
  subscribe(listener: (event: MeshEvent) => void): () => void;
  /** Changes the emulation knobs at run time. */
  setEmulation(change: Partial<Emulation>): void;
  pause(): void;
  resume(): void;
  /**
   * The model now, in the TF.js Layers format with its task (MeshTrainer.exportModel), with
   * the step and the test-split accuracy of exactly those weights.
   */
  exportModel(): Promise<ModelExport | Error>;
  /** Resolves when the peer has stopped (closed, finished or failed). */
  readonly stopped: Promise<void>;
  /** Leaves the room: bye on every link, sig/leave, a last checkpoint. Safe to call twice. */
  close(): Promise<void>;
}
