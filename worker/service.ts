/**
 * The trainer service (DESIGN.md 9): the one implementation of the mesh's trainer contract
 * (mesh/types.ts MeshTrainer) on top of worker/trainer.ts. It runs behind a thread boundary
 * (a Web Worker in the browser, a worker_threads thread in Node) or in process (the
 * benchmark's sim mode); `trainerClient` (worker/client.ts) is its one client.
 *
 * - **One error convention**: every method resolves to a ServiceResult, `{ ok: true, value }`
 *   or `{ ok: false, error: { name, code, message } }`; nothing a caller sends makes it throw.
 *   The client turns errors into TrainerServiceError values.
 * - **Buffers move, they are not copied**: arrays coming out (gradients, parameters, the
 *   exported weights) are marked for transfer; arrays going in (updates, parameters) are
 *   transferred by the client, since the mesh hands them over for good.
 * - **What differs between a tab and a kiosk** is the host: where the data comes from, where
 *   checkpoints live, how the backend is started.
 */

import * as Comlink from 'comlink';
import { type EvalSplit, type RoomConfig, roomTask, type Task } from '../core';
import type { BackendName } from './backend';
import { type CheckpointStore, encodeCheckpoint, restoreCheckpoint } from './checkpoint';
import type { ShardSpec } from './data';
import type { ManifestWeights } from './model';
import { exportModel, type ModelFiles } from './model-files';
import type { OptimizerConfig } from './optimizer';
import {
  createTrainer,
  type Trainer,
  type TrainerClock,
  type TrainerConfig,
  type TrainerData,
  TrainerError,
  type TrainerInfo,
} from './trainer';

/** A failure reduced to plain data (structured clone keeps nothing else of an Error). */
export interface PlainError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

export type ServiceResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: PlainError };

/** Any thrown value as a PlainError: the error's own `code` when it has one, else 'unknown'. */
export function toPlainError(e: unknown): PlainError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, code: typeof code === 'string' ? code : 'unknown', message: e.message };
  }
  return { name: 'Error', code: 'unknown', message: String(e) };
}

const ok = <T>(value: T): ServiceResult<T> => ({ ok: true, value });
const fail = (error: PlainError): ServiceResult<never> => ({ ok: false, error });

/** What the service reports once started (the mesh's MeshTrainerInfo, plus the model). */
export type ServiceInfo = TrainerInfo & {
  /** The task's name. */
  readonly task: string;
};

export interface ServiceStep {
  readonly batchSize: number;
  /** Mean gradient over the batch; transferred to the caller. */
  readonly gradient: Float32Array;
  readonly loss: number;
  /** What the mesh sees: pure compute times the emulated slowdown. */
  readonly computeMs: number;
  /** Pure compute, without the slowdown (benchmarks). */
  readonly pureComputeMs: number;
  /** The smoothed capacity after this step (samples/s): no second round trip to ask. */
  readonly capacity: number;
}

export type RestoreReport =
  | { readonly restored: true; readonly step: number }
  | { readonly restored: false; readonly reason: string };

/** Everything init needs: the room's config and this peer's place in it, plus its options. */
export interface ServiceInit<TSource> {
  readonly config: RoomConfig;
  /** This peer's shard slot, 0 <= slot < config.maxPeers. */
  readonly slot: number;
  /** The host's checkpoint key; no checkpoints without one. */
  readonly checkpointKey?: string;
  /** The room, recorded in checkpoints and checked on restore. */
  readonly room: string;
  /** A backend to use, or the host's choice. */
  readonly backend?: string;
  readonly slowdown?: number;
  readonly testSamples: number;
  /** A pretrained start: used only when the room trains that very model. */
  readonly pretrained?: { readonly task: Task; readonly weights: PretrainedWeights };
  /** Where the data comes from, in the host's terms (a URL, a folder). */
  readonly source: TSource;
}

/** A model.json's weights: the manifest's entries and the bytes of its files. */
export type PretrainedWeights = ManifestWeights;

/** What differs between a tab and a kiosk. */
export interface TrainerHost<TSource> {
  loadData(init: ServiceInit<TSource>): Promise<TrainerData>;
  /** Starts the trainer with `start`, choosing or forcing the backend; a note says why. */
  startBackend(
    wanted: string | undefined,
    start: (backend: BackendName | undefined) => Promise<Trainer>,
  ): Promise<{ trainer: Trainer; note: string }>;
  /** Where this peer's checkpoints live, if anywhere. */
  checkpoints(init: ServiceInit<TSource>): CheckpointStore | undefined;
  readonly clock?: TrainerClock;
}

/** The peer's shard, test subset and splits as a data loader asks for them. */
export const shardSpecOf = (o: ServiceInit<unknown>): Required<ShardSpec> => ({
  dataset: o.config.dataset,
  seed: o.config.seed,
  peerIndex: o.slot,
  peerCount: o.config.maxPeers,
  sharding: o.config.sharding,
  validationFraction: o.config.validationFraction,
  testSamples: o.testSamples,
});

/** The room's optimizer fields in the trainer's shape. */
export function optimizerFor(config: RoomConfig): OptimizerConfig {
  return config.optimizer === 'adam'
    ? { kind: 'adam', learningRate: config.learningRate }
    : { kind: 'sgd', learningRate: config.learningRate, momentum: config.momentum };
}

const notReady: PlainError = {
  name: 'TrainerError',
  code: 'not-initialised',
  message: 'call init() first',
};

/**
 * The service over a host. Example (a Web Worker entry):
 * `Comlink.expose(createTrainerService(browserHost))`.
 */
export function createTrainerService<TSource>(host: TrainerHost<TSource>) {
  let trainer: Trainer | undefined;
  let init: ServiceInit<TSource> | undefined;
  let initialising = false;

  const live = async <T>(f: (t: Trainer) => T | Promise<T>): Promise<ServiceResult<T>> => {
    if (!trainer) return fail(notReady);
    try {
      return ok(await f(trainer));
    } catch (e) {
      return fail(toPlainError(e));
    }
  };
  /** A trainer Result (refused input) as a ServiceResult. */
  const settled = async (
    f: (t: Trainer) => { ok: true } | { ok: false; error: Error },
  ): Promise<ServiceResult<void>> => {
    const r = await live(f);
    if (!r.ok) return r;
    return r.value.ok ? ok(undefined) : fail(toPlainError(r.value.error));
  };

  const service = {
    /** Loads the data and starts the trainer; a second init replaces the first. */
    async init(o: ServiceInit<TSource>): Promise<ServiceResult<ServiceInfo>> {
      if (initialising) {
        return fail({ name: 'TrainerError', code: 'busy', message: 'init is already running' });
      }
      initialising = true;
      try {
        trainer?.dispose();
        trainer = undefined;
        const data = await host.loadData(o);
        const task = roomTask(o.config);
        const ours =
          o.pretrained !== undefined &&
          JSON.stringify(o.pretrained.task.model) === JSON.stringify(task.model);
        const weights = ours ? o.pretrained?.weights : undefined;
        const config: TrainerConfig = {
          model: o.config.model,
          task,
          maxParams: o.config.maxParams,
          seed: o.config.seed,
          peerIndex: o.slot,
          optimizer: optimizerFor(o.config),
          ...(o.slowdown === undefined ? {} : { slowdown: o.slowdown }),
          ...(weights === undefined ? {} : { pretrained: weights }),
        };
        const started = await host.startBackend(o.backend, (backend) =>
          createTrainer(backend === undefined ? config : { ...config, backend }, data, host.clock),
        );
        trainer = started.trainer;
        init = o;
        const i = trainer.info;
        return ok({
          ...i,
          task: task.name,
          backendNote: [started.note, i.backendNote].filter((s) => s !== '').join('; '),
        });
      } catch (e) {
        // Besides its own TrainerErrors, a start fails only when no backend (or not the
        // forced one) starts, or the data cannot be had: plain Errors saying why.
        const plain = toPlainError(e);
        return fail(
          e instanceof TrainerError || plain.code !== 'unknown'
            ? plain
            : { ...plain, code: 'backend' },
        );
      } finally {
        initialising = false;
      }
    },

    /** One step; the gradient's buffer is transferred to the caller. */
    async step(batchSize: number): Promise<ServiceResult<ServiceStep>> {
      const r = await live((t) => t.step(batchSize));
      if (!r.ok) return r;
      if (!r.value.ok) return fail(toPlainError(r.value.error));
      const s = r.value.value;
      const value: ServiceStep = {
        batchSize: s.batchSize,
        gradient: s.gradient,
        loss: s.loss,
        computeMs: s.emulatedMs,
        pureComputeMs: s.computeMs,
        capacity: trainer?.capacity() ?? 0,
      };
      return Comlink.transfer(ok(value), [s.gradient.buffer as ArrayBuffer]);
    },

    /** Applies a flat update through the optimizer (the caller transfers it in). */
    apply: (update: Float32Array) => settled((t) => t.apply(update)),

    /** A copy of the parameters, transferred. */
    async getParams(): Promise<ServiceResult<Float32Array>> {
      const r = await live((t) => t.getParams());
      return r.ok ? Comlink.transfer(r, [r.value.buffer as ArrayBuffer]) : r;
    },
    setParams: (params: Float32Array) => settled((t) => t.setParams(params)),
    /** w <- (1 - beta) w + beta other. */
    mergeParams: (other: Float32Array, beta: number) => settled((t) => t.mergeParams(other, beta)),

    evaluate(split: EvalSplit) {
      if (split !== 'validation' && split !== 'test' && split !== 'probe') {
        return Promise.resolve(
          fail(toPlainError(new TrainerError('bad-input', `unknown split '${String(split)}'`))),
        );
      }
      return live((t) => t.evaluate(split));
    },
    /** Samples/s of (emulated) compute, smoothed; 0 before the first step. */
    capacity: () => live((t) => t.capacity()),
    setSlowdown: (factor: number) => settled((t) => t.setSlowdown(factor)),
    steps: () => live((t) => t.steps()),
    /** tf.memory() of this thread: flat over many steps when nothing leaks. */
    memory: () => live((t) => t.memory()),

    /** Saves step, parameters, optimizer state and local state; a no-op without a store. */
    saveCheckpoint(): Promise<ServiceResult<{ bytes: number }>> {
      return live(async (t) => {
        const store = init && host.checkpoints(init);
        if (store === undefined || init?.checkpointKey === undefined) return { bytes: 0 };
        const bytes = encodeCheckpoint({
          model: t.info.model,
          fingerprint: t.info.fingerprint,
          room: init.room,
          dataset: init.config.dataset,
          ...(await t.snapshot()),
        });
        await store.save(init.checkpointKey, bytes);
        return { bytes: bytes.length };
      });
    },

    /**
     * Restores this peer's checkpoint if it is this trainer's (model, architecture, room,
     * dataset, optimizer). A missing, corrupt or foreign one leaves the trainer as it was,
     * fresh, and says why: never half-restored.
     */
    restoreCheckpoint(): Promise<ServiceResult<RestoreReport>> {
      return live(async (t): Promise<RestoreReport> => {
        const store = init && host.checkpoints(init);
        if (store === undefined || init?.checkpointKey === undefined) {
          return { restored: false, reason: 'no checkpoint store' };
        }
        const outcome = await restoreCheckpoint(store, init.checkpointKey, {
          model: t.info.model,
          fingerprint: t.info.fingerprint,
          paramCount: t.info.paramCount,
          room: init.room,
          dataset: init.config.dataset,
          optimizer: init.config.optimizer,
        });
        if (outcome.kind === 'fresh') return { restored: false, reason: outcome.reason };
        const applied = t.restore(outcome.checkpoint);
        if (!applied.ok)
          return { restored: false, reason: `checkpoint refused: ${applied.error.message}` };
        return { restored: true, step: t.steps() };
      });
    },

    /** The model in the TF.js Layers format, with its task; the weights are transferred. */
    async exportModel(): Promise<ServiceResult<ModelFiles>> {
      const r = await live((t) => exportModel(t.layersModel(), t.task));
      // (exportModel reads the weights asynchronously; the result is whole, see its header.)
      return r.ok ? Comlink.transfer(r, [r.value['weights.bin'].buffer as ArrayBuffer]) : r;
    },

    /** Frees the model; init may be called again. Safe to call twice. */
    dispose(): void {
      trainer?.dispose();
      trainer = undefined;
    },
  };
  return service;
}

export type TrainerService<TSource = unknown> = ReturnType<typeof createTrainerService<TSource>>;
