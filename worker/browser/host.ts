/**
 * The trainer service's host in a tab (worker/service.ts): the peer's shard from the server
 * that served the page, checkpoints in IndexedDB, and the backend worker/backend.ts picks (or
 * the one the URL forces).
 */

import { BACKENDS, type BackendName } from '../backend';
import { shardSpecOf, type TrainerHost } from '../service';
import { TrainerError } from '../trainer';
import { loadBrowserData } from './data';
import { createIdbCheckpointStore } from './idb-checkpoint-store';

/** Where a tab's data comes from: the server's shard files. */
export interface BrowserSource {
  /** Usually `location.origin`. */
  readonly dataBaseUrl: string;
}

export function browserHost(): TrainerHost<BrowserSource> {
  const checkpoints = createIdbCheckpointStore();
  return {
    async loadData(o) {
      if (typeof o.source?.dataBaseUrl !== 'string' || o.source.dataBaseUrl === '') {
        throw new TrainerError('bad-config', 'dataBaseUrl is required');
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
