/**
 * Public face of worker/data: IDX parsing, labelled datasets and batches, per-peer shards.
 * Pure and platform-free: reading files and gunzip are injected by the Node and browser shells.
 */

export { DataError, type DataErrorCode } from './errors';
export {
  type Gunzip,
  IDX_TYPE_CODES,
  type IdxArray,
  type IdxData,
  type IdxType,
  isGzip,
  loadIdx,
  MAX_IDX_DATA_BYTES,
  MAX_IDX_DIMS,
  parseIdx,
} from './idx';
export { encodeIdx } from './idx-encode';
export * from './local';
export {
  allocateBatch,
  type Batch,
  type BatchBuffers,
  type ByteDataset,
  DATASET_CLASSES,
  DATASET_FILES,
  type Dataset,
  type DatasetFiles,
  type DatasetSource,
  gatherBatch,
  loadDataset,
  type RoomData,
  sampleSize,
  toDataset,
} from './mnist';
export { mayBeProbe, PROBE_SAMPLES, probeCount, probeIndices, testIndices } from './probe';
export * from './shard-url';
export {
  makeShard,
  peerClasses,
  permutation,
  type Shard,
  type ShardOptions,
  sampleDirichlet,
} from './shards';
export { subsetDataset } from './subset';
