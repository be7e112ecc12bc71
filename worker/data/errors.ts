/**
 * The data layer's named error. Matched by `name` (comlink carries only name, message and
 * stack); `code` says which check failed, for counting and for tests.
 */

export type DataErrorCode =
  /** The input ends before the header says it should. */
  | 'truncated'
  /** The input carries bytes beyond what the header accounts for. */
  | 'extended'
  /** The first two bytes of an IDX file are not zero. */
  | 'bad-magic'
  /** An IDX element type code this parser does not know. */
  | 'bad-type'
  /** Dimension count out of range, or a zero-size dimension. */
  | 'bad-dims'
  /** The declared size is absurd (over the byte limit) or overflows. */
  | 'too-large'
  /** A dataset file cannot be read (not installed, no permission): raised by the loaders. */
  | 'missing'
  /** The injected gunzip failed (corrupt or truncated gzip stream). */
  | 'gzip'
  /** Images and labels do not form a labelled dataset (types, shapes, label range). */
  | 'bad-dataset'
  /** A batch request out of range (a caller's bug, not outside input). */
  | 'bad-batch'
  /** Shard parameters that cannot produce a valid shard, or an empty shard. */
  | 'bad-shard'
  /** A peer's own data holds no usable sample (worker/data/local.ts). */
  | 'no-data'
  /** A table whose header has no label column or too few columns. */
  | 'bad-table'
  /** A folder without label subfolders, or a layout that is none of the known ones. */
  | 'bad-layout';

/** Returned by every parser in worker/data for input it will not accept. */
export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(
    readonly code: DataErrorCode,
    message: string,
  ) {
    super(message);
  }
}
