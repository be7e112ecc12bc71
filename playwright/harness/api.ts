/**
 * The harness page's API (window.harness), shared by the page, the Playwright tests and the
 * trainer benchmark. Types only: the page implements it, the others call it through
 * page.evaluate.
 */

import type { DatasetName, ModelName, Sharding } from '../../core';
import type { ServiceInfo, ServiceResult as WorkerResult } from '../../worker';
import type { BackendName } from '../../worker/backend';
import type { OptimizerConfig } from '../../worker/optimizer';
import type { EvalResult } from '../../worker/trainer';

export interface HarnessRunOptions {
  readonly model: ModelName;
  /** Forced backend; left out, the trainer picks webgpu -> webgl -> cpu. */
  readonly backend?: BackendName;
  readonly batch: number;
  /** Measured steps, after the warm-up. */
  readonly steps: number;
  /** Steps run first and left out of the timings (shader compilation, allocation). */
  readonly warmup?: number;
  /**
   * Stop measuring once this many ms went into measured steps and at least 3 were taken:
   * keeps a benchmark of slow configurations (a big CNN on SwiftShader) within minutes.
   */
  readonly budgetMs?: number;
  readonly optimizer?: OptimizerConfig;
  readonly dataset?: DatasetName;
  readonly seed?: number;
  readonly peerIndex?: number;
  readonly peerCount?: number;
  readonly sharding?: Sharding;
  readonly validationFraction?: number;
  readonly testSamples?: number;
  /** Evaluate on the test subset after the last step. */
  readonly evaluate?: boolean;
}

export interface HarnessStep {
  readonly loss: number;
  /** The trainer's pure compute (forward, backward, read-back). */
  readonly computeMs: number;
  /** step + apply as the page sees them, Worker messaging and transfers included. */
  readonly roundTripMs: number;
}

export interface HarnessRunReport {
  readonly info: ServiceInfo;
  /** Data download and trainer start-up (backend, model). */
  readonly initMs: number;
  /** FNV-1a of the parameter bytes right after init: the room seed's initialisation. */
  readonly initialParamsHash: number;
  readonly warmup: readonly HarnessStep[];
  readonly steps: readonly HarnessStep[];
  readonly memoryBefore: { readonly numTensors: number; readonly numBytes: number };
  readonly memoryAfter: { readonly numTensors: number; readonly numBytes: number };
  readonly evaluation?: EvalResult;
}

export interface CheckpointProbe {
  /** The trainer's step after the operation. */
  readonly step: number;
  /** A hash of the parameter bytes: equal hashes, equal parameters. */
  readonly paramsHash: number;
  /** 'saved', 'restored', or 'fresh: <reason>'. */
  readonly outcome: string;
}

export interface CheckpointProbeOptions {
  readonly key: string;
  readonly room: string;
  /** Steps to train before saving (save) or after restoring (restore: usually 0). */
  readonly steps: number;
}

export interface Harness {
  /** Fresh Worker: init mlp on cpu, train `steps`, save the checkpoint to IndexedDB. */
  checkpointSave(options: CheckpointProbeOptions): Promise<WorkerResult<CheckpointProbe>>;
  /** Fresh Worker: init mlp on cpu, restore from IndexedDB (or start fresh, saying why). */
  checkpointRestore(options: CheckpointProbeOptions): Promise<WorkerResult<CheckpointProbe>>;
  /** Starts a fresh Worker, trains `warmup + steps` steps (step, then apply of its gradient), stops it. */
  run(options: HarnessRunOptions): Promise<WorkerResult<HarnessRunReport>>;
}

declare global {
  /** Set by the harness page once it is ready; `globalThis.harness` in page.evaluate. */
  var harness: Harness | undefined;
}
