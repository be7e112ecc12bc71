/**
 * The trainer: a model, its private data, and the optimizer, behind one interface that the
 * mesh drives (DESIGN.md 2). The same code runs in a Web Worker (exposed with comlink) and in
 * Node (imported directly); the backend, the data and the clock are chosen by the caller.
 */

import * as tf from '@tensorflow/tfjs';
import {
  type BuiltinModelName,
  builtinTask,
  DEFAULT_ROOM_CONFIG,
  type EvalSplit,
  err,
  type ModelName,
  mergeParams,
  mulberry32,
  ok,
  type PeerData,
  type Result,
  smoothCapacity,
  type Task,
} from '../core';
import { type BackendName, selectBackend } from './backend';
import type { Checkpoint } from './checkpoint';
import {
  allocateBatch,
  type BatchBuffers,
  type Dataset,
  gatherBatch,
  permutation,
  sampleSize,
} from './data';
import {
  buildModel,
  disposeModel,
  initParams,
  localStateSize,
  type ManifestWeights,
  ModelError,
  type ModelSpec,
  readLocalState,
  readParams,
  type TaskModel,
  weightsFromManifest,
  writeAllWeights,
  writeLocalState,
  writeParams,
} from './model';
import { installConvFilterGradient } from './ops';
import {
  applyUpdate,
  createOptimizer,
  type ExportedOptimizerState,
  exportOptimizerState,
  importOptimizerState,
  type OptimizerConfig,
  type OptimizerState,
} from './optimizer';

export type TrainerErrorCode = 'bad-config' | 'bad-model' | 'bad-input' | 'non-finite' | 'disposed';

/** A request the trainer refuses; the model is left as it was. */
export class TrainerError extends Error {
  override readonly name = 'TrainerError';
  constructor(
    readonly code: TrainerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface TrainerConfig {
  /** The room's model name: a built-in one, or 'custom' (then `task` brings the model). */
  readonly model: ModelName;
  /** The room's task (core's roomTask); defaults to the built-in model's MNIST task. */
  readonly task?: Task;
  /** The room's limit on trainable parameters. */
  readonly maxParams?: number;
  /**
   * A pretrained start: a model.json's weights (worker/model-files.ts's readModelJson),
   * matched to the model's weights by name. Otherwise the seeded init.
   */
  readonly pretrained?: ManifestWeights;
  /** The room's seed: every peer starts from the same parameters. */
  readonly seed: number;
  /** Mixed into the batch order so peers do not walk their shards in lock-step. */
  readonly peerIndex: number;
  readonly optimizer: OptimizerConfig;
  /** Force one backend (a URL parameter or option); otherwise the fastest (worker/backend.ts). */
  readonly backend?: BackendName;
  /** Emulated compute slowdown, >= 1 (DESIGN.md 5): sleeps (F - 1) x the compute time. */
  readonly slowdown?: number;
}

/**
 * The data a peer holds: its shard, its own validation split, the test subset it reports on,
 * and the DKT probe (public images, the same on every peer, disjoint from the test subset).
 */
export interface TrainerData {
  readonly train: Dataset;
  readonly validation: Dataset;
  readonly test: Dataset;
  readonly probe: Dataset;
  /**
   * Whose data this is and where test and probe come from: a room shard ('room' for both)
   * unless said otherwise.
   */
  readonly origin?: {
    readonly own: boolean;
    readonly test: 'room' | 'own';
    readonly probe: 'room' | 'own';
  };
}

export interface TrainerInfo {
  readonly model: ModelName;
  readonly backend: BackendName;
  /** Why a faster backend was not used; empty when WebGPU (or the forced one) started. */
  readonly backendNote: string;
  readonly paramCount: number;
  readonly fingerprint: number;
  /** Sizes of the parameter tensors in flat order (Ako partitions along them). */
  readonly layerSizes: readonly number[];
  readonly trainSize: number;
  readonly validationSize: number;
  readonly testSize: number;
  /** The training samples per label and where test and probe come from (no samples). */
  readonly data: PeerData;
}

export interface StepResult {
  /** Index of the step just computed (0 for the first). */
  readonly step: number;
  readonly batchSize: number;
  /** Mean gradient over the batch, flat in the model's layout; the caller owns it. */
  readonly gradient: Float32Array;
  readonly loss: number;
  /** Pure compute (forward + backward + read-back), without the emulated slowdown. */
  readonly computeMs: number;
  /** The compute time the mesh sees: computeMs x slowdown. */
  readonly emulatedMs: number;
}

export interface TrainerSnapshot {
  readonly step: number;
  readonly params: Float32Array;
  readonly optimizer: ExportedOptimizerState;
  /** Non-trainable weights (BatchNorm statistics), when the model has any. */
  readonly localState?: Float32Array;
}

export interface EvalResult {
  readonly loss: number;
  readonly accuracy: number;
  readonly samples: number;
}

/** Injected so tests and the benchmark's virtual clock control time. */
export interface TrainerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: TrainerClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const EVAL_BATCH = 500;

export interface Trainer {
  readonly info: TrainerInfo;
  /** One forward/backward pass on the next `batchSize` samples of the shard. */
  step(batchSize: number): Promise<Result<StepResult, TrainerError>>;
  /** Applies a flat update (the mesh's merged mean gradient) through the optimizer. */
  apply(update: Float32Array): Result<void, TrainerError>;
  /** A copy of the parameters. */
  getParams(): Float32Array;
  /** The Layers model, holding the current parameters (for export; do not dispose). */
  layersModel(): tf.LayersModel;
  /** The task trained. */
  readonly task: Task;
  setParams(params: Float32Array): Result<void, TrainerError>;
  /** w <- (1 - beta) w + beta other (knowledge transfer). */
  mergeParams(other: Float32Array, beta: number): Result<void, TrainerError>;
  evaluate(split: EvalSplit): Promise<EvalResult>;
  /** Samples per second of (emulated) compute, EWMA-smoothed; 0 before the first step. */
  capacity(): number;
  setSlowdown(factor: number): Result<void, TrainerError>;
  /** Steps computed so far. */
  steps(): number;
  optimizerState(): OptimizerState;
  /** The state a checkpoint stores: step, parameters, optimizer buffers, local state (copies). */
  snapshot(): Promise<TrainerSnapshot>;
  /**
   * Resumes from a decoded checkpoint. All or nothing: everything is checked before anything
   * changes, so a refused checkpoint leaves the trainer as it was (a fresh start).
   */
  restore(
    checkpoint: Pick<
      Checkpoint,
      'model' | 'fingerprint' | 'step' | 'params' | 'optimizer' | 'localState'
    >,
  ): Result<void, TrainerError>;
  memory(): { numTensors: number; numBytes: number };
  dispose(): void;
}

const isFiniteArray = (a: Float32Array): boolean => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
};

/** Starts a trainer: picks the backend, builds the model from the room's seed. */
export async function createTrainer(
  config: TrainerConfig,
  data: TrainerData,
  clock: TrainerClock = realClock,
): Promise<Trainer> {
  const slowdownOk = (f: number) => Number.isFinite(f) && f >= 1;
  if (config.slowdown !== undefined && !slowdownOk(config.slowdown)) {
    throw new TrainerError('bad-config', `slowdown must be >= 1, got ${config.slowdown}`);
  }
  if (data.train.count === 0) throw new TrainerError('bad-config', 'the training shard is empty');
  const choice = await selectBackend(config.backend);
  installConvFilterGradient();
  const task = config.task ?? builtinTask(config.model as BuiltinModelName, 'mnist');
  let built: TaskModel;
  try {
    built = await buildModel(task, {
      maxParams: config.maxParams ?? DEFAULT_ROOM_CONFIG.maxParams,
    });
  } catch (e) {
    if (e instanceof ModelError) throw new TrainerError('bad-model', e.message);
    throw e;
  }
  const spec: ModelSpec = built.spec;
  if (config.pretrained) {
    try {
      writeAllWeights(built, weightsFromManifest(built, config.pretrained));
    } catch (e) {
      disposeModel(built);
      throw new TrainerError('bad-model', e instanceof Error ? e.message : String(e));
    }
  } else {
    writeParams(built, await initParams(built, config.seed));
  }
  let params = await readParams(built);
  if (!isFiniteArray(params)) {
    disposeModel(built);
    throw new TrainerError('bad-model', 'weights: the initial weights hold a non-finite value');
  }
  const dataFeatures = sampleSize(data.train);
  const modelInput = spec.inputShape.reduce((a, b) => a * b, 1);
  if (modelInput !== dataFeatures) {
    disposeModel(built);
    throw new TrainerError(
      'bad-model',
      `input: the model takes ${modelInput} values per sample but the data holds ${dataFeatures}`,
    );
  }
  const signed = task.input.kind === 'image' && task.input.scale === 'signed';
  const trainVars = built.model.trainableWeights.map((w) => w.read() as tf.Variable);
  let optimizer = createOptimizer(config.optimizer, spec.paramCount);
  let slowdown = config.slowdown ?? 1;
  let capacity: number | undefined;
  let stepIndex = 0;
  let disposed = false;
  let buffers: BatchBuffers = allocateBatch(data.train, 64);
  // The batch order: a fresh seeded permutation of the shard every epoch.
  let order: Uint32Array = new Uint32Array(0);
  let cursor = 0;
  let epoch = 0;
  const nextIndices = (b: number): Uint32Array => {
    const out = new Uint32Array(b);
    for (let i = 0; i < b; i++) {
      if (cursor >= order.length) {
        order = permutation(
          data.train.count,
          mulberry32((config.seed * 7919 + config.peerIndex * 104_729 + epoch) >>> 0),
        );
        cursor = 0;
        epoch++;
      }
      out[i] = order[cursor++]!;
    }
    return out;
  };

  const replaceParams = (next: Float32Array) => {
    params = next;
    writeParams(built, params);
  };

  // The data gives pixels / 255; a 'signed' task takes them to [-1, 1].
  const input = (x: Float32Array, b: number): tf.Tensor => {
    const t = tf.tensor(x, [b, ...spec.inputShape]);
    return signed ? tf.sub(tf.mul(t, 2), 1) : t;
  };
  const classes = spec.classes;
  /** Per-sample cross-entropy of the training view's output against one-hot labels. */
  const losses = (ys: tf.Tensor, out: tf.Tensor, reduction: tf.Reduction): tf.Tensor =>
    spec.trainOutput === 'logits'
      ? tf.losses.softmaxCrossEntropy(ys, out, undefined, undefined, reduction)
      : tf.losses.computeWeightedLoss(
          tf.neg(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(out, 1e-7, 1))), -1)),
          undefined,
          reduction,
        );

  const info: TrainerInfo = {
    model: config.model,
    backend: choice.backend,
    backendNote: choice.note,
    paramCount: spec.paramCount,
    fingerprint: spec.fingerprint,
    layerSizes: spec.weights.map((p) => p.size),
    trainSize: data.train.count,
    validationSize: data.validation.count,
    testSize: data.test.count,
    data: {
      own: data.origin?.own ?? false,
      perLabel: labelCounts(data.train, classes),
      test: data.origin?.test ?? 'room',
      probe: data.origin?.probe ?? 'room',
    },
  };

  return {
    info,
    async step(batchSize) {
      if (disposed) return err(new TrainerError('disposed', 'the trainer was disposed'));
      if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= 4096)) {
        return err(
          new TrainerError(
            'bad-input',
            `batch size must be an integer in 1..4096, got ${batchSize}`,
          ),
        );
      }
      if (buffers.y.length < batchSize) buffers = allocateBatch(data.train, batchSize);
      const { x, y } = gatherBatch(data.train, nextIndices(batchSize), buffers);
      const t0 = clock.now();
      const [lossT, gradT] = tf.tidy(() => {
        const xs = input(x, batchSize);
        const ys = tf.oneHot(tf.tensor1d(y, 'int32'), classes);
        const lossOf = () =>
          losses(
            ys,
            built.train.apply(xs, { training: true }) as tf.Tensor,
            tf.Reduction.SUM_BY_NONZERO_WEIGHTS,
          ) as tf.Scalar;
        const { value, grads } = tf.variableGrads(lossOf, trainVars);
        const flat = trainVars.map((v) => tf.reshape(grads[v.name]!, [-1]));
        return [value, tf.concat(flat)] as const;
      });
      const [lossData, gradData] = await Promise.all([lossT.data(), gradT.data()]);
      tf.dispose([lossT, gradT]);
      const computeMs = clock.now() - t0;
      // The backend may hand out its own storage or a view: copy unless we own a whole buffer,
      // since the caller transfers the gradient's buffer to another thread.
      const raw = gradData as Float32Array;
      const gradient =
        raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
      const loss = lossData[0] ?? Number.NaN;
      const index = stepIndex++;
      const emulatedMs = computeMs * slowdown;
      if (slowdown > 1) await clock.sleep(emulatedMs - computeMs);
      if (emulatedMs > 0) capacity = smoothCapacity(capacity, (batchSize * 1000) / emulatedMs);
      if (!Number.isFinite(loss) || !isFiniteArray(gradient)) {
        return err(
          new TrainerError('non-finite', `step ${index} produced a non-finite loss or gradient`),
        );
      }
      return ok({ step: index, batchSize, gradient, loss, computeMs, emulatedMs });
    },
    apply(update) {
      if (disposed) return err(new TrainerError('disposed', 'the trainer was disposed'));
      const next = params.slice();
      const r = applyUpdate(optimizer, next, update);
      if (!r.ok) return err(new TrainerError('bad-input', r.error.message));
      replaceParams(next);
      return ok(undefined);
    },
    getParams: () => params.slice(),
    layersModel: () => built.model,
    task,
    setParams(next) {
      if (next.length !== spec.paramCount) {
        return err(
          new TrainerError(
            'bad-input',
            `expected ${spec.paramCount} parameters, got ${next.length}`,
          ),
        );
      }
      if (!isFiniteArray(next))
        return err(new TrainerError('non-finite', 'parameters must be finite'));
      replaceParams(next.slice());
      return ok(undefined);
    },
    mergeParams(other, beta) {
      const merged = mergeParams(params, other, beta);
      if (!merged.ok) return err(new TrainerError('bad-input', merged.error.message));
      replaceParams(merged.value);
      return ok(undefined);
    },
    async evaluate(split) {
      const ds = data[split];
      let lossSum = 0;
      let correct = 0;
      const evalBuffers = allocateBatch(ds, Math.min(EVAL_BATCH, Math.max(1, ds.count)));
      for (let from = 0; from < ds.count; from += EVAL_BATCH) {
        const b = Math.min(EVAL_BATCH, ds.count - from);
        const indices = Uint32Array.from({ length: b }, (_, i) => from + i);
        const { x, y } = gatherBatch(ds, indices, evalBuffers);
        const [lossT, hitsT] = tf.tidy(() => {
          const out = built.train.apply(input(x, b), { training: false }) as tf.Tensor;
          const labels = tf.tensor1d(y, 'int32');
          const sum = losses(tf.oneHot(labels, classes), out, tf.Reduction.SUM);
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), labels), 'int32'));
          return [sum, hits] as const;
        });
        const [l, h] = await Promise.all([lossT.data(), hitsT.data()]);
        tf.dispose([lossT, hitsT]);
        lossSum += l[0] ?? Number.NaN;
        correct += h[0] ?? 0;
      }
      const n = Math.max(1, ds.count);
      return { loss: lossSum / n, accuracy: correct / n, samples: ds.count };
    },
    capacity: () => capacity ?? 0,
    setSlowdown(factor) {
      if (!slowdownOk(factor))
        return err(new TrainerError('bad-input', `slowdown must be >= 1, got ${factor}`));
      slowdown = factor;
      return ok(undefined);
    },
    steps: () => stepIndex,
    optimizerState: () => optimizer,
    snapshot: async () => {
      // The synchronous parts first: a step applied while the local state is read is not mixed in.
      const step = stepIndex;
      const copy = params.slice();
      const opt = exportOptimizerState(optimizer);
      const local = await readLocalState(built);
      return {
        step,
        params: copy,
        optimizer: opt,
        ...(local.length > 0 ? { localState: local } : {}),
      };
    },
    restore(c) {
      if (c.model !== config.model || c.fingerprint !== spec.fingerprint) {
        return err(
          new TrainerError(
            'bad-input',
            `checkpoint of ${c.model} (0x${c.fingerprint.toString(16)}) does not fit ${config.model} (0x${spec.fingerprint.toString(16)})`,
          ),
        );
      }
      if (c.params.length !== spec.paramCount || !isFiniteArray(c.params)) {
        return err(
          new TrainerError(
            'bad-input',
            'checkpoint parameters have the wrong length or a non-finite value',
          ),
        );
      }
      if (c.optimizer.kind !== config.optimizer.kind) {
        return err(
          new TrainerError(
            'bad-input',
            `checkpoint optimizer ${c.optimizer.kind} is not the room's ${config.optimizer.kind}`,
          ),
        );
      }
      const restored = importOptimizerState(c.optimizer, spec.paramCount);
      if (!restored.ok) return err(new TrainerError('bad-input', restored.error.message));
      if (!(Number.isInteger(c.step) && c.step >= 0))
        return err(new TrainerError('bad-input', `bad step ${c.step}`));
      const localLength = localStateSize(built);
      if (c.localState !== undefined && c.localState.length !== localLength) {
        return err(
          new TrainerError(
            'bad-input',
            `checkpoint local state has ${c.localState.length} values, the model ${localLength}`,
          ),
        );
      }
      optimizer = restored.value;
      stepIndex = c.step;
      replaceParams(c.params.slice());
      // Without local state (an older checkpoint), the statistics re-estimate as it trains.
      if (c.localState !== undefined) writeLocalState(built, c.localState);
      return ok(undefined);
    },
    memory: () => {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      disposeModel(built);
    },
  };
}

/** Samples per label in a dataset (labels past `classes` are not counted: the data refused them). */
function labelCounts(ds: Dataset, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < ds.count; i++) {
    const l = ds.labels[i]!;
    if (l < classes) counts[l]! += 1;
  }
  return counts;
}
