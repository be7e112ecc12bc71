/**
 * A kiosk's own data (`dlion kiosk --data DIR`): the images and labels the edge box collected,
 * as IDX files, validated like any file and never sent anywhere. The peer trains on all of it
 * but its validation split; it reports test accuracy on DIR's test files when it has them, and
 * otherwise on the room dataset's public test split.
 */

import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetName } from '../../core';
import { type ByteDataset, DataError, loadDataset, makeShard, subsetDataset } from '../data';
import type { TrainerData } from '../trainer';
import { loadProbe, loadTestSubset, nodeGunzip, spreadSubset } from './data';

const gunzip = nodeGunzip();

/** The image side the models take (worker/model.ts: 28 x 28 inputs). */
export const LOCAL_IMAGE_SIDE = 28;

/** The file names looked for in DIR, plain or gzipped, in this order. */
export const LOCAL_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The path of `base` or `base.gz` in dir, whichever exists, else undefined. */
export async function findFile(dir: string, base: string): Promise<string | undefined> {
  for (const name of [base, `${base}.gz`]) {
    const path = join(dir, name);
    if (await exists(path)) return path;
  }
  return undefined;
}

/** The IDX images and labels `images` / `labels` in dir, as 28 x 28 bytes; DataError if bad. */
export async function readPair(dir: string, images: string, labels: string): Promise<ByteDataset> {
  const paths = await Promise.all([findFile(dir, images), findFile(dir, labels)]);
  const [imagesPath, labelsPath] = paths;
  if (imagesPath === undefined || labelsPath === undefined) {
    const missing = [imagesPath === undefined ? images : '', labelsPath === undefined ? labels : '']
      .filter((s) => s !== '')
      .join(' and ');
    throw new DataError('missing', `${dir} has no ${missing} (plain or .gz IDX files)`);
  }
  const [imageBytes, labelBytes] = await Promise.all(
    [imagesPath, labelsPath].map(async (p) => {
      try {
        return new Uint8Array(await readFile(p));
      } catch (e) {
        throw new DataError('missing', `cannot read ${p}: ${(e as Error).message}`);
      }
    }),
  );
  const ds = await loadDataset(imageBytes!, labelBytes!, gunzip);
  if (!ds.ok) {
    throw new DataError(ds.error.code, `${imagesPath} / ${labelsPath}: ${ds.error.message}`);
  }
  const { rows, cols, count } = ds.value;
  if (rows !== LOCAL_IMAGE_SIDE || cols !== LOCAL_IMAGE_SIDE) {
    throw new DataError(
      'bad-dataset',
      `${imagesPath}: images are ${rows} x ${cols}, the models take ${LOCAL_IMAGE_SIDE} x ${LOCAL_IMAGE_SIDE}`,
    );
  }
  if (count < 2) throw new DataError('bad-dataset', `${imagesPath}: ${count} image(s) is too few`);
  return ds.value;
}

/** What the kiosk checks before it joins: the files are there, parse, and fit the models. */
export interface LocalDataSummary {
  readonly trainCount: number;
  /** Test images in DIR, 0 when it has none (the room's public test split is used). */
  readonly testCount: number;
}

/** Validates DIR's files without training; throws DataError with the file and the reason. */
export async function checkLocalData(dir: string): Promise<LocalDataSummary> {
  const train = await readPair(dir, LOCAL_FILES.trainImages, LOCAL_FILES.trainLabels);
  const hasTest = (await findFile(dir, LOCAL_FILES.testImages)) !== undefined;
  const test = hasTest
    ? await readPair(dir, LOCAL_FILES.testImages, LOCAL_FILES.testLabels)
    : undefined;
  return { trainCount: train.count, testCount: test?.count ?? 0 };
}

export interface LocalDataOptions {
  readonly dir: string;
  /** The room's dataset: its public test split stands in when DIR has no test files. */
  readonly dataset: DatasetName;
  readonly seed: number;
  readonly validationFraction: number;
  readonly testSamples: number;
}

/** The box's own data as the trainer takes it. Throws DataError when the files are bad. */
export async function loadLocalData(o: LocalDataOptions): Promise<TrainerData> {
  const train = await readPair(o.dir, LOCAL_FILES.trainImages, LOCAL_FILES.trainLabels);
  const shard = makeShard({
    labels: train.labels,
    classes: train.classes,
    seed: o.seed,
    peerIndex: 0,
    peerCount: 1,
    sharding: { kind: 'iid' },
    validationFraction: o.validationFraction,
  });
  if (!shard.ok) throw shard.error;
  // The box's own test files when it has them, else the room dataset's public test split.
  const test =
    (await findFile(o.dir, LOCAL_FILES.testImages)) !== undefined
      ? spreadSubset(
          await readPair(o.dir, LOCAL_FILES.testImages, LOCAL_FILES.testLabels),
          o.testSamples,
        )
      : await loadTestSubset(o.dataset, o.testSamples);
  return {
    train: subsetDataset(train, shard.value.train),
    validation: subsetDataset(train, shard.value.validation),
    test,
    // DKT compares peers on the room dataset's public probe, whatever the box's own data.
    probe: await loadProbe(o.dataset),
  };
}
