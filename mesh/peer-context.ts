/**
 * What the parts of one peer share: its mutable state, and the small services every part
 * uses (events, phases, refusal counters, waking the loop, periodic timers, and the queue that
 * runs one trainer call at a time). createPeer makes one of each and hands it to the parts.
 */

import {
  createMembership,
  createRebalanceState,
  createStepTimes,
  createTrust,
  type DktReport,
  type DktRound,
  type Membership,
  type MergeEvent,
  type ParamsMessage,
  type PeerId,
  type PeerStatus,
  type RebalanceState,
  type RoomConfig,
  type StepTimes,
  type StrategyTraits,
  type Trust,
  type UpdateHistory,
  type UpdatePayload,
} from '../core';
import type { MeshEvent, PeerPhase, RefusalKind } from './events';
import type { ExchangeState } from './exchange';
import type { LinkSession } from './link-session';
import type { TokenBucket } from './rate-limit';
import { createRefusalCounts } from './refusals';
import type {
  Emulation,
  MeshClock,
  MeshLogger,
  MeshTrainer,
  PeerOptions,
  RtcLinkOptions,
  SignalingConnection,
} from './types';
import { silentLogger } from './types';

export interface Remote {
  readonly id: PeerId;
  name: string;
  session: LinkSession;
  /** The hello arrived and matched: the peer takes part. */
  ready: boolean;
  capacity: number;
  batchSize: number;
  /** Step the peer reported in its hello (steps computed so far). */
  helloStep: number;
  /** It has sent at least one update: from then on the gate counts it. */
  updated: boolean;
  /** The step of its last update taken (-1 before the first): one update per step. */
  lastUpdateStep: number;
  /** Its requests for our parameters, each a whole-model transfer (mesh/rate-limit.ts). */
  readonly paramsRequests: TokenBucket;
  /** The site its hello declared (micro-clouds), undefined before the hello or when none. */
  site: string | undefined;
}

/** The parameters this peer asked one remote for (knowledge transfer or join sync). */
export interface ParamsRequest {
  readonly to: PeerId;
  readonly purpose: 'dkt' | 'join';
  readonly atMs: number;
}

/** A join sync's request to one source: waiting, answered, or given up after ASK_AGAIN_MS. */
export interface JoinAsk {
  readonly atMs: number;
  state: 'waiting' | 'answered' | 'gave-up';
  /** How many times this source was asked (at most JOIN_ASKS). */
  readonly asks: number;
}

/** Parameters that arrived as asked, waiting for the loop (or join sync) to take them. */
export interface IncomingParams {
  readonly from: PeerId;
  readonly message: ParamsMessage;
  readonly purpose: 'dkt' | 'join';
}

export interface PeerState {
  phase: PeerPhase;
  selfId: PeerId | undefined;
  config: RoomConfig | undefined;
  traits: StrategyTraits | undefined;
  trainer: MeshTrainer | undefined;
  exchange: ExchangeState | undefined;
  /** The last status posted. */
  status: PeerStatus | undefined;
  closing: boolean;
  paused: boolean;
  stepIndex: number;
  lastEval: { loss: number; accuracy: number; atMs: number } | undefined;
  lastDktAt: number;
  /** The DKT round we last evaluated for (core/dkt.ts, DktRound). */
  dktRound: DktRound | undefined;
  capacity: number;
  batchSize: number;
  weight: number;
  stepMsEstimate: number;
  /** Sum of the updates that arrived since the last apply. */
  pending: Float32Array | undefined;
  pendingHasData: boolean;
  /** Our own weighted gradient of the last step, applied with `pending`. */
  own: Float32Array | undefined;
  request: ParamsRequest | undefined;
  /** The sources a join sync asked for their parameters (mesh/join-sync.ts). */
  readonly joinAsked: Map<PeerId, JoinAsk>;
  readonly incomingParams: IncomingParams[];
  readonly remotes: Map<PeerId, Remote>;
  readonly knownNames: Map<PeerId, string>;
  /** Peers that were in the room before us: we open the links to them (the joiner initiates). */
  readonly listedInWelcome: Set<PeerId>;
  readonly bufferedSignals: Map<PeerId, unknown[]>;
  readonly membership: Membership;
  readonly stepTimes: StepTimes;
  readonly reports: Map<PeerId, DktReport>;
  readonly merges: MergeEvent[];
  trust: Trust;
  rebalanceState: RebalanceState;
  batches: ReadonlyMap<PeerId, number>;
  /**
   * Each counted peer's weight in the global batch, from our own batch assignment: an
   * arriving update is weighed by this, never by its header (DESIGN.md 10).
   */
  weights: ReadonlyMap<PeerId, number>;
  /** Our best model by evaluation loss, for the rollback on a loss jump. */
  best: { loss: number; step: number; params: Float32Array } | undefined;
  /** The latest update norm of each peer, ours included (mesh/aggregation.ts). */
  readonly norms: Map<PeerId, number>;
  /** Updates that arrived before our first step: judged right after it. */
  readonly deferred: { from: PeerId; payload: UpdatePayload }[];
  /** Each sender's recent updates, for the bound on its average (core/robust.ts). */
  readonly histories: Map<PeerId, UpdateHistory>;
  iceServers: RtcLinkOptions['iceServers'];
  emulation: Emulation;
}

/** The state of a peer that has not joined yet. */
export function createPeerState(o: PeerOptions): PeerState {
  return {
    phase: 'connecting',
    selfId: undefined,
    config: undefined,
    traits: undefined,
    trainer: undefined,
    exchange: undefined,
    status: undefined,
    closing: false,
    paused: false,
    stepIndex: 0,
    lastEval: undefined,
    lastDktAt: Number.NEGATIVE_INFINITY,
    dktRound: undefined,
    capacity: 0,
    batchSize: 0,
    weight: 0,
    stepMsEstimate: 0,
    pending: undefined,
    pendingHasData: false,
    own: undefined,
    request: undefined,
    joinAsked: new Map(),
    incomingParams: [],
    remotes: new Map(),
    knownNames: new Map(),
    listedInWelcome: new Set(),
    bufferedSignals: new Map(),
    membership: createMembership(),
    stepTimes: createStepTimes(),
    reports: new Map(),
    merges: [],
    trust: createTrust(),
    rebalanceState: createRebalanceState(),
    batches: new Map(),
    weights: new Map(),
    best: undefined,
    norms: new Map(),
    deferred: [],
    histories: new Map(),
    iceServers: [],
    emulation: {
      slowdown: o.emulation?.slowdown ?? 1,
      uplinkBps: o.emulation?.uplinkBps,
      linkBps: o.emulation?.linkBps,
      latencyMs: o.emulation?.latencyMs,
      sites: o.emulation?.sites,
    },
  };
}

export interface PeerContext {
  readonly o: PeerOptions;
  readonly log: MeshLogger;
  readonly clock: MeshClock;
  readonly s: PeerState;
  readonly signaling: SignalingConnection;
  readonly listeners: Set<(e: MeshEvent) => void>;
  readonly refusals: Record<RefusalKind, number>;
  /** Hands the event to every listener; a listener that throws is logged, not propagated. */
  emit(event: MeshEvent): void;
  setPhase(next: PeerPhase, detail: string, code?: string): void;
  /** Counts, logs and announces refused input. */
  refuse(kind: RefusalKind, message: string, from?: PeerId): void;
  /** Wakes the loop when it waits on the gate, a pause or a transfer. */
  notify(): void;
  /** Resolves after `ms`, or sooner when notify() is called. */
  waitChange(ms: number): Promise<void>;
  /** Runs `fn` every `ms` until the peer closes. */
  every(ms: number, fn: () => void): void;
  /** Cancels every timer `every` started. */
  cancelTimers(): void;
  /** Runs `fn` on the trainer after every call queued before it has settled. */
  exclusive<T>(fn: (t: MeshTrainer) => Promise<T>): Promise<T>;
  /** Settles when the last trainer call queued so far has settled. */
  trainerSettled(): Promise<unknown>;
}

export function createPeerContext(
  o: PeerOptions,
  s: PeerState,
  signaling: SignalingConnection,
): PeerContext {
  const log = o.log ?? silentLogger;
  const clock = o.clock;
  const listeners = new Set<(e: MeshEvent) => void>();
  const refusals = createRefusalCounts();
  const timers: (() => void)[] = [];
  let wake: (() => void) | undefined;

  const emit = (event: MeshEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (error) {
        log('error', 'a mesh event listener threw', { error: String(error) });
      }
    }
  };
  const setPhase = (next: PeerPhase, detail: string, code?: string) => {
    if (s.phase === next && next !== 'failed') return;
    s.phase = next;
    log(next === 'failed' ? 'error' : 'info', `phase ${next}: ${detail}`);
    emit({ type: 'phase', phase: next, detail, ...(code === undefined ? {} : { code }) });
  };
  const refuse = (kind: RefusalKind, message: string, from?: PeerId) => {
    refusals[kind]++;
    log('warn', `refused ${kind}: ${message}`, from === undefined ? {} : { from });
    emit({ type: 'refused', kind, message, ...(from === undefined ? {} : { from }) });
  };
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitChange = (ms: number) =>
    new Promise<void>((resolve) => {
      const cancel = clock.setTimer(ms, () => {
        if (wake === done) wake = undefined;
        resolve();
      });
      const done = () => {
        cancel();
        resolve();
      };
      wake = done;
    });
  const every = (ms: number, fn: () => void) => {
    let cancel: () => void = () => {};
    const tick = () => {
      if (s.closing) return;
      fn();
      cancel = clock.setTimer(ms, tick);
    };
    cancel = clock.setTimer(ms, tick);
    timers.push(() => cancel());
  };

  // ---- trainer serialisation: one call at a time -----------------------------------------

  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: (t: MeshTrainer) => Promise<T>): Promise<T> => {
    const t = s.trainer;
    if (t === undefined) return Promise.reject(new Error('trainer not started'));
    const run = chain.then(() => fn(t));
    chain = run.catch(() => undefined);
    return run;
  };

  return {
    o,
    log,
    clock,
    s,
    signaling,
    listeners,
    refusals,
    emit,
    setPhase,
    refuse,
    notify,
    waitChange,
    every,
    cancelTimers: () => {
      for (const cancel of timers) cancel();
    },
    exclusive,
    trainerSettled: () => chain,
  };
}
