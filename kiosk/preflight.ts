/**
 * What a kiosk checks before it joins, so that a damaged state directory or bad local data
 * stops it with a clear message and exit code 5, instead of training from scratch and then
 * overwriting what was stored.
 */

import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCheckpoint } from '../worker/checkpoint';
import { createFileCheckpointStore } from '../worker/node/checkpoint-store';
import { checkLocalData, type LocalDataSummary } from '../worker/node/local-data';
import { detectLayout, ownDataLabels } from '../worker/node/own-data';
import { KioskStateError } from './identity';

/** The step of the checkpoint under `key` in `dir`, undefined when there is none. */
export async function checkCheckpoint(dir: string, key: string): Promise<number | undefined> {
  const store = createFileCheckpointStore(dir);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await store.load(key);
  } catch (e) {
    throw new KioskStateError(`cannot read the checkpoint in ${dir}: ${(e as Error).message}`);
  }
  if (bytes === undefined) return undefined;
  const decoded = decodeCheckpoint(bytes, 'any');
  if (!decoded.ok) {
    const file = join(dir, `${key}.dlck`);
    throw new KioskStateError(
      `the checkpoint ${file} is unusable (${decoded.error.code}: ${decoded.error.message}); it was left as it is: move it away to start this peer fresh`,
    );
  }
  return decoded.value.step;
}

/** What --data holds, as checked before joining (the samples are decoded by the trainer). */
export type DataCheck =
  | ({ readonly layout: 'idx' } & LocalDataSummary)
  | {
      readonly layout: 'images' | 'table';
      /** The label folders, or the table's label values: a new room's labels. */
      readonly labels: readonly string[];
      /** A table's feature columns. */
      readonly features?: number;
    };

/**
 * Checks --data (IDX files, label folders of images, or a table); throws KioskStateError
 * naming the file and the problem.
 */
export async function checkDataDir(dir: string, labelColumn?: string): Promise<DataCheck> {
  try {
    const { layout } = await detectLayout(dir);
    if (layout === 'idx') return { layout, ...(await checkLocalData(dir)) };
    const found = await ownDataLabels(dir, labelColumn);
    return {
      layout: found.layout === 'table' ? 'table' : 'images',
      labels: found.labels,
      ...(found.features === undefined ? {} : { features: found.features }),
    };
  } catch (e) {
    throw new KioskStateError(`--data ${dir}: ${(e as Error).message}`);
  }
}

/** The state directory exists (or is made) and takes a write and a rename, as saves do. */
export async function checkStateDir(dir: string): Promise<void> {
  const probe = join(dir, `.write-check.${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(`${probe}.tmp`, 'dlion');
    await rename(`${probe}.tmp`, probe);
    await rm(probe, { force: true });
  } catch (e) {
    await rm(`${probe}.tmp`, { force: true }).catch(() => {});
    throw new KioskStateError(
      `the state directory ${dir} cannot be written (${(e as Error).message}): checkpoints and the peer identity need it`,
    );
  }
}

/** Renames the checkpoint under `key` to a name no save uses; resolves to the new path. */
export async function keepAside(dir: string, key: string): Promise<string> {
  const from = join(dir, `${key}.dlck`);
  const to = `${from}.refused-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(from, to);
  return to;
}
