/**
 * The one client of the trainer service (worker/service.ts): a started service, across a
 * thread boundary (comlink's proxy) or in process, seen as the mesh's MeshTrainer. Service
 * errors become TrainerServiceError values (the mesh contract's refusals), or are thrown by
 * the calls whose contract returns plain values. Arrays handed in (updates, parameters) are
 * transferred: the mesh gives them away with the call.
 */

import * as Comlink from 'comlink';
import type { EvalSplit } from '../core';
import type { ModelFiles } from './model-files';
import type { PlainError, RestoreReport, ServiceInfo, ServiceResult, ServiceStep } from './service';

/** A failure inside the trainer service, with its error's name and code. */
export class TrainerServiceError extends Error {
  override readonly name = 'TrainerServiceError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const serviceError = (e: PlainError): TrainerServiceError =>
  new TrainerServiceError(e.code, `${e.name}: ${e.message}`);

type Eventually<T> = Promise<T> | T;

/** The service's methods the client calls (comlink's Remote has the same shape). */
export interface ServiceCalls {
  step(batchSize: number): Eventually<ServiceResult<ServiceStep>>;
  apply(update: Float32Array): Eventually<ServiceResult<void>>;
  getParams(): Eventually<ServiceResult<Float32Array>>;
  setParams(params: Float32Array): Eventually<ServiceResult<void>>;
  mergeParams(other: Float32Array, beta: number): Eventually<ServiceResult<void>>;
  evaluate(
    split: EvalSplit,
  ): Eventually<ServiceResult<{ loss: number; accuracy: number; samples: number }>>;
  capacity(): Eventually<ServiceResult<number>>;
  setSlowdown(factor: number): Eventually<ServiceResult<void>>;
  steps(): Eventually<ServiceResult<number>>;
  saveCheckpoint(): Eventually<ServiceResult<{ bytes: number }>>;
  restoreCheckpoint(): Eventually<ServiceResult<RestoreReport>>;
  exportModel(): Eventually<ServiceResult<ModelFiles>>;
  dispose(): Eventually<void>;
}

/** The mesh's view (structurally mesh/types.ts MeshTrainer; worker/ does not import mesh/). */
export interface ServiceTrainer {
  readonly info: ServiceInfo;
  step(batchSize: number): Promise<ServiceStep | Error>;
  apply(update: Float32Array): Promise<undefined | Error>;
  getParams(): Promise<Float32Array>;
  setParams(params: Float32Array): Promise<undefined | Error>;
  mergeParams(other: Float32Array, beta: number): Promise<undefined | Error>;
  evaluate(split: EvalSplit): Promise<{ loss: number; accuracy: number; samples: number }>;
  capacity(): Promise<number>;
  setSlowdown(factor: number): Promise<undefined | Error>;
  steps(): Promise<number>;
  saveCheckpoint(): Promise<undefined | Error>;
  restoreCheckpoint(): Promise<RestoreReport>;
  exportModel(): Promise<ModelFiles | Error>;
  dispose(): Promise<void>;
}

const given = (a: Float32Array) => Comlink.transfer(a, [a.buffer as ArrayBuffer]);

/**
 * An array whose buffer was already handed to the thread (a caller that used it twice). Posting
 * it does not fail in Node's worker_threads: the call is never answered, and the peer's whole
 * trainer queue waits behind it. Refused here instead.
 */
const handedOver = (a: Float32Array): TrainerServiceError | undefined =>
  a.buffer.byteLength === 0
    ? new TrainerServiceError(
        'handed-over',
        'an array handed to the trainer twice (its buffer is gone)',
      )
    : undefined;

/**
 * The client over a started service. `release` runs once after the service's dispose (it
 * ends the thread). Example: `trainerClient(remote, info, () => worker.terminate())`.
 */
export function trainerClient(
  remote: ServiceCalls,
  info: ServiceInfo,
  release: () => Eventually<void> = () => {},
): ServiceTrainer {
  const value = async <T>(call: Eventually<ServiceResult<T>>): Promise<T | TrainerServiceError> => {
    try {
      const r = await call;
      return r.ok ? r.value : serviceError(r.error);
    } catch (e) {
      // Only a thread that died or a message that cannot be cloned lands here.
      return new TrainerServiceError('thread', e instanceof Error ? e.message : String(e));
    }
  };
  const done = async (call: Eventually<ServiceResult<void>>) => {
    const r = await value(call);
    return r instanceof Error ? r : undefined;
  };
  const orThrow = async <T>(call: Eventually<ServiceResult<T>>): Promise<T> => {
    const r = await value(call);
    if (r instanceof Error) throw r;
    return r;
  };
  let disposed: Promise<void> | undefined;
  return {
    info,
    step: (b) => value(remote.step(b)),
    apply: async (u) => handedOver(u) ?? done(remote.apply(given(u))),
    getParams: () => orThrow(remote.getParams()),
    setParams: async (p) => handedOver(p) ?? done(remote.setParams(given(p))),
    mergeParams: async (p, beta) => handedOver(p) ?? done(remote.mergeParams(given(p), beta)),
    evaluate: (split) => orThrow(remote.evaluate(split)),
    capacity: () => orThrow(remote.capacity()),
    setSlowdown: (f) => done(remote.setSlowdown(f)),
    steps: () => orThrow(remote.steps()),
    saveCheckpoint: async () => {
      const r = await value(remote.saveCheckpoint());
      return r instanceof Error ? r : undefined;
    },
    restoreCheckpoint: async () => {
      const r = await value(remote.restoreCheckpoint());
      return r instanceof Error ? { restored: false, reason: r.message } : r;
    },
    exportModel: () => value(remote.exportModel()),
    dispose() {
      disposed ??= (async () => {
        try {
          await remote.dispose();
        } catch {
          // The thread is ended just below either way; its tensors go with it.
        } finally {
          await release();
        }
      })();
      return disposed;
    },
  };
}
