/**
 * The trainer service's host in Node (worker/service.ts): the peer's shard from the dataset
 * files on disk (or a kiosk's own --data folder), checkpoints as files in a state directory,
 * and the backend: 'cpu' by default; 'webgpu' through Dawn (an error when it cannot start);
 * 'auto': WebGPU when Dawn finds a GPU adapter, else the faster of Dawn's software adapter and
 * cpu by a short timing (worker/backend.ts), with the reason in the note.
 */

import type { CheckpointStore } from '../checkpoint';
import { shardSpecOf, type TrainerHost } from '../service';
import { type Trainer, type TrainerClock, TrainerError } from '../trainer';
import { createFileCheckpointStore } from './checkpoint-store';
import { loadNodeData } from './data';
import { installDawnGpu } from './dawn';
import { loadLocalData } from './local-data';

/** What a Node peer may ask for: a backend by name, or the best one that starts. */
export type NodeBackendChoice = 'auto' | 'webgpu' | 'cpu';

/** Where a Node peer's data and checkpoints are: plain data, it crosses to a thread. */
export interface NodeSource {
  /** Train on the IDX files in this folder (a kiosk's --data) instead of the room's shard. */
  readonly dataDir?: string;
  /** Checkpoints in this directory (a file store). */
  readonly stateDir?: string;
}

export interface NodeHostOptions {
  /** A checkpoint store that overrides the source's stateDir (tests: memory). */
  readonly store?: CheckpointStore;
  /** The clock the slowdown sleeps on and compute is timed with (a benchmark's virtual one). */
  readonly clock?: TrainerClock;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export function nodeHost(options: NodeHostOptions = {}): TrainerHost<NodeSource> {
  const stores = new Map<string, CheckpointStore>();
  return {
    loadData: (o) =>
      o.source.dataDir === undefined
        ? loadNodeData(shardSpecOf(o))
        : loadLocalData({
            dir: o.source.dataDir,
            dataset: o.config.dataset,
            seed: o.config.seed,
            validationFraction: o.config.validationFraction,
            testSamples: o.testSamples,
          }),
    async startBackend(wanted = 'cpu', start): Promise<{ trainer: Trainer; note: string }> {
      if (wanted !== 'auto' && wanted !== 'webgpu' && wanted !== 'cpu') {
        throw new TrainerError(
          'bad-config',
          `backend must be auto, webgpu or cpu, got '${wanted}'`,
        );
      }
      if (wanted === 'cpu') return { trainer: await start('cpu'), note: '' };
      const why = await installDawnGpu();
      if (why !== undefined) {
        if (wanted === 'webgpu') {
          throw new TrainerError('bad-config', `webgpu was asked for but cannot start: ${why}`);
        }
        return { trainer: await start('cpu'), note: `webgpu: ${why}` };
      }
      try {
        // 'auto' with an adapter: WebGPU on a GPU, else the faster of Dawn's software adapter
        // and the cpu backend, timed (selectBackend).
        return { trainer: await start(wanted === 'webgpu' ? 'webgpu' : undefined), note: '' };
      } catch (e) {
        if (wanted === 'webgpu') throw e;
        return { trainer: await start('cpu'), note: `webgpu: ${asError(e).message}` };
      }
    },
    checkpoints(o) {
      if (o.checkpointKey === undefined) return undefined;
      if (options.store) return options.store;
      const dir = o.source.stateDir;
      if (dir === undefined) return undefined;
      let store = stores.get(dir);
      if (!store) {
        store = createFileCheckpointStore(dir);
        stores.set(dir, store);
      }
      return store;
    },
    ...(options.clock ? { clock: options.clock } : {}),
  };
}
