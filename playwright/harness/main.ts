/**
 * The harness page: starts the trainer in a Web Worker, exactly as the app will, and offers
 * `globalThis.harness` to Playwright tests and the trainer benchmark.
 */

import * as Comlink from 'comlink';
import { DEFAULT_ROOM_CONFIG, type RoomConfig } from '../../core';
import type { PlainError, ServiceResult as WorkerResult } from '../../worker';
import type { TrainerWorkerApi } from '../../worker/browser';
import type {
  CheckpointProbe,
  CheckpointProbeOptions,
  Harness,
  HarnessRunOptions,
  HarnessRunReport,
  HarnessStep,
} from './api';

const status = document.getElementById('status');

/** A room config for one trainer: the defaults with the harness's fields. */
const roomConfig = (fields: Partial<RoomConfig>): RoomConfig => ({
  ...DEFAULT_ROOM_CONFIG,
  minBatch: 1,
  maxBatch: 4096,
  ...fields,
});

const optimizerFields = (o: NonNullable<HarnessRunOptions['optimizer']>): Partial<RoomConfig> =>
  o.kind === 'sgd'
    ? { optimizer: 'sgd', learningRate: o.learningRate, momentum: o.momentum }
    : { optimizer: 'adam', learningRate: o.learningRate };

const failed = (error: PlainError): WorkerResult<never> => ({ ok: false, error });

async function run(o: HarnessRunOptions): Promise<WorkerResult<HarnessRunReport>> {
  // A fresh Worker per run: tfjs keeps one global backend per thread, so runs that force
  // different backends must not share one.
  const worker = new Worker(new URL('../../worker/browser/trainer-worker.ts', import.meta.url), {
    type: 'module',
    name: `trainer-${o.backend ?? 'auto'}-${o.model}`,
  });
  const trainer = Comlink.wrap<TrainerWorkerApi>(worker);
  try {
    const t0 = performance.now();
    const optimizer = o.optimizer ?? { kind: 'sgd', learningRate: 0.1, momentum: 0 };
    const init = await trainer.init({
      config: roomConfig({
        model: o.model,
        dataset: o.dataset ?? 'mnist',
        seed: o.seed ?? 1,
        maxPeers: o.peerCount ?? 3,
        sharding: o.sharding ?? { kind: 'iid' },
        validationFraction: o.validationFraction ?? 0.1,
        ...optimizerFields(optimizer),
      }),
      slot: o.peerIndex ?? 0,
      room: 'harness',
      testSamples: o.testSamples ?? 500,
      source: { dataBaseUrl: location.origin },
      ...(o.backend === undefined ? {} : { backend: o.backend }),
    });
    if (!init.ok) return init;
    const initMs = performance.now() - t0;
    const initial = await trainer.getParams();
    if (!initial.ok) return initial;
    const memoryBefore = await trainer.memory();
    if (!memoryBefore.ok) return memoryBefore;
    const warmup: HarnessStep[] = [];
    const steps: HarnessStep[] = [];
    const total = (o.warmup ?? 0) + o.steps;
    let measuredMs = 0;
    for (let i = 0; i < total; i++) {
      if (o.budgetMs !== undefined && steps.length >= 3 && measuredMs >= o.budgetMs) break;
      const s0 = performance.now();
      const step = await trainer.step(o.batch);
      if (!step.ok) return step;
      const { gradient, loss, pureComputeMs: computeMs } = step.value;
      // Train on our own gradient, as a lone peer does; the buffer goes back by transfer.
      const applied = await trainer.apply(
        Comlink.transfer(gradient, [gradient.buffer as ArrayBuffer]),
      );
      if (!applied.ok) return applied;
      const record = { loss, computeMs, roundTripMs: performance.now() - s0 };
      if (i < total - o.steps) warmup.push(record);
      else {
        steps.push(record);
        measuredMs += record.roundTripMs;
      }
      if (status)
        status.textContent = `${o.model} on ${init.value.backend}: step ${i + 1}/${total}, loss ${loss.toFixed(3)}`;
    }
    const memoryAfter = await trainer.memory();
    if (!memoryAfter.ok) return memoryAfter;
    const report: HarnessRunReport = {
      info: init.value,
      initMs,
      initialParamsHash: hashParams(initial.value),
      warmup,
      steps,
      memoryBefore: memoryBefore.value,
      memoryAfter: memoryAfter.value,
    };
    if (!o.evaluate) return { ok: true, value: report };
    const evaluation = await trainer.evaluate('test');
    return evaluation.ok
      ? { ok: true, value: { ...report, evaluation: evaluation.value } }
      : evaluation;
  } catch (e) {
    // Only a Worker that dies or a message that cannot be cloned lands here.
    return failed({
      name: 'HarnessError',
      code: 'worker',
      message: e instanceof Error ? e.message : String(e),
    });
  } finally {
    trainer[Comlink.releaseProxy]();
    worker.terminate();
  }
}

/** FNV-1a over the parameter bytes: enough to tell two parameter vectors apart in a test. */
function hashParams(p: Float32Array): number {
  const bytes = new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

async function checkpointProbe(
  o: CheckpointProbeOptions,
  mode: 'save' | 'restore',
): Promise<WorkerResult<CheckpointProbe>> {
  const worker = new Worker(new URL('../../worker/browser/trainer-worker.ts', import.meta.url), {
    type: 'module',
    name: `checkpoint-${mode}`,
  });
  const trainer = Comlink.wrap<TrainerWorkerApi>(worker);
  try {
    const init = await trainer.init({
      config: roomConfig({ model: 'mlp', maxPeers: 3, optimizer: 'adam', learningRate: 0.001 }),
      slot: 0,
      room: o.room,
      checkpointKey: o.key,
      testSamples: 100,
      source: { dataBaseUrl: location.origin },
      backend: 'cpu',
    });
    if (!init.ok) return init;
    let outcome = 'saved';
    if (mode === 'restore') {
      const restored = await trainer.restoreCheckpoint();
      if (!restored.ok) return restored;
      outcome = restored.value.restored ? 'restored' : `fresh: ${restored.value.reason}`;
    }
    for (let i = 0; i < o.steps; i++) {
      const step = await trainer.step(16);
      if (!step.ok) return step;
      const applied = await trainer.apply(
        Comlink.transfer(step.value.gradient, [step.value.gradient.buffer as ArrayBuffer]),
      );
      if (!applied.ok) return applied;
    }
    if (mode === 'save') {
      const saved = await trainer.saveCheckpoint();
      if (!saved.ok) return saved;
    }
    const [steps, params] = await Promise.all([trainer.steps(), trainer.getParams()]);
    if (!steps.ok) return steps;
    if (!params.ok) return params;
    return {
      ok: true,
      value: { step: steps.value, paramsHash: hashParams(params.value), outcome },
    };
  } finally {
    trainer[Comlink.releaseProxy]();
    worker.terminate();
  }
}

const harness: Harness = {
  run,
  checkpointSave: (o) => checkpointProbe(o, 'save'),
  checkpointRestore: (o) => checkpointProbe(o, 'restore'),
};
globalThis.harness = harness;
if (status) status.textContent = 'ready';
