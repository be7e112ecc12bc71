/**
 * Public face of worker/ for every runtime: the trainer service's contract and its one
 * client, the task's model and its files, and the names other folders need. Runtime
 * specifics are in worker/browser (Web Worker) and worker/node (threads, files).
 */

export { BACKENDS, type BackendName } from './backend';
export { type CheckpointStore, createMemoryCheckpointStore } from './checkpoint';
export { type ServiceTrainer, serviceError, TrainerServiceError, trainerClient } from './client';
export type { ModelFiles } from './model-files';
export type {
  PlainError,
  PretrainedWeights,
  RestoreReport,
  ServiceInfo,
  ServiceInit,
  ServiceResult,
  ServiceStep,
  TrainerService,
} from './service';
export { optimizerFor, toPlainError } from './service';
