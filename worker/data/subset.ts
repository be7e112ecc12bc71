/** A dataset restricted to some of its samples: a peer's shard, its validation split, a test subset. */

import { DataError } from './errors';
import type { Dataset } from './mnist';

/** Copies the samples at `indices` (in that order) into a new, self-contained dataset. */
export function subsetDataset(ds: Dataset, indices: Uint32Array | readonly number[]): Dataset {
  const pixels = ds.rows * ds.cols;
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (!(Number.isInteger(j) && j >= 0 && j < ds.count)) {
      throw new DataError('bad-batch', `sample index ${j} is not in 0..${ds.count - 1}`);
    }
    images.set(ds.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = ds.labels[j]!;
  }
  return {
    count: indices.length,
    rows: ds.rows,
    cols: ds.cols,
    classes: ds.classes,
    images,
    labels,
  };
}
