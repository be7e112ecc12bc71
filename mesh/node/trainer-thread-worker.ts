/**
 * The entry of a trainer thread (worker_threads): the Node counterpart of the browser's
 * trainer Web Worker. tfjs on the cpu backend computes on the thread that calls it; here that
 * is this thread, so the peer's main thread stays free to stamp acks and serve its links.
 */

import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { EvalSplit } from '../../core';
import { createFileCheckpointStore } from '../../worker/node/checkpoint-store';
import type { MeshTrainer, TrainerRequest } from '../types';
import { threadEndpoint } from './thread-endpoint';
import { nodeTrainerFactory } from './trainer';
import type { ThreadTrainerOptions } from './trainer-thread';

let trainer: MeshTrainer | undefined;
const live = (): MeshTrainer => {
  if (trainer === undefined) throw new Error('the trainer thread has not been initialised');
  return trainer;
};

const api = {
  async init(request: TrainerRequest, options: ThreadTrainerOptions) {
    trainer = await nodeTrainerFactory({
      room: options.room,
      name: options.name,
      ...(options.testSamples === undefined ? {} : { testSamples: options.testSamples }),
      ...(options.slowdown === undefined ? {} : { slowdown: options.slowdown }),
      ...(options.stateDir === undefined
        ? {}
        : { store: createFileCheckpointStore(options.stateDir) }),
      ...(options.checkpointKey === undefined ? {} : { checkpointKey: options.checkpointKey }),
      ...(options.backend === undefined ? {} : { backend: options.backend }),
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.initialWeights === undefined ? {} : { initialWeights: options.initialWeights }),
    })(request);
    return trainer.info;
  },
  step: (b: number) => live().step(b),
  apply: (u: Float32Array) => live().apply(u),
  getParams: () => live().getParams(),
  setParams: (p: Float32Array) => live().setParams(p),
  mergeParams: (p: Float32Array, beta: number) => live().mergeParams(p, beta),
  evaluate: (split: EvalSplit) => live().evaluate(split),
  capacity: () => live().capacity(),
  setSlowdown: (f: number) => live().setSlowdown(f),
  steps: () => live().steps(),
  saveCheckpoint: () => live().saveCheckpoint(),
  exportModel: () => live().exportModel(),
  restoreCheckpoint: () => live().restoreCheckpoint(),
  dispose: async () => {
    await trainer?.dispose();
    trainer = undefined;
  },
};

export type TrainerThreadApi = typeof api;

if (parentPort) Comlink.expose(api, threadEndpoint(parentPort));
