/**
 * The seams of the peer runtime: everything createPeer needs from its environment is one of
 * these small interfaces, with a browser and a Node implementation each (and in-memory ones
 * for tests). mesh/ itself touches no platform API: no timers, sockets or storage of its own.
 */

import type {
  EvalSplit,
  PeerData,
  PeerId,
  PeerKind,
  RoomConfig,
  SignalData,
  SignalingClientMessage,
  SignalingClientMessageOf,
  SignalingServerMessage,
} from '../core';
import type { SiteShaping } from './shaper';

// ---- time ---------------------------------------------------------------------------------

/** Monotonic time and timers, injected so tests and the benchmark's virtual clock control time. */
export interface MeshClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /**
   * Milliseconds since the epoch, for times shown to people (a merge on the dashboard); never
   * for durations. A virtual clock's wall time starts at a fixed epoch and moves with it.
   */
  wallNow(): number;
  /** Runs `fn` once after `ms`; returns a cancel function (safe to call twice). */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Resolves after `ms` on `clock`. */
export const sleep = (clock: MeshClock, ms: number): Promise<void> =>
  new Promise((resolve) => {
    clock.setTimer(ms, resolve);
  });

// ---- logging ------------------------------------------------------------------------------

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One structured line per event; the kiosk prints JSON, the page the console. */
export type MeshLogger = (
  level: LogLevel,
  message: string,
  fields?: Record<string, unknown>,
) => void;

export const silentLogger: MeshLogger = () => {};

// ---- trainer ------------------------------------------------------------------------------

/** What the mesh needs to know about the trainer it drives. */
export interface MeshTrainerInfo {
  readonly backend: string;
  /** Why WebGPU was not used; empty when it was. */
  readonly backendNote: string;
  readonly paramCount: number;
  /** Hash of the architecture: peers with different models must not exchange. */
  readonly fingerprint: number;
  /** Sizes of the parameter tensors in flat order (Ako partitions along them). */
  readonly layerSizes: readonly number[];
  /** What the peer trains and reports on, for its status (no samples). */
  readonly data?: PeerData;
}

export interface MeshStepResult {
  readonly batchSize: number;
  /** Mean gradient over the batch; the mesh owns it. */
  readonly gradient: Float32Array;
  readonly loss: number;
  /** Compute time the mesh sees, ms: pure compute times the emulated slowdown. */
  readonly computeMs: number;
  /** The trainer's smoothed capacity after this step, when it reports it with the step. */
  readonly capacity?: number;
}

export interface MeshEval {
  readonly loss: number;
  readonly accuracy: number;
  readonly samples: number;
}

/**
 * The trainer as the mesh drives it: the in-process Trainer in Node, a comlink Worker in the
 * browser. Every call may be slow; none may run concurrently with another (the mesh serialises).
 * Methods return Error values rather than throw for refused input.
 */
export interface MeshTrainer {
  readonly info: MeshTrainerInfo;
  step(batchSize: number): Promise<MeshStepResult | Error>;
  /**
   * Applies a flat update (a mean gradient) through the optimizer. Every array handed to
   * apply, setParams and mergeParams is taken: a trainer in a thread transfers its buffer,
   * so the caller must pass a copy of anything it uses again.
   */
  apply(update: Float32Array): Promise<undefined | Error>;
  getParams(): Promise<Float32Array>;
  setParams(params: Float32Array): Promise<undefined | Error>;
  mergeParams(other: Float32Array, beta: number): Promise<undefined | Error>;
  evaluate(split: EvalSplit): Promise<MeshEval>;
  /** Smoothed samples/s of (emulated) compute, 0 before the first step. */
  capacity(): Promise<number>;
  setSlowdown(factor: number): Promise<undefined | Error>;
  /** Steps computed so far (restored from a checkpoint included). */
  steps(): Promise<number>;
  /** Writes a checkpoint (step, parameters, optimizer state). */
  saveCheckpoint(): Promise<undefined | Error>;
  /**
   * The model as files in the TF.js Layers format with the task beside it: 'model.json',
   * 'weights.bin' and 'task.json' (worker/model-files.ts).
   */
  exportModel(): Promise<ModelExportFiles | Error>;
  /** Restores the checkpoint if there is a usable one; the step it resumes at, or why not. */
  restoreCheckpoint(): Promise<
    { restored: true; step: number } | { restored: false; reason: string }
  >;
  dispose(): Promise<void>;
}

/** File name to contents: the text files as strings, the weights as bytes. */
export type ModelExportFiles = Readonly<Record<string, string | Uint8Array>>;

/** What the trainer factory learns once the room is joined (the config decides the model). */
export interface TrainerRequest {
  readonly peerId: PeerId;
  readonly config: RoomConfig;
  /** This peer's shard slot in the room, 0 <= slot < config.maxPeers. */
  readonly slot: number;
}

export type TrainerFactory = (request: TrainerRequest) => Promise<MeshTrainer>;

// ---- signaling ----------------------------------------------------------------------------

/** What a signaling connection reports to the peer. */
export type SignalingEvent =
  | { readonly type: 'message'; readonly message: SignalingServerMessage }
  /** The socket opened (the client then sends its hello). */
  | { readonly type: 'open' }
  /** The socket closed; `retryInMs` when the client will reconnect on its own. */
  | { readonly type: 'closed'; readonly reason: string; readonly retryInMs?: number }
  /** A server message that failed validation: dropped and counted. */
  | { readonly type: 'invalid'; readonly error: Error };

/** A signaling client: one WebSocket to the server, reconnecting on its own. */
export interface SignalingConnection {
  /** False while disconnected: a send is then dropped (signaling is best effort). */
  send(message: SignalingClientMessage): boolean;
  subscribe(listener: (event: SignalingEvent) => void): () => void;
  /** Sends 'sig/leave' when open, then closes for good. Safe to call twice. */
  close(): void;
}

// ---- links --------------------------------------------------------------------------------

/** Callbacks of one raw WebRTC data channel link. */
export interface RtcLinkHandlers {
  /** SDP or ICE to relay to the remote peer through signaling. */
  onSignal(data: SignalData): void;
  onOpen(): void;
  onData(bytes: Uint8Array): void;
  /** Closed or failed; called at most once. */
  onClose(reason: string): void;
}

/** One reliable, ordered data channel to one remote peer (simple-peer, or in memory). */
export interface RtcLink {
  /** Feeds SDP or ICE relayed from the remote peer. */
  signal(data: SignalData): void;
  /** Sends one frame; false when the channel is not open. */
  send(bytes: Uint8Array): boolean;
  /** Bytes queued in the channel and not yet handed to the network. */
  bufferedAmount(): number;
  /** Safe to call twice. */
  close(): void;
}

export interface RtcLinkOptions {
  readonly initiator: boolean;
  readonly iceServers: readonly {
    urls: string | readonly string[];
    username?: string;
    credential?: string;
  }[];
  readonly handlers: RtcLinkHandlers;
}

/** Makes links: simple-peer with the browser's WebRTC or @roamhq/wrtc, or an in-memory pair. */
export type RtcConnector = (options: RtcLinkOptions) => RtcLink;

// ---- the peer -----------------------------------------------------------------------------

/** Emulation knobs (DESIGN.md 5): always declared, shown on the dashboard, changeable live. */
export interface Emulation {
  /** Compute slowdown factor, >= 1. */
  readonly slowdown: number;
  /** Cap on each outgoing link of this peer, bits per second; undefined: no cap. */
  readonly uplinkBps?: number | undefined;
  /** Caps on single outgoing links, bits per second, by remote peer id. */
  readonly linkBps?: Readonly<Record<string, number>> | undefined;
  /** Latency added to every outgoing frame, ms. */
  readonly latencyMs?: number | undefined;
  /**
   * Caps and latency by site pair (micro-clouds, DESIGN.md 8), applied on top of the others:
   * the lowest cap wins and the latencies add up. The remote's site comes from its hello.
   */
  readonly sites?: SiteShaping | undefined;
}

export interface PeerOptions {
  readonly room: string;
  readonly name: string;
  readonly kind: PeerKind;
  readonly site?: string;
  readonly token?: string;
  /** Config fields for a new room; ignored when the room exists. */
  readonly config?: Partial<RoomConfig>;
  /** The id to ask for (a reloaded tab, a restarted kiosk). */
  readonly resumePeerId?: string;
  /** The key the welcome gave with that id (the 'joined' event's resumeKey); without it the
   * server gives a new id. */
  readonly resumeKey?: string;
  readonly emulation?: Partial<Emulation>;
  /**
   * Opens the signaling connection; the peer supplies the hello (built fresh for every
   * connection attempt). E.g. `(hello) => createSignalingClient({ url, WebSocket, hello, clock, random })`.
   */
  readonly signaling: (hello: () => SignalingClientMessageOf<'sig/hello'>) => SignalingConnection;
  readonly rtc: RtcConnector;
  readonly createTrainer: TrainerFactory;
  readonly clock: MeshClock;
  /** Uniform in [0, 1); seeded in tests. */
  readonly random: () => number;
  readonly log?: MeshLogger;
  /** Stop after this many steps (tests, benchmarks); undefined: train until closed. */
  readonly maxSteps?: number;
  /** Milliseconds between status posts to the server (3000 by default). */
  readonly statusEveryMs?: number;
  /** Steps between checkpoints (100 by default; 0 turns checkpoints off). */
  readonly checkpointEvery?: number;
  /**
   * Benchmarks: every so many ms, evaluate on the test split between steps and emit an
   * 'evaluation' event with split 'test' (the same held-out images on every peer, where each
   * peer's validation split follows its own, possibly non-iid, shard). Off when undefined.
   */
  readonly testEveryMs?: number;
}
