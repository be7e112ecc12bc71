/** A dataset restricted to some of its samples: a peer's shard, its validation split, a test subset. */

import { DataError } from './errors';
import { type Dataset, sampleSize } from './mnist';

/** Copies the samples at `indices` (in that order) into a new, self-contained dataset. */
export function subsetDataset<D extends Dataset>(
  ds: D,
  indices: Uint32Array | readonly number[],
): D {
  const pixels = sampleSize(ds);
  const images =
    ds.images instanceof Uint8Array
      ? new Uint8Array(indices.length * pixels)
      : new Float32Array(indices.length * pixels);
  const labels =
    ds.labels instanceof Uint8Array
      ? new Uint8Array(indices.length)
      : new Uint16Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (!(Number.isInteger(j) && j >= 0 && j < ds.count)) {
      throw new DataError('bad-batch', `sample index ${j} is not in 0..${ds.count - 1}`);
    }
    images.set(ds.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = ds.labels[j]!;
  }
  // The same kinds of arrays as ds's: a ByteDataset stays one.
  return {
    count: indices.length,
    rows: ds.rows,
    cols: ds.cols,
    channels: ds.channels,
    classes: ds.classes,
    images,
    labels,
  } as D;
}
