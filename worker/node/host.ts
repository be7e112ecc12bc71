/**
 * The trainer service's host in Node (worker/service.ts): the peer's shard from the dataset
 * files on disk, or a kiosk's own --data (IDX files, a folder of images in label folders, a
 * CSV/TSV table: worker/node/own-data.ts), checkpoints as files in a state directory,
 * and the backend: 'cpu' by default; 'webgpu' through Dawn (an error when it cannot start);
 * 'auto': WebGPU when Dawn finds a GPU adapter, else the faster of Dawn's software adapter and
 * cpu by a short timing (worker/backend.ts), with the reason in the note.
 */

import { roomTask, taskDataset } from '../../core';
import type { CheckpointStore } from '../checkpoint';
import { splitSamples } from '../data';
import { type ServiceInit, shardSpecOf, type TrainerHost } from '../service';
import { type Trainer, type TrainerClock, type TrainerData, TrainerError } from '../trainer';
import { createFileCheckpointStore } from './checkpoint-store';
import { loadNodeData, loadProbe } from './data';
import { installDawnGpu } from './dawn';
import { loadLocalData } from './local-data';
import { detectLayout, readOwnData } from './own-data';

/** What a Node peer may ask for: a backend by name, or the best one that starts. */
export type NodeBackendChoice = 'auto' | 'webgpu' | 'cpu';

/** Where a Node peer's data and checkpoints are: plain data, it crosses to a thread. */
export interface NodeSource {
  /**
   * Train on this folder or table (a kiosk's --data) instead of the room's shard: IDX files,
   * label folders of images, or a CSV/TSV file.
   */
  readonly dataDir?: string;
  /** Checkpoints in this directory (a file store). */
  readonly stateDir?: string;
}

export interface NodeHostOptions {
  /** A checkpoint store that overrides the source's stateDir (tests: memory). */
  readonly store?: CheckpointStore;
  /** The clock the slowdown sleeps on and compute is timed with (a benchmark's virtual one). */
  readonly clock?: TrainerClock;
  /** Told how decoding own data goes (a kiosk prints a progress line). */
  readonly onDataProgress?: (p: { done: number; total: number }) => void;
}

/**
 * A peer's own folder or table, split: a held-out test split it reports on, a validation
 * split, the rest to train on. DKT compares on the room dataset's public probe when the task
 * names one, else on the held-out split.
 */
async function loadOwnData(
  o: ServiceInit<NodeSource>,
  path: string,
  onProgress: NodeHostOptions['onDataProgress'],
): Promise<TrainerData> {
  const task = roomTask(o.config);
  const samples = await readOwnData(path, task, onProgress);
  const split = splitSamples(samples, {
    seed: o.config.seed,
    validationFraction: o.config.validationFraction,
    testSamples: o.testSamples,
  });
  const dataset = taskDataset(task);
  return dataset === undefined
    ? { ...split, probe: split.test, origin: { own: true, test: 'own', probe: 'own' } }
    : {
        ...split,
        probe: await loadProbe(dataset),
        origin: { own: true, test: 'own', probe: 'room' },
      };
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export function nodeHost(options: NodeHostOptions = {}): TrainerHost<NodeSource> {
  const stores = new Map<string, CheckpointStore>();
  return {
    async loadData(o) {
      const dir = o.source.dataDir;
      if (dir === undefined) {
        if (roomTask(o.config).data.kind === 'local') {
          throw new TrainerError(
            'bad-config',
            "this room trains on each peer's own data: give it with --data",
          );
        }
        return loadNodeData(shardSpecOf(o));
      }
      if ((await detectLayout(dir)).layout !== 'idx') {
        return loadOwnData(o, dir, options.onDataProgress);
      }
      return loadLocalData({
        dir,
        dataset: o.config.dataset,
        seed: o.config.seed,
        validationFraction: o.config.validationFraction,
        testSamples: o.testSamples,
      });
    },
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
