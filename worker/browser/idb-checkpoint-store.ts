/**
 * Checkpoints in the browser: one IndexedDB entry per key (idb-keyval), in a database of the
 * page's origin, so a reloaded tab finds its checkpoint. Works in a page and in a Worker.
 */

import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { CheckpointStore } from '../checkpoint';

/** A CheckpointStore in IndexedDB (database `dbName`, object store `storeName`). */
export function createIdbCheckpointStore(
  dbName = 'dlion-mesh',
  storeName = 'checkpoints',
): CheckpointStore {
  let store: UseStore | undefined;
  // Opened on first use: creating the store touches indexedDB, which a test may stub first.
  const db = () => {
    store ??= createStore(dbName, storeName);
    return store;
  };
  return {
    async load(key) {
      const value: unknown = await get(key, db());
      if (value === undefined) return undefined;
      // Whatever else sits under the key (an older format, another app's data) is not ours:
      // throwing makes restoreCheckpoint start fresh with this reason.
      if (!(value instanceof Uint8Array)) {
        throw new Error(`IndexedDB entry ${JSON.stringify(key)} is not a checkpoint blob`);
      }
      return value;
    },
    // Structured clone copies the bytes: later changes to the caller's array do not leak in.
    save: (key, bytes) => set(key, bytes, db()),
    remove: (key) => del(key, db()),
  };
}
