/**
 * The sim mode's trainer: the real tfjs trainer (cpu backend, in process, the peer's real
 * shard) doing the real arithmetic, with its compute charged to the virtual clock from a cost
 * table measured on this machine before the run. A step of b samples costs stepMs(b) x the
 * peer's slowdown whatever else the process was doing meanwhile, so N peers sharing 2 cores
 * do not slow each other down and every strategy pays the same price for the same work.
 */

import { type DatasetName, DEFAULT_ROOM_CONFIG, type ModelName } from '../../core';
import {
  type MeshEval,
  type MeshTrainer,
  sleep,
  type TrainerFactory,
  type TrainerRequest,
} from '../../mesh';
import type { VirtualClock } from '../../mesh/node';
import { nodeTrainerFactory } from '../../mesh/node';

/** Measured compute costs of one model on this machine (ms). */
export interface ComputeCosts {
  readonly model: ModelName;
  readonly dataset: DatasetName;
  /** Step (forward + backward) time by batch size, ascending: [batchSize, ms][]. */
  readonly stepMs: readonly (readonly [number, number])[];
  /** Applying one update through the optimizer. */
  readonly applyMs: number;
  /** Evaluation, per sample. */
  readonly evalMsPerSample: number;
  /** Where and when it was measured. */
  readonly measuredOn: string;
}

/** Step cost for `b` samples: linear between the measured batch sizes, extended at the ends. */
export function stepCost(costs: ComputeCosts, b: number): number {
  const xs = costs.stepMs;
  if (xs.length === 0) throw new RangeError('no step costs measured');
  if (xs.length === 1) return (xs[0]![1] * b) / xs[0]![0];
  let i = 1;
  while (i < xs.length - 1 && xs[i]![0] < b) i++;
  const [b0, m0] = xs[i - 1]!;
  const [b1, m1] = xs[i]!;
  const ms = m0 + ((m1 - m0) * (b - b0)) / (b1 - b0);
  // Below the smallest measured batch the line may cross zero; a step is never free.
  return Math.max(ms, xs[0]![1] * 0.5);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * Measures a model's step, apply and evaluation times with the real trainer (median of
 * `repeats` after a warm-up), at batch sizes from 4 up to `maxBatch`.
 */
export async function calibrate(
  model: ModelName,
  dataset: DatasetName,
  maxBatch: number,
  progress: (line: string) => void,
  repeats = 15,
): Promise<ComputeCosts> {
  // The default room, with batch clamps wide enough for every size measured.
  const config = {
    ...DEFAULT_ROOM_CONFIG,
    model,
    dataset,
    minBatch: 1,
    maxBatch: 4096,
    maxPeers: 2,
  };
  const testSamples = 1000;
  const factory = nodeTrainerFactory({ room: 'calibration', name: 'calibration', testSamples });
  const t = await factory({ peerId: 'calibration' as never, config, slot: 0 });
  try {
    const time = async (f: () => Promise<unknown>) => {
      const t0 = performance.now();
      const r = await f();
      if (r instanceof Error) throw r;
      return performance.now() - t0;
    };
    const sizes = [4, 8, 16, 32, 64, 128, 256, 512].filter((b) => b <= Math.max(8, maxBatch));
    for (const b of sizes) for (let i = 0; i < 3; i++) await time(() => t.step(b));
    // Round-robin over the sizes, so that a burst of load elsewhere on the machine lands on
    // every size alike rather than on one of them.
    const runs = sizes.map(() => [] as number[]);
    for (let i = 0; i < repeats; i++) {
      for (const [k, b] of sizes.entries()) runs[k]!.push(await time(() => t.step(b)));
    }
    // A larger batch does more work: where noise says otherwise, keep the smaller batch's cost.
    let floor = 0;
    const stepMs: [number, number][] = sizes.map((b, k) => {
      floor = Math.max(floor, median(runs[k]!));
      return [b, floor];
    });
    const update = new Float32Array(t.info.paramCount).fill(1e-4);
    const applies: number[] = [];
    for (let i = 0; i < repeats + 3; i++) applies.push(await time(() => t.apply(update)));
    const evals: number[] = [];
    for (let i = 0; i < 3; i++) evals.push(await time(() => t.evaluate('test')));
    const costs: ComputeCosts = {
      model,
      dataset,
      stepMs,
      applyMs: median(applies.slice(3)),
      evalMsPerSample: median(evals) / testSamples,
      measuredOn: `${new Date().toISOString()}, tfjs cpu backend, one process`,
    };
    progress(
      `calibration (${model}): step ${stepMs.map(([b, ms]) => `b=${b} ${ms.toFixed(1)} ms`).join(', ')}; apply ${costs.applyMs.toFixed(1)} ms; eval ${(costs.evalMsPerSample * 1000).toFixed(1)} ms per 1000 samples`,
    );
    return costs;
  } finally {
    await t.dispose();
  }
}

/** A trainer's real half, for the observer that measures test accuracy. */
export interface SimTrainerHandle {
  readonly request: TrainerRequest;
  readonly inner: MeshTrainer;
  /** Disposes the real trainer once, whoever asks first (the peer on close, or the sim). */
  readonly dispose: () => Promise<void>;
}

/**
 * Trainers whose compute the virtual clock pays for. `trainers` lists every trainer made, so
 * the observer can read the parameters each peer holds.
 */
export function simTrainerFactory(
  clock: VirtualClock,
  costs: ComputeCosts,
  room: string,
  testSamples: number,
): { factory: TrainerFactory; trainers: SimTrainerHandle[] } {
  const trainers: SimTrainerHandle[] = [];
  const factory: TrainerFactory = async (request) => {
    const real = nodeTrainerFactory({ room, name: request.peerId, testSamples });
    const inner = await clock.track(real(request));
    let disposed = false;
    const dispose = async () => {
      if (disposed) return;
      disposed = true;
      await inner.dispose();
    };
    trainers.push({ request, inner, dispose });
    return charged(inner, dispose, clock, costs);
  };
  return { factory, trainers };
}

/** The EWMA weight of a new capacity sample (DESIGN.md 3.1, as the real trainer uses). */
const CAPACITY_ALPHA = 0.3;

function charged(
  inner: MeshTrainer,
  dispose: () => Promise<void>,
  clock: VirtualClock,
  costs: ComputeCosts,
): MeshTrainer {
  let slowdown = 1;
  let capacity = 0;
  const pay = (ms: number) => (ms > 0 ? sleep(clock, ms) : Promise.resolve());
  return {
    info: inner.info,
    async step(batchSize) {
      const r = await clock.track(inner.step(batchSize));
      if (r instanceof Error) return r;
      const computeMs = stepCost(costs, batchSize) * slowdown;
      await pay(computeMs);
      const sample = batchSize / (computeMs / 1000);
      capacity = capacity === 0 ? sample : capacity + CAPACITY_ALPHA * (sample - capacity);
      return { ...r, computeMs, capacity };
    },
    async apply(update) {
      const r = await clock.track(inner.apply(update));
      await pay(costs.applyMs * slowdown);
      return r;
    },
    getParams: () => clock.track(inner.getParams()),
    setParams: (p) => clock.track(inner.setParams(p)),
    async mergeParams(other, beta) {
      const r = await clock.track(inner.mergeParams(other, beta));
      await pay(costs.applyMs * slowdown);
      return r;
    },
    async evaluate(split): Promise<MeshEval> {
      const ev = await clock.track(inner.evaluate(split));
      await pay(ev.samples * costs.evalMsPerSample * slowdown);
      return ev;
    },
    capacity: async () => capacity,
    async setSlowdown(factor) {
      if (!(Number.isFinite(factor) && factor >= 1)) {
        return new RangeError(`slowdown must be a finite number >= 1, got ${factor}`);
      }
      slowdown = factor;
      return undefined;
    },
    steps: () => clock.track(inner.steps()),
    saveCheckpoint: async () => undefined,
    exportModel: () => clock.track(inner.exportModel()),
    restoreCheckpoint: async () => ({ restored: false, reason: 'the sim keeps no checkpoints' }),
    dispose,
  };
}
