/**
 * A TrainerFactory that runs each trainer in its own worker thread, as a browser runs it in a
 * Web Worker. In-process tfjs would block the peer's event loop for the whole step: acks
 * would be stamped late and released together, and the bandwidth estimate would measure the
 * step time instead of the link. Errors cross the thread as Error values (structured clone).
 */

import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { MeshStepResult, MeshTrainer, ModelExportFiles, TrainerFactory } from '../types';
import { threadEndpoint } from './thread-endpoint';
import type { NodeBackendChoice } from './trainer';
import type { TrainerThreadApi } from './trainer-thread-worker';

/** Plain data: it crosses to the thread by structured clone. */
export interface ThreadTrainerOptions {
  readonly room: string;
  readonly name: string;
  readonly testSamples?: number;
  readonly slowdown?: number;
  /** Checkpoints in this directory (a file store); none without it. */
  readonly stateDir?: string;
  readonly checkpointKey?: string;
  /** 'cpu' (default), 'webgpu' through Dawn, or 'auto' (nodeTrainerFactory). */
  readonly backend?: NodeBackendChoice;
  /** Train on the IDX files in this folder instead of the room's shard (a kiosk's --data). */
  readonly dataDir?: string;
  /** A pretrained start (NodeTrainerOptions.initialWeights). */
  readonly initialWeights?: Float32Array;
}

const errorValue = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
/** Error values come back through structured clone as Errors; anything else is the result. */
const settle = async <T>(p: PromiseLike<T>): Promise<T | Error> => {
  try {
    return await p;
  } catch (e) {
    return errorValue(e);
  }
};

export function threadTrainerFactory(options: ThreadTrainerOptions): TrainerFactory {
  return async (request) => {
    // A .mjs entry registers tsx in the thread, then loads the TypeScript entry.
    const worker = new Worker(new URL('./trainer-thread-entry.mjs', import.meta.url));
    const remote = Comlink.wrap<TrainerThreadApi>(threadEndpoint(worker));
    let info: Awaited<ReturnType<TrainerThreadApi['init']>>;
    try {
      info = await remote.init(request, options);
    } catch (e) {
      await worker.terminate();
      throw errorValue(e);
    }
    let disposed = false;
    const trainer: MeshTrainer = {
      info,
      step: (b) => settle(remote.step(b) as Promise<MeshStepResult | Error>),
      apply: (u) => settle(remote.apply(u)),
      getParams: () => remote.getParams(),
      setParams: (p) => settle(remote.setParams(p)),
      mergeParams: (p, beta) => settle(remote.mergeParams(p, beta)),
      evaluate: (split) => remote.evaluate(split),
      capacity: () => remote.capacity(),
      setSlowdown: (f) => settle(remote.setSlowdown(f)),
      steps: () => remote.steps(),
      saveCheckpoint: () => settle(remote.saveCheckpoint()),
      exportModel: () => settle(remote.exportModel() as Promise<ModelExportFiles | Error>),
      restoreCheckpoint: () => remote.restoreCheckpoint(),
      async dispose() {
        if (disposed) return;
        disposed = true;
        try {
          await remote.dispose();
        } finally {
          remote[Comlink.releaseProxy]();
          await worker.terminate();
        }
      },
    };
    return trainer;
  };
}
