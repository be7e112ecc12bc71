/**
 * Loading a peer's data in Node (kiosks, tests, benchmarks): the dataset files from disk, the
 * peer's shard and validation split, the test subset it reports on, and the DKT probe.
 */

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzip as gunzipCallback } from 'node:zlib';
import type { DatasetName } from '../../core';
import {
  type ByteDataset,
  DATASET_FILES,
  DataError,
  type Gunzip,
  loadDataset,
  MAX_IDX_DATA_BYTES,
  makeShard,
  probeIndices,
  type RoomData,
  type ShardSpec,
  subsetDataset,
  testIndices,
} from '../data';

/** The largest file a gunzip may produce: the IDX parser's data limit plus the biggest header. */
const MAX_GUNZIP_BYTES = MAX_IDX_DATA_BYTES + 64;

/**
 * Gunzip with zlib, stopping (and failing) past `limit` bytes of output, so that a gzip bomb
 * in a kiosk's --data costs at most that much memory (the browser's gunzip has the same cap).
 */
export const nodeGunzip =
  (limit = MAX_GUNZIP_BYTES): Gunzip =>
  (bytes) =>
    new Promise((resolve, reject) => {
      gunzipCallback(bytes, { maxOutputLength: limit }, (e, out) => (e ? reject(e) : resolve(out)));
    });
const gunzip = nodeGunzip();

/** The folder holding a dataset's files, or a DataError saying how to get them. */
export function datasetDir(name: DatasetName): string {
  const { source } = DATASET_FILES[name];
  if (source.kind === 'system') return source.dir;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${source.package}/package.json`)), source.dir);
}

async function readDataset(name: DatasetName, split: 'train' | 'test'): Promise<ByteDataset> {
  const files = DATASET_FILES[name];
  const dir = datasetDir(name);
  const [images, labels] = await Promise.all(
    (split === 'train'
      ? [files.trainImages, files.trainLabels]
      : [files.testImages, files.testLabels]
    ).map(async (f) => {
      try {
        return new Uint8Array(await readFile(join(dir, f)));
      } catch (e) {
        const hint =
          files.source.kind === 'system'
            ? ` (install the Debian package ${files.source.debianPackage})`
            : '';
        throw new DataError(
          'missing',
          `cannot read ${join(dir, f)}${hint}: ${(e as Error).message}`,
        );
      }
    }),
  );
  const ds = await loadDataset(images!, labels!, gunzip);
  if (!ds.ok) throw ds.error;
  return ds.value;
}

/** The peer's shard; the test subset defaults to every test image outside the DKT probe. */
export type NodeDataOptions = ShardSpec;

const cache = new Map<string, Promise<ByteDataset>>();
/** Each file is parsed once per process, however many peers a benchmark runs in it. */
const cachedDataset = (name: DatasetName, split: 'train' | 'test') => {
  const key = `${name}/${split}`;
  let p = cache.get(key);
  if (!p) {
    p = readDataset(name, split);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
};

/** A room dataset's whole training split (tests write a person's folders from it). */
export const loadTrainSplit = (name: DatasetName): Promise<ByteDataset> =>
  cachedDataset(name, 'train');

/** `n` samples of `ds` spread evenly over it (all of it when n >= its count). */
export function spreadSubset(ds: ByteDataset, n: number): ByteDataset {
  const count = Math.min(ds.count, n);
  if (count === ds.count) return ds;
  return subsetDataset(
    ds,
    Uint32Array.from({ length: count }, (_, i) => Math.floor((i * ds.count) / count)),
  );
}

/**
 * The public test images a peer reports on: `samples` of the dataset's test split, spread
 * evenly, never one of the DKT probe's images (worker/data/probe.ts).
 */
export async function loadTestSubset(name: DatasetName, samples?: number): Promise<ByteDataset> {
  const test = await cachedDataset(name, 'test');
  return subsetDataset(
    test,
    testIndices(test.count, samples ?? test.count, probeIndices(test.count)),
  );
}

/** The DKT probe: the same public test images on every peer, disjoint from the test subset. */
export async function loadProbe(name: DatasetName): Promise<ByteDataset> {
  const test = await cachedDataset(name, 'test');
  return subsetDataset(test, probeIndices(test.count));
}

/** The data one peer trains and evaluates on. Throws DataError when files or options are bad. */
export async function loadNodeData(o: NodeDataOptions): Promise<RoomData> {
  const [train, test, probe] = await Promise.all([
    cachedDataset(o.dataset, 'train'),
    loadTestSubset(o.dataset, o.testSamples),
    loadProbe(o.dataset),
  ]);
  const shard = makeShard({
    labels: train.labels,
    classes: train.classes,
    seed: o.seed,
    peerIndex: o.peerIndex,
    peerCount: o.peerCount,
    sharding: o.sharding,
    validationFraction: o.validationFraction,
  });
  if (!shard.ok) throw shard.error;
  return {
    train: subsetDataset(train, shard.value.train),
    validation: subsetDataset(train, shard.value.validation),
    test,
    probe,
  };
}
