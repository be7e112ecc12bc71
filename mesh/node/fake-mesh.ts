/**
 * A fast fake mesh for the peer runtime's tests: real createPeer instances and the real
 * in-process signaling server, but in-memory links and a tiny fake trainer (a quadratic bowl
 * instead of tfjs), so a mesh of two or three peers trains in a second. Test support only.
 */

import { mulberry32, type RoomConfig } from '../../core';
import { type SignalingServer, startSignalingServer } from '../../signaling/server';
import type { MeshEvent, MeshPeer } from '../events';
import type { MemoryNetwork } from '../memory-link';
import { createPeer } from '../peer';
import { createSignalingClient } from '../signaling-client';
import type {
  Emulation,
  MeshEval,
  MeshStepResult,
  MeshTrainer,
  TrainerFactory,
  TrainerRequest,
} from '../types';
import { nodeClock } from './clock';
import { waitFor as waitUntil } from './test-peers';
import { NodeWebSocket } from './websocket';

// ---- the fake trainer ---------------------------------------------------------------------

/**
 * Takes an array handed in as the real trainer client does (worker/client.ts transfers its
 * buffer to the thread), so a caller that hands one array over twice fails here too.
 */
function take(a: Float32Array): Float32Array | Error {
  if (a.buffer.byteLength === 0) return new Error('an array handed to the trainer twice');
  return structuredClone(a, { transfer: [a.buffer as ArrayBuffer] });
}

/** A saved fake checkpoint; a Map of these, keyed by peer name, outlives a "restarted" peer. */
export interface FakeCheckpoint {
  readonly step: number;
  readonly params: Float32Array;
}

export interface FakeTrainerOptions {
  readonly paramCount?: number;
  readonly fingerprint?: number;
  /** Emulated compute per sample, ms: a step of b samples takes b * msPerSample * slowdown. */
  readonly msPerSample?: number;
  /** Amplitude of the seeded noise added to each gradient entry. */
  readonly noise?: number;
  /**
   * Added to every evaluated loss: a peer that always looks worse, as one evaluating on its own
   * skewed held-out split does (so its trainer says its probe is its own).
   */
  readonly evalLossOffset?: number;
  /** Whether its probe is its own split (by default, when evalLossOffset is set). */
  readonly ownProbe?: boolean;
  /** Where checkpoints go, keyed by `checkpointKey`; a fresh store when left out. */
  readonly checkpoints?: Map<string, FakeCheckpoint>;
  readonly checkpointKey?: string;
}

export const FAKE_PARAMS = 1000;
export const FAKE_FINGERPRINT = 1234;

/** The fixed point every fake trainer descends towards; the same in every peer. */
export const targetOf = (p: number): Float32Array => {
  const t = new Float32Array(p);
  for (let i = 0; i < p; i++) t[i] = Math.sin(i * 0.37);
  return t;
};

/** 0.5 * mean squared distance to the target: the fake's loss, training and validation alike. */
export const distance = (params: Float32Array, target: Float32Array): number => {
  let sum = 0;
  for (let i = 0; i < params.length; i++) {
    const d = params[i]! - target[i]!;
    sum += d * d;
  }
  return (0.5 * sum) / params.length;
};

/** The loss of a fresh fake trainer (parameters all zero): what "far below the start" means. */
export const FRESH_LOSS = distance(new Float32Array(FAKE_PARAMS), targetOf(FAKE_PARAMS));

/**
 * A MeshTrainer on the bowl 0.5 * |w - target|^2: the gradient is w - target (plus seeded
 * noise), apply is plain SGD with the room's learning rate. Compute is a real timer of
 * b * msPerSample * slowdown ms, so batch sizes, capacities and lock-step show in wall time.
 */
export function createFakeTrainer(
  request: TrainerRequest,
  o: FakeTrainerOptions = {},
): MeshTrainer {
  const p = o.paramCount ?? FAKE_PARAMS;
  const msPerSample = o.msPerSample ?? 0.25;
  const noise = o.noise ?? 0.01;
  const checkpoints = o.checkpoints ?? new Map<string, FakeCheckpoint>();
  const key = o.checkpointKey ?? request.peerId;
  const lr = request.config.learningRate;
  const target = targetOf(p);
  const random = mulberry32(1 + request.slot);
  let params = new Float32Array(p);
  let slowdown = 1;
  let capacity = 0;
  let steps = 0;
  const finite = (xs: Float32Array) => xs.every((x) => Number.isFinite(x));

  return {
    info: {
      backend: 'fake',
      backendNote: '',
      paramCount: p,
      fingerprint: o.fingerprint ?? FAKE_FINGERPRINT,
      layerSizes: [600, p - 600],
      ...(!(o.ownProbe ?? o.evalLossOffset !== undefined)
        ? {}
        : { data: { own: true, perLabel: [], test: 'own' as const, probe: 'own' as const } }),
    },
    async step(batchSize): Promise<MeshStepResult | Error> {
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        return new RangeError(`batch size must be a positive integer, got ${batchSize}`);
      }
      const computeMs = Math.max(1, batchSize * msPerSample) * slowdown;
      await new Promise((resolve) => setTimeout(resolve, computeMs));
      const gradient = new Float32Array(p);
      for (let i = 0; i < p; i++) gradient[i] = params[i]! - target[i]! + noise * (random() - 0.5);
      // The nominal time rather than the measured one: capacities, and so WDB's batches,
      // are then exact and the same on every run.
      const sample = batchSize / (computeMs / 1000);
      capacity = capacity === 0 ? sample : capacity + 0.3 * (sample - capacity);
      steps++;
      return { batchSize, gradient, loss: distance(params, target), computeMs };
    },
    async apply(given) {
      const update = take(given);
      if (update instanceof Error) return update;
      if (update.length !== p) return new RangeError(`update of ${update.length}, not ${p}`);
      if (!finite(update)) return new RangeError('non-finite update');
      for (let i = 0; i < p; i++) params[i]! -= lr * update[i]!;
      return undefined;
    },
    getParams: async () => params.slice(),
    async setParams(given) {
      const next = take(given);
      if (next instanceof Error) return next;
      if (next.length !== p || !finite(next)) return new RangeError('bad parameters');
      params = next.slice();
      return undefined;
    },
    async mergeParams(given, beta) {
      const other = take(given);
      if (other instanceof Error) return other;
      if (other.length !== p || !finite(other)) return new RangeError('bad parameters');
      for (let i = 0; i < p; i++) params[i] = (1 - beta) * params[i]! + beta * other[i]!;
      return undefined;
    },
    async evaluate(): Promise<MeshEval> {
      const loss = distance(params, target) + (o.evalLossOffset ?? 0);
      return { loss, accuracy: 1 / (1 + 100 * loss), samples: 100 };
    },
    capacity: async () => capacity,
    async setSlowdown(factor) {
      if (!(Number.isFinite(factor) && factor >= 1)) {
        return new RangeError(`slowdown must be >= 1, got ${factor}`);
      }
      slowdown = factor;
      return undefined;
    },
    steps: async () => steps,
    async saveCheckpoint() {
      checkpoints.set(key, { step: steps, params: params.slice() });
      return undefined;
    },
    exportModel: async () => ({ 'params.json': JSON.stringify([...params]) }),
    async restoreCheckpoint() {
      const saved = checkpoints.get(key);
      if (saved === undefined) return { restored: false, reason: 'no checkpoint' };
      params = saved.params.slice();
      steps = saved.step;
      return { restored: true, step: saved.step };
    },
    async dispose() {},
  };
}

// ---- the harness --------------------------------------------------------------------------

/** The in-process signaling server of one test file and the peers spawned on it. */
let server: SignalingServer | undefined;
let rooms = 0;
const running: MeshPeer[] = [];

/** Starts the signaling server (beforeAll). */
export const startFakeMesh = async (): Promise<void> => {
  server = await startSignalingServer({ port: 0, host: '127.0.0.1', log: () => {} });
};
/** Closes every peer spawned since the last call (afterEach). */
export const closeFakePeers = async (): Promise<void> => {
  await Promise.all(running.splice(0).map((p) => p.close()));
};
/** Stops the signaling server (afterAll). */
export const stopFakeMesh = async (): Promise<void> => {
  await server?.close();
  server = undefined;
};
/** The signaling server's WebSocket URL. */
export const fakeMeshUrl = (): string => {
  if (server === undefined) throw new Error('startFakeMesh() first');
  return server.wsUrl;
};

/** A room of its own for each test: the server outlives the tests. */
export const newRoom = () => `peer-test-${++rooms}-${Math.random().toString(36).slice(2, 8)}`;

/** A room config that makes the fake mesh move fast: short DKT period, quick rebalances. */
export const fastConfig = (over: Partial<RoomConfig> = {}): Partial<RoomConfig> => ({
  maxPeers: 4,
  learningRate: 0.2,
  dktPeriodSec: 1,
  rebalanceEvery: 5,
  ...over,
});

export interface Spawned {
  readonly peer: MeshPeer;
  readonly name: string;
  /** Every event the peer emitted, in order. */
  readonly events: MeshEvent[];
  /** The warnings and errors it logged: shown when a wait times out. */
  readonly logs: string[];
  steps(): Extract<MeshEvent, { type: 'step' }>[];
}

export interface SpawnOptions {
  readonly network: MemoryNetwork;
  readonly config?: Partial<RoomConfig>;
  readonly emulation?: Partial<Emulation>;
  readonly maxSteps?: number;
  readonly trainer?: FakeTrainerOptions;
}

/** Jitter of the signaling client's reconnect delays only; nothing here depends on it. */
const random = Math.random;

export function spawn(room: string, name: string, o: SpawnOptions): Spawned {
  const clock = nodeClock();
  const events: MeshEvent[] = [];
  const logs: string[] = [];
  const createTrainer: TrainerFactory = async (request) =>
    createFakeTrainer(request, { checkpointKey: name, ...o.trainer });
  const peer = createPeer({
    room,
    name,
    kind: 'kiosk',
    config: o.config ?? fastConfig(),
    signaling: (hello) =>
      createSignalingClient({ url: fakeMeshUrl(), WebSocket: NodeWebSocket, hello, clock, random }),
    rtc: o.network.connector(),
    createTrainer,
    clock,
    random: mulberry32(name.length * 7919 + name.charCodeAt(0)),
    log: (level, message, fields) => {
      if (level === 'warn' || level === 'error') {
        logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
      }
    },
    statusEveryMs: 100,
    ...(o.emulation === undefined ? {} : { emulation: o.emulation }),
    ...(o.maxSteps === undefined ? {} : { maxSteps: o.maxSteps }),
  });
  peer.subscribe((e) => events.push(e));
  running.push(peer);
  return {
    peer,
    name,
    events,
    logs,
    steps: () => events.filter((e) => e.type === 'step'),
  };
}

/** The shared helper, polling every 10 ms (these meshes step every few ms). */
export const waitFor = <T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs: number,
  explain?: () => unknown,
): Promise<T> => waitUntil(what, probe, timeoutMs, 10, explain);

export const linksOf = (s: Spawned) => s.peer.status()?.links.length ?? 0;
export const lastStep = (s: Spawned) => s.steps().at(-1)?.step ?? -1;
export const explainPeers =
  (...peers: Spawned[]) =>
  () =>
    JSON.stringify(
      peers.map((s) => ({
        name: s.name,
        phase: s.peer.phase(),
        step: lastStep(s),
        links: linksOf(s),
        batch: s.peer.status()?.batchSize,
        logs: s.logs.slice(-5),
      })),
    );

/** Waits until every peer trains with a link to each of the others. */
export const meshUp = (peers: Spawned[], timeoutMs = 8000) =>
  waitFor(
    `${peers.length} peers training with ${peers.length - 1} links each`,
    () =>
      peers.every((s) => s.peer.phase() === 'training' && linksOf(s) === peers.length - 1)
        ? true
        : undefined,
    timeoutMs,
    explainPeers(...peers),
  );

/** Waits until `s` has emitted `n` more step events than it had when called. */
export const moreSteps = (s: Spawned, n: number, timeoutMs = 5000) => {
  const from = s.steps().length;
  return waitFor(
    `${n} more steps of ${s.name}`,
    () => (s.steps().length >= from + n ? true : undefined),
    timeoutMs,
    explainPeers(s),
  );
};
