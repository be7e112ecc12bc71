/**
 * The Web Worker entry: one trainer per Worker, exposed with comlink. The page starts it with
 * `new Worker(new URL('.../trainer-worker.ts', import.meta.url), { type: 'module' })` and
 * talks to it through `Comlink.wrap<TrainerWorkerApi>(worker)`.
 */

import * as Comlink from 'comlink';
import { type EvalSplit, MODELS, type ModelName, type Task } from '../../core';
import { BACKENDS, type BackendName } from '../backend';
import { encodeCheckpoint, type MetricPoint, restoreCheckpoint } from '../checkpoint';
import type { ShardSpec } from '../data';
import { exportModel, type ModelFiles } from '../model-files';
import type { OptimizerConfig } from '../optimizer';
import {
  createTrainer,
  type EvalResult,
  type StepResult,
  type Trainer,
  type TrainerConfig,
  TrainerError,
  type TrainerInfo,
} from '../trainer';
import { loadBrowserData } from './data';
import { createIdbCheckpointStore } from './idb-checkpoint-store';
import {
  type PlainError,
  toPlainError,
  type WorkerResult,
  workerErr,
  workerOk,
} from './worker-result';

/** Test images a peer evaluates on when init does not say. */
export const DEFAULT_TEST_SAMPLES = 2000;

export interface WorkerInitOptions extends ShardSpec {
  readonly model: ModelName;
  /** The room's task (core's roomTask). */
  readonly task?: Task;
  /** The room's limit on trainable parameters. */
  readonly maxParams?: number;
  /** A pretrained start (TrainerConfig.pretrained). */
  readonly pretrained?: TrainerConfig['pretrained'];
  readonly optimizer: OptimizerConfig;
  /** Force one backend; a forced backend that cannot start fails init (no fallback). */
  readonly backend?: BackendName;
  readonly slowdown?: number;
  /** Where /data/shard/ is served, usually the page's `location.origin`. */
  readonly dataBaseUrl: string;
}

let trainer: Trainer | undefined;
let initialising = false;
let initOptions: WorkerInitOptions | undefined;
const checkpoints = createIdbCheckpointStore();

/** Where this peer's checkpoint lives and what it must match to be restored. */
export interface CheckpointTarget {
  /** The IndexedDB key, e.g. `${room}/${peerName}`. */
  readonly key: string;
  readonly room: string;
}

export type RestoreReport =
  | { readonly kind: 'restored'; readonly step: number }
  | { readonly kind: 'fresh'; readonly reason: string };

const notReady: PlainError = {
  name: 'TrainerError',
  code: 'not-initialised',
  message: 'call init() first',
};

/** Runs `f` on the live trainer; a throw or a missing trainer becomes a plain error. */
async function withTrainer<T>(f: (t: Trainer) => T | Promise<T>): Promise<WorkerResult<T>> {
  if (!trainer) return workerErr(notReady);
  try {
    return workerOk(await f(trainer));
  } catch (e) {
    return workerErr(toPlainError(e));
  }
}

/** A trainer Result as a WorkerResult (TrainerError keeps its code). */
const fromResult = <T>(r: { ok: true; value: T } | { ok: false; error: Error }): WorkerResult<T> =>
  r.ok ? workerOk(r.value) : workerErr(toPlainError(r.error));

/** The page-facing checks comlink's structured clone cannot make for us. */
function checkInit(o: WorkerInitOptions): string | undefined {
  if (!(MODELS as readonly string[]).includes(o.model)) return `unknown model '${o.model}'`;
  if (o.backend !== undefined && !(BACKENDS as readonly string[]).includes(o.backend)) {
    return `unknown backend '${o.backend}' (one of ${BACKENDS.join(', ')})`;
  }
  if (typeof o.dataBaseUrl !== 'string' || o.dataBaseUrl === '') return 'dataBaseUrl is required';
  return undefined;
}

const api = {
  /**
   * Loads the peer's shard from the server and starts the trainer (the backend is chosen or
   * forced here). A second init replaces the first trainer.
   */
  async init(o: WorkerInitOptions): Promise<WorkerResult<TrainerInfo>> {
    if (initialising) {
      return workerErr({ name: 'TrainerError', code: 'busy', message: 'init is already running' });
    }
    const invalid = checkInit(o);
    if (invalid) return workerErr(toPlainError(new TrainerError('bad-config', invalid)));
    initialising = true;
    try {
      trainer?.dispose();
      trainer = undefined;
      const data = await loadBrowserData({
        baseUrl: o.dataBaseUrl,
        dataset: o.dataset,
        seed: o.seed,
        peerIndex: o.peerIndex,
        peerCount: o.peerCount,
        sharding: o.sharding,
        validationFraction: o.validationFraction,
        testSamples: o.testSamples ?? DEFAULT_TEST_SAMPLES,
      });
      if (!data.ok) return workerErr(toPlainError(data.error));
      trainer = await createTrainer(
        {
          model: o.model,
          ...(o.task === undefined ? {} : { task: o.task }),
          ...(o.maxParams === undefined ? {} : { maxParams: o.maxParams }),
          ...(o.pretrained === undefined ? {} : { pretrained: o.pretrained }),
          seed: o.seed,
          peerIndex: o.peerIndex,
          optimizer: o.optimizer,
          ...(o.backend === undefined ? {} : { backend: o.backend }),
          ...(o.slowdown === undefined ? {} : { slowdown: o.slowdown }),
        },
        data.value,
      );
      initOptions = o;
      return workerOk(trainer.info);
    } catch (e) {
      // Besides its own TrainerErrors, createTrainer fails only when no backend (or not the
      // forced one) starts: selectBackend throws a plain Error saying why for each.
      const plain = toPlainError(e);
      return workerErr(e instanceof TrainerError ? plain : { ...plain, code: 'backend' });
    } finally {
      initialising = false;
    }
  },

  /** The running trainer's info (backend in use, sizes), or not-initialised. */
  info: (): Promise<WorkerResult<TrainerInfo>> => withTrainer((t) => t.info),

  /** One step; the gradient's buffer is transferred to the caller, not copied. */
  async step(batchSize: number): Promise<WorkerResult<StepResult>> {
    const r = await withTrainer((t) => t.step(batchSize));
    if (!r.ok) return r;
    const step = fromResult(r.value);
    return step.ok ? Comlink.transfer(step, [step.value.gradient.buffer as ArrayBuffer]) : step;
  },

  /** Applies a flat update through the optimizer; transfer the update's buffer in. */
  async apply(update: Float32Array): Promise<WorkerResult<void>> {
    const r = await withTrainer((t) => t.apply(update));
    return r.ok ? fromResult(r.value) : r;
  },

  /** A copy of the parameters, transferred. */
  async getParams(): Promise<WorkerResult<Float32Array>> {
    const r = await withTrainer((t) => t.getParams());
    return r.ok ? Comlink.transfer(r, [r.value.buffer as ArrayBuffer]) : r;
  },

  async setParams(params: Float32Array): Promise<WorkerResult<void>> {
    const r = await withTrainer((t) => t.setParams(params));
    return r.ok ? fromResult(r.value) : r;
  },

  /** w <- (1 - beta) w + beta other. */
  async mergeParams(other: Float32Array, beta: number): Promise<WorkerResult<void>> {
    const r = await withTrainer((t) => t.mergeParams(other, beta));
    return r.ok ? fromResult(r.value) : r;
  },

  evaluate(split: EvalSplit): Promise<WorkerResult<EvalResult>> {
    if (split !== 'validation' && split !== 'test' && split !== 'probe') {
      return Promise.resolve(
        workerErr(toPlainError(new TrainerError('bad-input', `unknown split '${String(split)}'`))),
      );
    }
    return withTrainer((t) => t.evaluate(split));
  },

  /** Samples/s of (emulated) compute, smoothed; 0 before the first step. */
  capacity: (): Promise<WorkerResult<number>> => withTrainer((t) => t.capacity()),

  async setSlowdown(factor: number): Promise<WorkerResult<void>> {
    const r = await withTrainer((t) => t.setSlowdown(factor));
    return r.ok ? fromResult(r.value) : r;
  },

  steps: (): Promise<WorkerResult<number>> => withTrainer((t) => t.steps()),

  /** tf.memory() of this Worker: flat over many steps when nothing leaks. */
  memory: (): Promise<WorkerResult<{ numTensors: number; numBytes: number }>> =>
    withTrainer((t) => t.memory()),

  /**
   * Saves parameters, optimizer state, step and `metrics` to IndexedDB under `target.key`, so
   * a reloaded tab resumes instead of starting at step zero.
   */
  saveCheckpoint(
    target: CheckpointTarget,
    metrics: readonly MetricPoint[] = [],
  ): Promise<WorkerResult<{ bytes: number }>> {
    return withTrainer(async (t) => {
      const bytes = encodeCheckpoint({
        model: t.info.model,
        fingerprint: t.info.fingerprint,
        room: target.room,
        dataset: initOptions?.dataset ?? 'mnist',
        metrics,
        ...t.snapshot(),
      });
      await checkpoints.save(target.key, bytes);
      return { bytes: bytes.length };
    });
  },

  /**
   * Restores the checkpoint under `target.key` if it is this trainer's (model, architecture,
   * room, dataset, optimizer). A missing, corrupt or foreign one leaves the trainer as it was,
   * fresh, and says why: never half-restored.
   */
  restoreCheckpoint(target: CheckpointTarget): Promise<WorkerResult<RestoreReport>> {
    return withTrainer(async (t): Promise<RestoreReport> => {
      const outcome = await restoreCheckpoint(checkpoints, target.key, {
        model: t.info.model,
        fingerprint: t.info.fingerprint,
        paramCount: t.info.paramCount,
        room: target.room,
        ...(initOptions
          ? { dataset: initOptions.dataset, optimizer: initOptions.optimizer.kind }
          : {}),
      });
      if (outcome.kind === 'fresh') return { kind: 'fresh', reason: outcome.reason };
      const applied = t.restore(outcome.checkpoint);
      if (!applied.ok) return { kind: 'fresh', reason: applied.error.message };
      return { kind: 'restored', step: t.steps() };
    });
  },

  /** The model in the TF.js Layers format, with its task (worker/model-files.ts). */
  async exportModel(): Promise<WorkerResult<ModelFiles>> {
    const r = await withTrainer((t) => exportModel(t.layersModel(), t.task));
    return r.ok ? Comlink.transfer(r, [r.value['weights.bin'].buffer as ArrayBuffer]) : r;
  },

  /** Frees the model; init may be called again. Safe to call twice. */
  dispose(): void {
    trainer?.dispose();
    trainer = undefined;
  },
};

/** The Worker's API as the page sees it through `Comlink.wrap`. */
export type TrainerWorkerApi = typeof api;

Comlink.expose(api);
