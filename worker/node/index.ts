/**
 * Public face of worker/node: what the mesh's Node side, kiosks and benchmarks use to train
 * in Node. The trainer service starts in a thread or in process; the rest are the Node
 * data and checkpoint helpers a kiosk checks before it joins.
 */

export { createFileCheckpointStore } from './checkpoint-store';
export { loadNodeData, loadTestSubset, loadTrainSplit } from './data';
export { type NodeBackendChoice, type NodeHostOptions, type NodeSource, nodeHost } from './host';
export { checkLocalData, type LocalDataSummary } from './local-data';
export { handleShardRequest } from './shard-files';
export { startLocalTrainer, startThreadTrainer } from './start';
