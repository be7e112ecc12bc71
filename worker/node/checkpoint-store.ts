/**
 * Checkpoints as files, for kiosks and Node peers: one file per key in a state directory.
 * A save writes a temporary file and renames it over the old one, so a crash mid-write
 * leaves the previous checkpoint intact (nothing already stored is lost).
 */

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore } from '../checkpoint';

/** Keys become file names: letters, digits, '-', '_' and '.' only, so no key escapes the directory. */
const KEY = /^[A-Za-z0-9_.-]{1,128}$/;

const fileFor = (dir: string, key: string): string => {
  if (!KEY.test(key) || key.startsWith('.'))
    throw new Error(`invalid checkpoint key ${JSON.stringify(key)}`);
  return join(dir, `${key}.dlck`);
};

/** A CheckpointStore in `dir` (created on first save). */
export function createFileCheckpointStore(dir: string): CheckpointStore {
  return {
    async load(key) {
      try {
        return new Uint8Array(await readFile(fileFor(dir, key)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async save(key, bytes) {
      const file = fileFor(dir, key);
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    },
    async remove(key) {
      await rm(fileFor(dir, key), { force: true });
    },
  };
}
