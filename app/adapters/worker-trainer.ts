/**
 * The TrainerFactory of a browser peer: one Web Worker per trainer (worker/browser's comlink
 * API), started once the room's config is known, and wrapped as the MeshTrainer the mesh
 * drives. Worker failures come back as Error values, as the MeshTrainer contract asks.
 */

import * as Comlink from 'comlink';
import { type RoomConfig, roomTask } from '../../core';
import type {
  MeshEval,
  MeshStepResult,
  MeshTrainer,
  TrainerFactory,
  TrainerRequest,
} from '../../mesh';
import type { BackendName } from '../../worker/backend';
import type { PlainError, TrainerWorkerApi, WorkerResult } from '../../worker/browser';
import type { OptimizerConfig } from '../../worker/optimizer';
import type { TrainerInfo } from '../../worker/trainer';
import type { NewRoomModel } from '../model-upload';

/** Test images each peer evaluates on: enough for a stable accuracy, quick on SwiftShader. */
export const TEST_SAMPLES = 1000;

/** A failure inside the trainer Worker, with the Worker's own error name and code. */
export class WorkerTrainerError extends Error {
  override readonly name = 'WorkerTrainerError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const toError = (e: PlainError): WorkerTrainerError =>
  new WorkerTrainerError(e.code, `${e.name}: ${e.message}`);

/** A WorkerResult's value, or its error as an Error value. */
const valueOr = <T>(r: WorkerResult<T>): T | WorkerTrainerError =>
  r.ok ? r.value : toError(r.error);

/** The same, for calls whose contract returns plain values: the error is thrown. */
const valueOrThrow = <T>(r: WorkerResult<T>): T => {
  if (!r.ok) throw toError(r.error);
  return r.value;
};

export interface WorkerTrainerOptions {
  /** Room and display name: the checkpoint's IndexedDB key is `${room}/${name}`. */
  readonly room: string;
  readonly name: string;
  /** Forces one tfjs backend (URL `backend=`); left out, the Worker picks webgpu -> webgl -> cpu. */
  readonly backend?: BackendName | undefined;
  /** Emulated compute slowdown at start, >= 1. */
  readonly slowdown?: number | undefined;
  /** The model file this tab created the room with (app/model-upload.ts), if any. */
  readonly newRoomModel?: NewRoomModel | undefined;
}

/** The room's optimizer fields as the trainer's optimizer config. */
export function optimizerFor(config: RoomConfig): OptimizerConfig {
  return config.optimizer === 'adam'
    ? { kind: 'adam', learningRate: config.learningRate }
    : { kind: 'sgd', learningRate: config.learningRate, momentum: config.momentum };
}

/**
 * Starts trainers in Web Workers. Example:
 * `createPeer({ ..., createTrainer: workerTrainerFactory({ room, name, slowdown: 2 }) })`.
 */
export function workerTrainerFactory(options: WorkerTrainerOptions): TrainerFactory {
  return async (request: TrainerRequest): Promise<MeshTrainer> => {
    const { config } = request;
    const worker = new Worker(new URL('../../worker/browser/trainer-worker.ts', import.meta.url), {
      type: 'module',
      name: `trainer-${request.peerId}`,
    });
    const remote = Comlink.wrap<TrainerWorkerApi>(worker);
    const stop = () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    };
    let init: WorkerResult<TrainerInfo>;
    try {
      init = await remote.init({
        model: config.model,
        task: roomTask(config),
        maxParams: config.maxParams,
        // Its weights only when the room trains that very model.
        ...(options.newRoomModel?.pretrained &&
        JSON.stringify(config.task?.model) === JSON.stringify(options.newRoomModel.task.model)
          ? { pretrained: options.newRoomModel.pretrained }
          : {}),
        optimizer: optimizerFor(config),
        ...(options.backend === undefined ? {} : { backend: options.backend }),
        ...(options.slowdown === undefined ? {} : { slowdown: options.slowdown }),
        dataBaseUrl: location.origin,
        dataset: config.dataset,
        seed: config.seed,
        peerIndex: request.slot,
        peerCount: config.maxPeers,
        sharding: config.sharding,
        validationFraction: config.validationFraction,
        testSamples: TEST_SAMPLES,
      });
    } catch (e) {
      // Only a Worker that failed to load (a script error) or died lands here.
      stop();
      throw new WorkerTrainerError('worker', e instanceof Error ? e.message : String(e));
    }
    if (!init.ok) {
      stop();
      throw toError(init.error);
    }
    const info = init.value;
    const target = { key: `${options.room}/${options.name}`, room: options.room };
    let disposed: Promise<void> | undefined;

    return {
      info: {
        backend: info.backend,
        backendNote: info.backendNote,
        paramCount: info.paramCount,
        fingerprint: info.fingerprint,
        layerSizes: info.layerSizes,
      },
      async step(batchSize): Promise<MeshStepResult | Error> {
        const r = await remote.step(batchSize);
        if (!r.ok) return toError(r.error);
        const { gradient, loss, emulatedMs } = r.value;
        // The emulated time: a peer told to run F times slower must look F times slower to
        // the mesh (its step time sets the per-link send budget), as capacity() already does.
        return { batchSize: r.value.batchSize, gradient, loss, computeMs: emulatedMs };
      },
      async apply(update) {
        // Cloned, not transferred: the contract does not give the buffer away, and the mesh
        // may keep it (an accumulator it reuses). A clone costs one copy of P floats.
        const r = await remote.apply(update);
        return r.ok ? undefined : toError(r.error);
      },
      async getParams() {
        return valueOrThrow(await remote.getParams());
      },
      async setParams(params) {
        const r = await remote.setParams(params);
        return r.ok ? undefined : toError(r.error);
      },
      async mergeParams(other, beta) {
        const r = await remote.mergeParams(other, beta);
        return r.ok ? undefined : toError(r.error);
      },
      async evaluate(split): Promise<MeshEval> {
        return valueOrThrow(await remote.evaluate(split));
      },
      async capacity() {
        return valueOrThrow(await remote.capacity());
      },
      async setSlowdown(factor) {
        const r = await remote.setSlowdown(factor);
        return r.ok ? undefined : toError(r.error);
      },
      async steps() {
        return valueOrThrow(await remote.steps());
      },
      async saveCheckpoint() {
        const r = valueOr(await remote.saveCheckpoint(target));
        return r instanceof Error ? r : undefined;
      },
      async exportModel() {
        return valueOr(await remote.exportModel());
      },
      async restoreCheckpoint() {
        const r = await remote.restoreCheckpoint(target);
        if (!r.ok) return { restored: false, reason: `${r.error.name}: ${r.error.message}` };
        return r.value.kind === 'restored'
          ? { restored: true, step: r.value.step }
          : { restored: false, reason: r.value.reason };
      },
      dispose() {
        disposed ??= (async () => {
          try {
            await remote.dispose();
          } catch {
            // The Worker is terminated just below either way; its tensors go with it.
          } finally {
            stop();
          }
        })();
        return disposed;
      },
    };
  };
}
