/**
 * The trainer service's host in a tab (worker/service.ts): the person's own samples kept in
 * IndexedDB for the room (worker/browser/own-data-store.ts), or else the peer's shard from the
 * server that served the page; checkpoints in IndexedDB; and the backend worker/backend.ts
 * picks (or the one the URL forces).
 */

import { roomTask, taskDataset } from '../../core';
import { BACKENDS, type BackendName } from '../backend';
import { samplesFitTask, splitSamples } from '../data';
import { type ServiceInit, shardSpecOf, type TrainerHost } from '../service';
import { type TrainerData, TrainerError } from '../trainer';
import { loadBrowserData, loadBrowserProbe } from './data';
import { createIdbCheckpointStore } from './idb-checkpoint-store';
import { loadSamples } from './own-data-store';

/** Where a tab's data comes from: its own samples, or the server's shard files. */
export interface BrowserSource {
  /** Usually `location.origin`: the shard files, and the room dataset's public probe. */
  readonly dataBaseUrl: string;
  /** Train on the samples this tab keeps for the room (never sent anywhere). */
  readonly ownData?: boolean;
}

/**
 * The tab's own samples, split: a held-out test split it reports on, a validation split, the
 * rest to train on. DKT compares on the room dataset's public probe when the task names one,
 * else on the held-out split.
 */
async function ownData(o: ServiceInit<BrowserSource>): Promise<TrainerData> {
  const task = roomTask(o.config);
  const samples = await loadSamples(o.room);
  if (samples === undefined) {
    throw new TrainerError('bad-config', 'no data of yours is kept for this room: choose it again');
  }
  if (!samplesFitTask(samples, task)) {
    throw new TrainerError(
      'bad-config',
      'your data was decoded for another task (input or labels differ): forget it and choose again',
    );
  }
  const split = splitSamples(samples, {
    seed: o.config.seed,
    validationFraction: o.config.validationFraction,
    testSamples: o.testSamples,
  });
  const dataset = taskDataset(task);
  if (dataset === undefined) {
    return { ...split, probe: split.test, origin: { own: true, test: 'own', probe: 'own' } };
  }
  const probe = await loadBrowserProbe({
    baseUrl: o.source.dataBaseUrl,
    ...shardSpecOf(o),
    dataset,
  });
  if (!probe.ok) throw probe.error;
  return { ...split, probe: probe.value, origin: { own: true, test: 'own', probe: 'room' } };
}

export function browserHost(): TrainerHost<BrowserSource> {
  const checkpoints = createIdbCheckpointStore();
  return {
    async loadData(o) {
      if (typeof o.source?.dataBaseUrl !== 'string' || o.source.dataBaseUrl === '') {
        throw new TrainerError('bad-config', 'dataBaseUrl is required');
      }
      if (o.source.ownData === true) return ownData(o);
      if (roomTask(o.config).data.kind === 'local') {
        throw new TrainerError(
          'bad-config',
          "this room trains on each peer's own data: choose yours",
        );
      }
      const data = await loadBrowserData({ baseUrl: o.source.dataBaseUrl, ...shardSpecOf(o) });
      if (!data.ok) throw data.error;
      return data.value;
    },
    async startBackend(wanted, start) {
      if (wanted !== undefined && !(BACKENDS as readonly string[]).includes(wanted)) {
        throw new TrainerError(
          'bad-config',
          `unknown backend '${wanted}' (one of ${BACKENDS.join(', ')})`,
        );
      }
      return { trainer: await start(wanted as BackendName | undefined), note: '' };
    },
    checkpoints: (o) => (o.checkpointKey === undefined ? undefined : checkpoints),
  };
}
