/**
 * createPeer: one peer of a training mesh (DESIGN.md 2 to 5), the same code in a browser tab
 * and in a Node kiosk. It joins the room through signaling, opens one link per remote peer,
 * and runs the loop: staleness gate -> step with the batch WDB assigns -> per-link send ->
 * merge what arrived -> status; knowledge transfer and churn handling run beside it.
 */

import {
  addPayloadInto,
  assignBatches,
  assignEqualBatches,
  bandwidthBytesPerSec,
  batchWeights,
  type ControlMessage,
  createMembership,
  createRebalanceState,
  createStepTimes,
  createTrust,
  type DktReport,
  encodeParams,
  expire,
  gate,
  heard,
  hopReady,
  hopSkip,
  isSupportedProtocol,
  isValidReport,
  join,
  lastSteps,
  leave,
  livePeers,
  MAX_MERGES,
  type MergeEvent,
  medianStepMs,
  type ParamsMessage,
  type PeerId,
  type PeerStatus,
  PROTOCOL_VERSION,
  type RebalanceState,
  type RoomConfig,
  recordRebalance,
  recordStepTime,
  type SignalingServerMessage,
  type StrategyTraits,
  sendBudgetBytes,
  settleMerge,
  shouldAsk,
  shouldRebalance,
  strategyTraits,
  type UpdateMessage,
} from '../core';
import type { MeshEvent, MeshPeer, PeerPhase, RefusalKind } from './events';
import {
  buildUpdates,
  createExchangeState,
  dropLink,
  type ExchangeState,
  sentFraction,
} from './exchange';
import { createLinkSession, type LinkMessage, type LinkSession } from './link-session';
import { effectiveCapBps } from './shaper';
import { type Emulation, type MeshTrainer, type PeerOptions, silentLogger } from './types';

/** Entries beyond this magnitude in an update are refused as absurd (DESIGN.md 4). */
export const MAX_UPDATE_ABS = 1e4;
const HEARTBEAT_MS = 1000;
const EXPIRE_CHECK_MS = 1000;
const JOIN_SYNC_TIMEOUT_MS = 15_000;
const DKT_REQUEST_TIMEOUT_MS = 30_000;
const MAX_BUFFERED_SIGNALS = 64;

const REFUSAL_KINDS: readonly RefusalKind[] = [
  'bad-frame',
  'bad-message',
  'bad-control',
  'non-finite-update',
  'absurd-update',
  'wrong-model',
  'bad-params',
  'unexpected-params',
  'bad-signal',
];

interface Remote {
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
}

interface ParamsRequest {
  readonly to: PeerId;
  readonly purpose: 'dkt' | 'join';
  readonly atMs: number;
}

/**
 * Starts a peer. The returned handle is live at once; `stopped` resolves when it ends.
 * @example const peer = createPeer({ room: 'lab', name: 'tab-1', kind: 'browser', signaling, rtc,
 *   createTrainer, clock, random: Math.random }); peer.subscribe((e) => console.log(e));
 */
export function createPeer(o: PeerOptions): MeshPeer {
  const log = o.log ?? silentLogger;
  const clock = o.clock;
  const listeners = new Set<(e: MeshEvent) => void>();
  const refusals = Object.fromEntries(REFUSAL_KINDS.map((k) => [k, 0])) as Record<
    RefusalKind,
    number
  >;
  let emulation: Emulation = {
    slowdown: o.emulation?.slowdown ?? 1,
    uplinkBps: o.emulation?.uplinkBps,
    linkBps: o.emulation?.linkBps,
    latencyMs: o.emulation?.latencyMs,
  };

  let phase: PeerPhase = 'connecting';
  let selfId: PeerId | undefined;
  let config: RoomConfig | undefined;
  let traits: StrategyTraits | undefined;
  let trainer: MeshTrainer | undefined;
  let exchange: ExchangeState | undefined;
  let status: PeerStatus | undefined;
  let closing = false;
  let paused = false;
  let stepIndex = 0;
  let lastEval: { loss: number; accuracy: number; atMs: number } | undefined;
  let lastDktAt = Number.NEGATIVE_INFINITY;
  let capacity = 0;
  let batchSize = 0;
  let weight = 0;
  let stepMsEstimate = 0;
  let pending: Float32Array | undefined;
  let pendingHasData = false;
  let own: Float32Array | undefined;
  let request: ParamsRequest | undefined;
  const incomingParams: { from: PeerId; message: ParamsMessage; purpose: 'dkt' | 'join' }[] = [];
  const remotes = new Map<PeerId, Remote>();
  const knownNames = new Map<PeerId, string>();
  /** Peers that were in the room before us: we open the links to them (the joiner initiates). */
  const listedInWelcome = new Set<PeerId>();
  const bufferedSignals = new Map<PeerId, unknown[]>();
  const membership = createMembership();
  const stepTimes = createStepTimes();
  const reports = new Map<PeerId, DktReport>();
  const merges: MergeEvent[] = [];
  let trust = createTrust();
  let rebalanceState: RebalanceState = createRebalanceState();
  let batches = new Map<PeerId, number>();
  const timers: (() => void)[] = [];
  let wake: (() => void) | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });

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
    if (phase === next && next !== 'failed') return;
    phase = next;
    log(next === 'failed' ? 'error' : 'info', `phase ${next}: ${detail}`);
    emit({ type: 'phase', phase: next, detail, ...(code === undefined ? {} : { code }) });
  };
  const refuse = (kind: RefusalKind, message: string, from?: PeerId) => {
    refusals[kind]++;
    log('warn', `refused ${kind}: ${message}`, from === undefined ? {} : { from });
    emit({ type: 'refused', kind, message, ...(from === undefined ? {} : { from }) });
  };
  /** Wakes the loop when it waits on the gate, a pause or a transfer. */
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
      if (closing) return;
      fn();
      cancel = clock.setTimer(ms, tick);
    };
    cancel = clock.setTimer(ms, tick);
    timers.push(() => cancel());
  };

  // ---- trainer serialisation: one call at a time -----------------------------------------

  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: (t: MeshTrainer) => Promise<T>): Promise<T> => {
    const t = trainer;
    if (t === undefined) return Promise.reject(new Error('trainer not started'));
    const run = chain.then(() => fn(t));
    chain = run.catch(() => undefined);
    return run;
  };

  // ---- signaling ---------------------------------------------------------------------------

  const hello = () => ({
    type: 'sig/hello' as const,
    protocol: PROTOCOL_VERSION,
    room: o.room as never,
    name: o.name,
    kind: o.kind,
    ...(o.token === undefined ? {} : { token: o.token }),
    ...(o.site === undefined ? {} : { site: o.site }),
    ...(o.config === undefined ? {} : { config: o.config as Record<string, unknown> }),
    ...(selfId !== undefined
      ? { resume: { peerId: selfId } }
      : o.resumePeerId !== undefined
        ? { resume: { peerId: o.resumePeerId as PeerId } }
        : {}),
  });
  const signaling = o.signaling(hello);

  const onSignaling = (message: SignalingServerMessage) => {
    switch (message.type) {
      case 'sig/welcome': {
        if (selfId === undefined) {
          selfId = message.peerId;
          config = message.config;
          traits = strategyTraits(config.strategy);
          trust = createTrust(3);
          emit({ type: 'joined', peerId: selfId, config, slot: message.slot });
          setPhase('starting', `joined room ${message.room} as ${selfId}; starting the trainer`);
          void start(message.slot, message.iceServers);
        } else {
          if (phase === 'reconnecting')
            setPhase(paused ? 'paused' : 'training', 'signaling is back');
        }
        const first = listedInWelcome.size === 0 && trainer === undefined;
        iceServers = message.iceServers;
        for (const p of message.peers) {
          knownNames.set(p.id, p.name);
          if (first) {
            // The joiner opens the links to the peers already there (once its trainer runs).
            listedInWelcome.add(p.id);
          } else if (!remotes.has(p.id) && selfId < p.id) {
            // A welcome after a reconnect (a restarted server): both sides may see each other
            // listed, so only the lower id offers; two offers would collide (glare).
            connectTo(p.id, true);
          }
        }
        return;
      }
      case 'sig/peer-joined':
        knownNames.set(message.peer.id, message.peer.name);
        emit({ type: 'peer-joined', peerId: message.peer.id, name: message.peer.name });
        return;
      case 'sig/peer-left':
        dropRemote(message.peerId, `left the room (${message.reason})`);
        return;
      case 'sig/signal': {
        const r = remotes.get(message.from);
        if (r !== undefined) {
          r.session.signal(message.data);
        } else if (message.data.type === 'offer' || trainer === undefined) {
          // An offer from a peer we have no link to (it joined after us), or anything while
          // our trainer is still starting: kept until the link exists.
          const list = bufferedSignals.get(message.from) ?? [];
          if (list.length < MAX_BUFFERED_SIGNALS) list.push(message.data);
          bufferedSignals.set(message.from, list);
          if (trainer !== undefined) connectTo(message.from, false);
        }
        return;
      }
      case 'sig/error':
        if (message.fatal) {
          if (selfId === undefined) {
            setPhase('failed', describeServerError(message.code, message.message), message.code);
            void shutdown(false);
          } else {
            log('warn', 'signaling error after joining', {
              code: message.code,
              message: message.message,
            });
          }
        } else {
          log('warn', 'signaling refused a message', {
            code: message.code,
            message: message.message,
          });
        }
        return;
    }
  };

  let iceServers: readonly {
    urls: string | readonly string[];
    username?: string;
    credential?: string;
  }[] = [];
  const unsubscribeSignaling = signaling.subscribe((event) => {
    if (closing) return;
    if (event.type === 'message') onSignaling(event.message);
    else if (event.type === 'invalid') refuse('bad-signal', event.error.message);
    else if (event.type === 'closed') {
      if (event.retryInMs !== undefined) {
        if (selfId !== undefined && phase !== 'finished') {
          setPhase('reconnecting', `signaling lost (${event.reason}); open links keep training`);
        }
      } else if (selfId === undefined) {
        if (phase !== 'failed') setPhase('failed', `could not join: ${event.reason}`);
        void shutdown(false);
      } else {
        log('warn', 'signaling closed for good; links keep training', { reason: event.reason });
      }
    }
  });

  // ---- links -------------------------------------------------------------------------------

  const connectTo = (id: PeerId, initiator: boolean) => {
    if (trainer === undefined || remotes.has(id) || id === selfId || closing) return;
    const session = createLinkSession({
      remote: id,
      clock,
      log,
      connect: (handlers) => o.rtc({ initiator, iceServers, handlers }),
      onSignal: (data) => {
        signaling.send({ type: 'sig/signal', to: id, data });
      },
      shaping: () => ({
        capBps: effectiveCapBps(emulation.uplinkBps, emulation.linkBps?.[id]),
        latencyMs: emulation.latencyMs ?? 0,
      }),
      onOpen: () => sendHello(id),
      onMessage: (m) => onLinkMessage(id, m),
      onRefused: (kind, message) => refuse(kind, message, id),
      onClose: (reason) => dropRemote(id, reason),
    });
    remotes.set(id, {
      id,
      name: knownNames.get(id) ?? id,
      session,
      ready: false,
      capacity: 0,
      batchSize: 0,
      helloStep: 0,
      updated: false,
    });
    const buffered = bufferedSignals.get(id);
    bufferedSignals.delete(id);
    for (const data of buffered ?? []) session.signal(data as never);
  };

  const dropRemote = (id: PeerId, reason: string) => {
    const r = remotes.get(id);
    if (r === undefined) return;
    remotes.delete(id);
    r.session.close(reason);
    const wasLive = leave(membership, id);
    if (exchange) dropLink(exchange, id);
    if (request?.to === id) request = undefined;
    if (wasLive || r.ready) {
      emit({ type: 'peer-left', peerId: id, reason });
      log('info', 'peer left', { peer: id, reason });
    }
    notify();
  };

  const sendHello = (id: PeerId) => {
    const r = remotes.get(id);
    if (!r || !trainer || selfId === undefined) return;
    r.session.sendControl({
      type: 'mesh/hello',
      protocol: PROTOCOL_VERSION,
      peerId: selfId,
      step: stepIndex,
      capacity: Math.max(0, capacity),
      batchSize,
      ...(o.site === undefined ? {} : { site: o.site }),
      modelFingerprint: trainer.info.fingerprint,
    });
  };

  const onLinkMessage = (from: PeerId, m: LinkMessage) => {
    const r = remotes.get(from);
    if (r === undefined || closing) return;
    if (m.kind === 'control') {
      onControl(r, m.message);
      return;
    }
    if (!r.ready) {
      refuse('bad-message', `${m.kind} before hello`, from);
      return;
    }
    if (m.kind === 'update') onUpdate(r, m.message);
    else onParams(r, m.message);
  };

  const onControl = (r: Remote, c: ControlMessage) => {
    const now = clock.now();
    switch (c.type) {
      case 'mesh/hello': {
        if (!isSupportedProtocol(c.protocol) || c.peerId !== r.id) {
          refuse(
            'bad-control',
            `hello from ${r.id} claims ${c.peerId} / protocol ${c.protocol}`,
            r.id,
          );
          dropRemote(r.id, 'bad hello');
          return;
        }
        if (trainer && c.modelFingerprint !== trainer.info.fingerprint) {
          refuse('wrong-model', `peer ${r.id} trains another model`, r.id);
          dropRemote(r.id, 'another model');
          return;
        }
        r.ready = true;
        r.capacity = c.capacity;
        r.batchSize = c.batchSize;
        r.helloStep = c.step;
        join(membership, r.id, now);
        heard(membership, r.id, now, c.step - 1);
        log('info', 'link up', { peer: r.id, step: c.step });
        notify();
        return;
      }
      case 'mesh/heartbeat':
        if (!r.ready) return;
        r.capacity = c.capacity;
        r.batchSize = c.batchSize;
        heard(membership, r.id, now, c.step);
        notify();
        return;
      case 'mesh/report':
        if (!r.ready) return;
        heard(membership, r.id, now);
        reports.set(r.id, {
          peer: r.id,
          loss: c.loss,
          accuracy: c.accuracy,
          step: c.step,
          atMs: now,
        });
        return;
      case 'mesh/dkt-request':
        if (!r.ready) return;
        void serveParams(r, c.purpose ?? 'dkt');
        return;
      case 'mesh/dkt-outcome':
        log('info', 'dkt outcome', {
          from: r.id,
          kept: c.kept,
          lossBefore: c.lossBefore,
          lossAfter: c.lossAfter,
        });
        return;
      case 'mesh/bye':
        dropRemote(r.id, `said bye${c.reason ? `: ${c.reason}` : ''}`);
        return;
      default:
        return;
    }
  };

  const onUpdate = (r: Remote, u: UpdateMessage) => {
    if (!trainer || !pending) return;
    if (u.meta.paramCount !== trainer.info.paramCount) {
      refuse('wrong-model', `update of ${u.meta.paramCount} parameters from ${r.id}`, r.id);
      return;
    }
    const values = u.payload.values;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) {
        refuse('non-finite-update', `non-finite entry from ${r.id}`, r.id);
        return;
      }
      if (Math.abs(v) > MAX_UPDATE_ABS) {
        refuse('absurd-update', `entry ${v} from ${r.id} exceeds ${MAX_UPDATE_ABS}`, r.id);
        return;
      }
    }
    if (!heard(membership, r.id, clock.now(), u.meta.step) && !membership.members.has(r.id)) return;
    r.updated = true;
    r.capacity = u.meta.capacity;
    r.batchSize = u.meta.batchSize;
    addPayloadInto(pending, u.payload);
    pendingHasData = true;
    notify();
  };

  const onParams = (r: Remote, p: ParamsMessage) => {
    if (!trainer) return;
    if (request === undefined || request.to !== r.id) {
      refuse('unexpected-params', `parameters from ${r.id} that we did not ask for`, r.id);
      return;
    }
    if (
      p.modelFingerprint !== trainer.info.fingerprint ||
      p.values.length !== trainer.info.paramCount
    ) {
      refuse('wrong-model', `parameters of another model from ${r.id}`, r.id);
      request = undefined;
      return;
    }
    incomingParams.push({ from: r.id, message: p, purpose: request.purpose });
    request = undefined;
    notify();
  };

  const serveParams = async (r: Remote, purpose: 'dkt' | 'join') => {
    if (!trainer || (purpose === 'dkt' && !traits?.dkt)) return;
    try {
      const values = await exclusive((t) => t.getParams());
      const message = encodeParams({
        step: stepIndex,
        modelFingerprint: trainer.info.fingerprint,
        loss: lastEval?.loss ?? 0,
        values,
      });
      r.session.send(message, true);
      log('info', 'sent parameters', { to: r.id, purpose, bytes: message.length });
    } catch (error) {
      log('warn', 'could not serve parameters', { to: r.id, error: String(error) });
    }
  };

  // ---- start -------------------------------------------------------------------------------

  const start = async (slot: number, servers: typeof iceServers) => {
    iceServers = servers;
    const cfg = config!;
    try {
      trainer = await o.createTrainer({ peerId: selfId!, config: cfg, slot });
    } catch (error) {
      setPhase('failed', `the trainer could not start: ${String(error)}`, 'trainer');
      await shutdown(false);
      return;
    }
    if (closing) {
      await trainer.dispose();
      return;
    }
    const info = trainer.info;
    pending = new Float32Array(info.paramCount);
    exchange = createExchangeState({
      exchange: traits!.exchange,
      paramCount: info.paramCount,
      valueType: cfg.valueType,
      layerSizes: info.layerSizes,
      learningRate: cfg.learningRate,
    });
    if (emulation.slowdown !== 1) await exclusive((t) => t.setSlowdown(emulation.slowdown));
    const restored = await exclusive((t) => t.restoreCheckpoint());
    if (restored.restored) {
      stepIndex = restored.step;
      log('info', 'resumed from checkpoint', { step: stepIndex });
    } else {
      log('info', 'starting fresh', { reason: restored.reason });
    }
    // Links to the peers listed in the welcome, and to those whose offers waited.
    // Peers that joined after us open the links to us: their offers may be waiting already.
    for (const id of [...bufferedSignals.keys()]) connectTo(id, false);
    for (const id of listedInWelcome) connectTo(id, true);
    every(HEARTBEAT_MS, heartbeat);
    every(EXPIRE_CHECK_MS, expireSilent);
    every(o.statusEveryMs ?? 3000, postStatus);
    await joinSync(restored.restored);
    if (closing) return;
    setPhase(paused ? 'paused' : 'training', 'training');
    await loop();
  };

  /** A peer new to a running room starts from the mesh's parameters, not from scratch. */
  const joinSync = async (restored: boolean) => {
    if (restored) return;
    // Give the links to the peers listed in the welcome a moment to say hello.
    const deadline = clock.now() + JOIN_SYNC_TIMEOUT_MS;
    while (!closing && clock.now() < deadline) {
      const pendingLinks = [...remotes.values()].filter((r) => !r.ready);
      const ahead = [...remotes.values()].filter((r) => r.ready && r.helloStep > 0);
      if (ahead.length > 0 && request === undefined && incomingParams.length === 0) {
        ahead.sort((a, b) => b.helloStep - a.helloStep);
        const source = ahead[0]!;
        request = { to: source.id, purpose: 'join', atMs: clock.now() };
        source.session.sendControl({ type: 'mesh/dkt-request', step: stepIndex, purpose: 'join' });
        log('info', 'joining a running mesh: asking for its parameters', { from: source.id });
      }
      const got = incomingParams.shift();
      if (got !== undefined) {
        const set = await exclusive((t) => t.setParams(got.message.values));
        if (set instanceof Error) refuse('bad-params', set.message, got.from);
        else {
          // The parameters left the source a while ago (on a slow link, seconds): take the
          // step the mesh is at now, so no peer's gate waits for us to walk up to it.
          let furthest = got.message.step;
          for (const last of lastSteps(membership).values())
            furthest = Math.max(furthest, last + 1);
          stepIndex = furthest;
          log('info', 'started from the mesh parameters', { from: got.from, step: stepIndex });
          return;
        }
      }
      if (pendingLinks.length === 0 && ahead.length === 0) return;
      await waitChange(200);
    }
  };

  // ---- periodic work ----------------------------------------------------------------------

  const heartbeat = () => {
    for (const r of remotes.values()) {
      if (r.ready && r.session.drained()) {
        r.session.sendControl({
          type: 'mesh/heartbeat',
          step: Math.max(0, stepIndex - 1),
          capacity: Math.max(0, capacity),
          batchSize,
        });
      }
    }
  };

  const expireSilent = () => {
    const dropped = expire(membership, clock.now(), medianStepMs(stepTimes));
    for (const id of dropped) dropRemote(id, 'silent for too long');
  };

  const buildStatus = (): PeerStatus | undefined => {
    if (selfId === undefined || !trainer || !config) return undefined;
    const links = [...remotes.values()]
      .filter((r) => r.ready)
      .map((r) => ({
        to: r.id,
        bandwidthBps: bandwidthBytesPerSec(r.session.estimator),
        rttMs: r.session.rttMs() ?? null,
        bytesSent: r.session.bytesSent(),
        sentFraction: exchange ? sentFraction(exchange, r.id) : 0,
      }));
    return {
      id: selfId,
      name: o.name,
      kind: o.kind,
      ...(o.site === undefined ? {} : { site: o.site }),
      backend: trainer.info.backend.slice(0, 32) || 'unknown',
      ...(trainer.info.backendNote ? { backendNote: trainer.info.backendNote.slice(0, 256) } : {}),
      strategy: config.strategy,
      step: stepIndex,
      batchSize,
      weight: Math.min(1, Math.max(0, weight)),
      capacity: Math.min(1e9, Math.max(0, capacity)),
      loss: lastEval && lastEval.loss >= 0 && lastEval.loss < 1e9 ? lastEval.loss : null,
      valAccuracy: lastEval?.accuracy ?? null,
      ...(paused ? { paused: true } : {}),
      links,
      merges: merges.slice(-MAX_MERGES),
    };
  };

  const postStatus = () => {
    const s = buildStatus();
    if (s === undefined) return;
    status = s;
    signaling.send({ type: 'sig/status', status: s });
    emit({ type: 'status', status: s });
  };

  // ---- the loop ---------------------------------------------------------------------------

  /**
   * s of the gate: the room's `staleness` for DLion and its ablations; the baselines keep
   * their own (bsp 0, the asynchronous ones BASELINE_STALENESS), as the strategy table says.
   */
  const staleness = (): number =>
    config!.strategy.startsWith('dlion') ? config!.staleness : traits!.staleness;

  const countedPeers = (): PeerId[] => {
    const s = staleness();
    return livePeers(membership).filter((id) => {
      const r = remotes.get(id);
      // A peer far behind that has not sent an update yet is fetching the mesh's parameters
      // (join sync): the gate counts it from its first update, so it stalls nobody meanwhile.
      return r !== undefined && (r.updated || r.helloStep >= stepIndex - s - 1);
    });
  };

  const gateOpen = (): boolean => {
    const t = traits!;
    const live = countedPeers();
    const last = lastSteps(membership);
    if (t.backupPeers > 0) {
      return hopReady({
        step: stepIndex,
        staleness: staleness(),
        live,
        lastStepFrom: last,
        backupPeers: t.backupPeers,
      }).ready;
    }
    return gate(stepIndex, staleness(), live, last).open;
  };

  const rebalance = () => {
    const cfg = config!;
    const t = traits!;
    // The peers the gate counts: one that has never sent an update (a joiner still fetching
    // the parameters, or a peer that only talks) takes no share of the global batch.
    const ids = [selfId!, ...countedPeers().filter((id) => remotes.get(id)?.ready)];
    const capacities = new Map<PeerId, number>();
    capacities.set(selfId!, capacity);
    for (const id of ids) if (id !== selfId) capacities.set(id, remotes.get(id)?.capacity ?? 0);
    const input = { step: stepIndex, capacities, membershipVersion: membership.version };
    const decision = shouldRebalance(rebalanceState, input, {
      every: cfg.rebalanceEvery,
      shiftThreshold: 0.2,
    });
    if (decision.rebalance || batches.size === 0) {
      batches =
        t.batching === 'wdb'
          ? assignBatches(
              ids.map((id) => ({ id, capacity: capacities.get(id) ?? 0 })),
              { globalBatch: cfg.globalBatch, minBatch: cfg.minBatch, maxBatch: cfg.maxBatch },
            )
          : assignEqualBatches(ids, cfg.globalBatch);
      rebalanceState = recordRebalance(input);
      emit({
        type: 'rebalance',
        reason: decision.rebalance ? decision.reason : 'initial',
        batches: Object.fromEntries(batches),
      });
    }
    // Peers that joined since the last rebalance are not in `batches` yet: the weight uses
    // the batches every current peer will run with, ours included.
    const mine = batches.get(selfId!) ?? Math.max(1, Math.round(cfg.globalBatch / ids.length));
    let total = 0;
    for (const id of ids) total += batches.get(id) ?? remotes.get(id)?.batchSize ?? mine;
    batchSize = Math.max(1, mine);
    weight = total > 0 ? batchSize / total : 1;
    void batchWeights;
  };

  const runDkt = async () => {
    lastDktAt = clock.now();
    const ev = await exclusive((t) => t.evaluate('validation'));
    const now = clock.now();
    if (Number.isFinite(ev.loss)) lastEval = { loss: ev.loss, accuracy: ev.accuracy, atMs: now };
    emit({
      type: 'evaluation',
      step: stepIndex,
      loss: ev.loss,
      accuracy: ev.accuracy,
      split: 'validation',
      atMs: now,
    });
    const report: DktReport = {
      peer: selfId!,
      loss: ev.loss,
      accuracy: ev.accuracy,
      step: stepIndex,
      atMs: now,
    };
    if (!isValidReport(report) || !(ev.loss < 1e9)) return;
    reports.set(selfId!, report);
    for (const r of remotes.values()) {
      if (r.ready) {
        r.session.sendControl({
          type: 'mesh/report',
          step: stepIndex,
          loss: ev.loss,
          accuracy: ev.accuracy,
          samples: ev.samples,
        });
      }
    }
    if (!traits!.dkt) return;
    if (request !== undefined && now - request.atMs < DKT_REQUEST_TIMEOUT_MS) return;
    const cfg = config!;
    const ask = shouldAsk(
      selfId!,
      reports.values(),
      { epsilon: cfg.dktEpsilon, maxAgeMs: cfg.dktPeriodSec * 3000 },
      trust,
      now,
    );
    if (!ask.ask) return;
    const source = remotes.get(ask.from);
    if (!source?.ready) return;
    request = { to: ask.from, purpose: 'dkt', atMs: now };
    source.session.sendControl({ type: 'mesh/dkt-request', step: stepIndex, purpose: 'dkt' });
  };

  const mergeIncoming = async () => {
    const got = incomingParams.shift();
    if (got === undefined || !config) return;
    const cfg = config;
    const before = await exclusive((t) => t.evaluate('validation'));
    const saved = await exclusive((t) => t.getParams());
    const merged = await exclusive((t) => t.mergeParams(got.message.values, cfg.dktBeta));
    if (merged instanceof Error) {
      refuse('bad-params', merged.message, got.from);
      return;
    }
    const after = await exclusive((t) => t.evaluate('validation'));
    const { decision, event } = settleMerge(trust, {
      from: got.from,
      to: selfId!,
      beta: cfg.dktBeta,
      lossBefore: before.loss,
      lossAfter: after.loss,
      atMs: Date.now(),
      delta: cfg.dktDelta,
    });
    if (decision === 'rollback') await exclusive((t) => t.setParams(saved));
    const kept = decision === 'keep';
    const final = kept ? after : before;
    lastEval = { loss: final.loss, accuracy: final.accuracy, atMs: clock.now() };
    const clampLoss = (l: number) => (Number.isFinite(l) ? Math.min(1e9, Math.max(0, l)) : 1e9);
    const m: MergeEvent = {
      ...event,
      lossBefore: clampLoss(event.lossBefore),
      lossAfter: clampLoss(event.lossAfter),
    };
    merges.push(m);
    if (merges.length > MAX_MERGES) merges.shift();
    emit({ type: 'merge', merge: m });
    log('info', kept ? 'knowledge transfer kept' : 'knowledge transfer rolled back', {
      from: got.from,
      before: before.loss,
      after: after.loss,
    });
    remotes.get(got.from)?.session.sendControl({
      type: 'mesh/dkt-outcome',
      from: got.from,
      kept,
      lossBefore: m.lossBefore,
      lossAfter: m.lossAfter,
    });
  };

  const loop = async () => {
    const cfg = config!;
    const t = traits!;
    let iterationStart = clock.now();
    while (!closing) {
      // tfjs on the cpu backend resolves its promises as microtasks: without a real yield the
      // loop would starve the event loop, and with it every socket and data channel.
      await new Promise<void>((resolve) => clock.setTimer(0, resolve));
      if (paused) {
        await waitChange(500);
        continue;
      }
      if (clock.now() - lastDktAt >= cfg.dktPeriodSec * 1000) await runDkt();
      if (incomingParams.length > 0) await mergeIncoming();
      if (closing) break;
      if (t.skipIterations) {
        const skip = hopSkip(stepIndex - 1, [...lastSteps(membership).values()], staleness());
        if (skip.skipTo !== undefined) {
          log('info', 'hop: skipping ahead', { from: stepIndex, to: skip.skipTo + 1 });
          stepIndex = skip.skipTo + 1;
        }
      }
      if (!gateOpen()) {
        await waitChange(250);
        continue;
      }
      // Merge: our own weighted gradient of the last step plus everything that arrived.
      if (own !== undefined || pendingHasData) {
        const update = pending!;
        if (own !== undefined) for (let i = 0; i < update.length; i++) update[i]! += own[i]!;
        const applied = await exclusive((tr) => tr.apply(update));
        if (applied instanceof Error) log('error', 'apply refused', { error: applied.message });
        pending = new Float32Array(update.length);
        pendingHasData = false;
        own = undefined;
      }
      rebalance();
      const result = await exclusive((tr) => tr.step(batchSize));
      if (result instanceof Error) {
        log('error', 'step failed', { error: result.message });
        await waitChange(1000);
        continue;
      }
      capacity = await exclusive((tr) => tr.capacity());
      // computeMs already includes the emulated slowdown: it is the compute time the mesh sees.
      const stepMs = result.computeMs;
      recordStepTime(stepTimes, clock.now() - iterationStart);
      stepMsEstimate =
        stepMsEstimate === 0 ? stepMs : stepMsEstimate + 0.3 * (stepMs - stepMsEstimate);
      const g = result.gradient;
      own = new Float32Array(g.length);
      for (let i = 0; i < g.length; i++) own[i] = weight * g[i]!;
      await send(g, result.batchSize);
      const now = clock.now();
      emit({
        type: 'step',
        step: stepIndex,
        batchSize: result.batchSize,
        weight,
        loss: result.loss,
        computeMs: result.computeMs,
        iterationMs: now - iterationStart,
        atMs: now,
      });
      iterationStart = now;
      stepIndex++;
      const every = o.checkpointEvery ?? 100;
      if (every > 0 && stepIndex % every === 0) {
        const saved = await exclusive((tr) => tr.saveCheckpoint());
        if (saved instanceof Error) log('warn', 'checkpoint failed', { error: saved.message });
      }
      if (o.maxSteps !== undefined && stepIndex >= o.maxSteps) {
        if (own !== undefined) {
          const last = own;
          own = undefined;
          await exclusive((tr) => tr.apply(last));
        }
        await runDkt();
        postStatus();
        setPhase('finished', `finished after ${stepIndex} steps`);
        // Done: leave the room cleanly (bye on every link, last checkpoint), so `stopped` resolves.
        await shutdown(true);
        return;
      }
    }
  };

  const send = async (gradient: Float32Array, b: number) => {
    const ex = exchange!;
    const ready = [...remotes.values()].filter(
      (r) => r.ready && r.session.isOpen() && membership.members.has(r.id),
    );
    if (ready.length === 0) return;
    const stepMs = Math.max(1, stepMsEstimate);
    const params = ex.exchange === 'gaia' ? await exclusive((tr) => tr.getParams()) : undefined;
    const out = buildUpdates(
      ex,
      gradient,
      {
        step: stepIndex,
        batchSize: b,
        capacity: Math.min(3.4e38, Math.max(0, capacity)),
        weight: Math.min(1, Math.max(0, weight)),
        paramCount: gradient.length,
        valueType: config!.valueType,
      },
      ready.map((r) => ({
        id: r.id,
        drained: r.session.drained(),
        budgetBytes: sendBudgetBytes(r.session.estimator, stepMs),
        bandwidthBytesPerSec: bandwidthBytesPerSec(r.session.estimator),
      })),
      { stepMs, step: stepIndex, ...(params === undefined ? {} : { params }) },
    );
    if (out instanceof Error) {
      log('error', 'exchange refused our own gradient', { error: out.message });
      return;
    }
    for (const u of out) {
      const r = remotes.get(u.to);
      if (r === undefined) continue;
      if (u.message !== undefined) r.session.send(u.message, u.appLimited);
      // Skipped (the link is still busy): the step goes out at once, past the queue; what
      // was not sent waits in the residual.
      else
        r.session.sendControlNow({
          type: 'mesh/heartbeat',
          step: stepIndex,
          capacity: Math.max(0, capacity),
          batchSize: b,
        });
    }
  };

  // ---- stop --------------------------------------------------------------------------------

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (graceful: boolean): Promise<void> => {
    if (shutdownPromise) return shutdownPromise;
    shutdownPromise = (async () => {
      closing = true;
      notify();
      for (const cancel of timers) cancel();
      if (graceful && trainer) {
        postStatus();
        for (const r of remotes.values()) {
          if (r.session.isOpen()) r.session.sendControl({ type: 'mesh/bye', reason: 'leaving' });
        }
        const saved = await exclusive((t) => t.saveCheckpoint()).catch((e: unknown) => e as Error);
        if (saved instanceof Error) log('warn', 'last checkpoint failed', { error: saved.message });
      }
      // Give the byes a moment to leave before the channels close.
      if (graceful && remotes.size > 0) await new Promise<void>((r) => clock.setTimer(100, r));
      for (const r of [...remotes.values()]) r.session.close('peer closed');
      remotes.clear();
      unsubscribeSignaling();
      signaling.close();
      await chain;
      await trainer?.dispose();
      if (phase !== 'failed' && phase !== 'finished') setPhase('closed', 'left the room');
      resolveStopped();
    })();
    return shutdownPromise;
  };

  return {
    id: () => selfId,
    phase: () => phase,
    // After leaving, the last status posted (links included) rather than an empty mesh.
    status: () => (closing ? status : (buildStatus() ?? status)),
    refusals: () => ({ ...refusals }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setEmulation(change) {
      emulation = { ...emulation, ...change };
      if (change.slowdown !== undefined && trainer) {
        void exclusive((t) => t.setSlowdown(emulation.slowdown)).then((r) => {
          if (r instanceof Error) log('warn', 'slowdown refused', { error: r.message });
        });
      }
      emit({ type: 'emulation', emulation });
    },
    pause() {
      if (paused) return;
      paused = true;
      if (phase === 'training') setPhase('paused', 'paused by the user');
    },
    resume() {
      if (!paused) return;
      paused = false;
      if (phase === 'paused') setPhase('training', 'training');
      notify();
    },
    stopped,
    close: () => shutdown(true),
  };
}

function describeServerError(code: string, message: string): string {
  switch (code) {
    case 'bad-token':
    case 'token-required':
      return `the server refused the join token: ${message}. Ask the room's operator for a valid token.`;
    case 'room-full':
      return `${message}. Try another room or wait for a peer to leave.`;
    case 'config-invalid':
      return `the room settings were refused: ${message}`;
    default:
      return message;
  }
}
