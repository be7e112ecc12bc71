/**
 * The TrainerFactory of a Node peer: the trainer runs in-process (no Worker), on the tfjs cpu
 * backend unless told otherwise, with its shard loaded from the dataset files on disk and its
 * checkpoints in an injected store (a state directory for kiosks, memory for tests).
 */

import { checksum, roomTask, utf8Encode } from '../../core';
import type { BackendName } from '../../worker/backend';
import { type CheckpointStore, encodeCheckpoint, restoreCheckpoint } from '../../worker/checkpoint';
import { exportModel } from '../../worker/model-files';
import { loadNodeData } from '../../worker/node/data';
import { installDawnGpu } from '../../worker/node/dawn';
import { loadLocalData } from '../../worker/node/local-data';
import type { OptimizerConfig } from '../../worker/optimizer';
import { createTrainer, type Trainer, type TrainerClock, TrainerError } from '../../worker/trainer';
import {
  type MeshClock,
  type MeshTrainer,
  type MeshTrainerInfo,
  sleep,
  type TrainerFactory,
  type TrainerRequest,
} from '../types';

/** What a Node peer may ask for: a backend by name, or the best one that starts. */
export type NodeBackendChoice = 'auto' | 'webgpu' | 'cpu';

/** Test images a Node peer evaluates on when the options do not say (as in the browser). */
export const DEFAULT_TEST_SAMPLES = 2000;

export interface NodeTrainerOptions {
  /** The room joined: part of the default checkpoint key, and checked on restore. */
  readonly room: string;
  /** This peer's name: part of the default checkpoint key. */
  readonly name: string;
  /** Where checkpoints live; without one, saving is a no-op and nothing is restored. */
  readonly store?: CheckpointStore;
  /** The store key; defaults to nodeCheckpointKey(room, name). */
  readonly checkpointKey?: string;
  /** Test samples to evaluate on (default DEFAULT_TEST_SAMPLES). */
  readonly testSamples?: number;
  /**
   * The tfjs backend: 'cpu' by default; 'webgpu' through Dawn (fails when it cannot start);
   * 'auto': webgpu when Dawn finds a GPU adapter, else the faster of Dawn's software adapter
   * and cpu by a short timing (worker/backend.ts), with the reason in backendNote.
   */
  readonly backend?: NodeBackendChoice;
  /** Train on the IDX files in this folder (a kiosk's own data) instead of the room's shard. */
  readonly dataDir?: string;
  /** Emulated compute slowdown at start, >= 1 (DESIGN.md 5). */
  readonly slowdown?: number;
  /**
   * A pretrained start for a room whose task says `pretrained` (the creator's model file):
   * every weight in `model.weights` order. Ignored when the room trains another model.
   */
  readonly initialWeights?: Float32Array;
  /** The clock the slowdown sleeps on and compute is timed with (a benchmark's virtual one). */
  readonly clock?: MeshClock;
}

const FILE_SAFE = /[^A-Za-z0-9_-]+/g;

/**
 * A checkpoint key that createFileCheckpointStore accepts for any room and name: the browser's
 * `${room}/${name}` has a slash, and names may hold any printable character. The readable part
 * is sanitised and truncated, so a hash of the exact pair keeps distinct peers apart.
 *
 * @example nodeCheckpointKey('lab', 'kiosk 3') === 'lab.kiosk-3.1a2b3c4d'
 */
export function nodeCheckpointKey(room: string, name: string): string {
  const hash = checksum(utf8Encode(`${room}\n${name}`))
    .toString(16)
    .padStart(8, '0');
  const part = (s: string, max: number) => s.replace(FILE_SAFE, '-').slice(0, max) || '-';
  return `${part(room, 64)}.${part(name, 40)}.${hash}`;
}

/** The optimizer the room's config names, in the trainer's shape. */
export function optimizerFromConfig(config: TrainerRequest['config']): OptimizerConfig {
  return config.optimizer === 'sgd'
    ? { kind: 'sgd', learningRate: config.learningRate, momentum: config.momentum }
    : { kind: 'adam', learningRate: config.learningRate };
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Runs `f`; a throw (a tfjs failure, a store error) comes back as the Error value instead. */
async function guarded(f: () => Promise<undefined | Error> | undefined | Error) {
  try {
    return await f();
  } catch (e) {
    return asError(e);
  }
}

/**
 * Loads the peer's shard for its slot and starts a trainer for the room's config.
 *
 * @example
 * const createTrainer = nodeTrainerFactory({ room, name, store: createFileCheckpointStore(dir) });
 */
export function nodeTrainerFactory(options: NodeTrainerOptions): TrainerFactory {
  return async ({ config, slot }) => {
    const testSamples = options.testSamples ?? DEFAULT_TEST_SAMPLES;
    const data =
      options.dataDir === undefined
        ? await loadNodeData({
            dataset: config.dataset,
            seed: config.seed,
            peerIndex: slot,
            peerCount: config.maxPeers,
            sharding: config.sharding,
            validationFraction: config.validationFraction,
            testSamples,
          })
        : await loadLocalData({
            dir: options.dataDir,
            dataset: config.dataset,
            seed: config.seed,
            validationFraction: config.validationFraction,
            testSamples,
          });
    const clock = options.clock;
    const trainerClock: TrainerClock | undefined =
      clock === undefined ? undefined : { now: () => clock.now(), sleep: (ms) => sleep(clock, ms) };
    const optimizer = optimizerFromConfig(config);
    /** `undefined`: worker/backend.ts picks the fastest of those that start. */
    const start = (backend: BackendName | undefined) =>
      createTrainer(
        {
          model: config.model,
          task: roomTask(config),
          maxParams: config.maxParams,
          ...(options.initialWeights &&
          config.task?.model.kind === 'layers' &&
          config.task.model.pretrained
            ? { initialWeights: options.initialWeights }
            : {}),
          seed: config.seed,
          peerIndex: slot,
          optimizer,
          ...(backend === undefined ? {} : { backend }),
          ...(options.slowdown === undefined ? {} : { slowdown: options.slowdown }),
        },
        data,
        trainerClock,
      );
    const wanted = options.backend ?? 'cpu';
    let trainer: Trainer;
    let note = '';
    if (wanted === 'cpu') trainer = await start('cpu');
    else {
      const why = await installDawnGpu();
      if (why !== undefined && wanted === 'webgpu') {
        throw new TrainerError('bad-config', `webgpu was asked for but cannot start: ${why}`);
      }
      if (why === undefined) {
        try {
          // 'auto' with an adapter: WebGPU on a GPU, else the faster of Dawn's software
          // adapter and the cpu backend, timed (selectBackend).
          trainer = await start(wanted === 'webgpu' ? 'webgpu' : undefined);
        } catch (e) {
          if (wanted === 'webgpu') throw e;
          note = `webgpu: ${asError(e).message}`;
          trainer = await start('cpu');
        }
      } else {
        note = `webgpu: ${why}`;
        trainer = await start('cpu');
      }
    }
    return wrapTrainer(trainer, note, {
      room: options.room,
      dataset: config.dataset,
      optimizer: optimizer.kind,
      key: options.checkpointKey ?? nodeCheckpointKey(options.room, options.name),
      store: options.store,
    });
  };
}

interface CheckpointPlace {
  readonly room: string;
  readonly dataset: string;
  readonly optimizer: 'sgd' | 'adam';
  readonly key: string;
  readonly store: CheckpointStore | undefined;
}

/** The in-process Trainer seen through the MeshTrainer interface (Result errors become values). */
function wrapTrainer(trainer: Trainer, note: string, place: CheckpointPlace): MeshTrainer {
  const info: MeshTrainerInfo = {
    backend: trainer.info.backend,
    backendNote: [note, trainer.info.backendNote].filter((s) => s !== '').join('; '),
    paramCount: trainer.info.paramCount,
    fingerprint: trainer.info.fingerprint,
    layerSizes: trainer.info.layerSizes,
  };
  let disposed = false;
  const disposedError = () => new TrainerError('disposed', 'the trainer was disposed');
  const value = (r: { ok: true } | { ok: false; error: Error }) => (r.ok ? undefined : r.error);

  return {
    info,
    async step(batchSize) {
      try {
        const r = await trainer.step(batchSize);
        if (!r.ok) return r.error;
        const { gradient, loss } = r.value;
        // The mesh sees the emulated compute time: a slowed-down peer must look slow to the
        // exchange budget exactly as it does to its capacity (DESIGN.md 5).
        return { batchSize: r.value.batchSize, gradient, loss, computeMs: r.value.emulatedMs };
      } catch (e) {
        return asError(e);
      }
    },
    apply: (update) => guarded(() => value(trainer.apply(update))),
    getParams: async () => trainer.getParams(),
    setParams: (params) =>
      guarded(() => (disposed ? disposedError() : value(trainer.setParams(params)))),
    mergeParams: (other, beta) =>
      guarded(() => (disposed ? disposedError() : value(trainer.mergeParams(other, beta)))),
    evaluate: async (split) => {
      if (disposed) throw disposedError();
      return trainer.evaluate(split);
    },
    capacity: async () => trainer.capacity(),
    setSlowdown: (factor) => guarded(() => value(trainer.setSlowdown(factor))),
    steps: async () => trainer.steps(),
    saveCheckpoint: () =>
      guarded(async () => {
        const { store } = place;
        if (store === undefined) return undefined;
        if (disposed) return disposedError();
        const bytes = encodeCheckpoint({
          model: trainer.info.model,
          fingerprint: trainer.info.fingerprint,
          room: place.room,
          dataset: place.dataset,
          metrics: [],
          ...trainer.snapshot(),
        });
        await store.save(place.key, bytes);
        return undefined;
      }),
    exportModel: async () => {
      try {
        if (disposed) return disposedError();
        return { ...exportModel(trainer.layersModel(), trainer.task) };
      } catch (e) {
        return asError(e);
      }
    },
    async restoreCheckpoint() {
      const { store } = place;
      if (store === undefined) return { restored: false, reason: 'no checkpoint store' };
      if (disposed) return { restored: false, reason: 'the trainer was disposed' };
      const outcome = await restoreCheckpoint(store, place.key, {
        model: trainer.info.model,
        fingerprint: trainer.info.fingerprint,
        paramCount: trainer.info.paramCount,
        room: place.room,
        dataset: place.dataset,
        optimizer: place.optimizer,
      });
      if (outcome.kind === 'fresh') return { restored: false, reason: outcome.reason };
      const r = trainer.restore(outcome.checkpoint);
      if (!r.ok) return { restored: false, reason: `checkpoint refused: ${r.error.message}` };
      return { restored: true, step: outcome.checkpoint.step };
    },
    async dispose() {
      disposed = true;
      trainer.dispose();
    },
  };
}
