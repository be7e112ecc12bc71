/**
 * Starting the trainer service in a Web Worker (the tab's counterpart of worker/node/start.ts):
 * one Worker per trainer, its dispose ends the Worker.
 */

import * as Comlink from 'comlink';
import { type ServiceTrainer, serviceError, TrainerServiceError, trainerClient } from '../client';
import type { ServiceInit } from '../service';
import type { DataWorkerApi } from './data-worker';
import type { BrowserSource } from './host';
import type { TrainerWorkerApi } from './trainer-worker';

/** Test images a tab evaluates on: enough for a stable accuracy, quick on SwiftShader. */
export const BROWSER_TEST_SAMPLES = 1000;

export async function startWorkerTrainer(
  init: ServiceInit<BrowserSource>,
  name = 'trainer',
): Promise<ServiceTrainer> {
  const worker = new Worker(new URL('./trainer-worker.ts', import.meta.url), {
    type: 'module',
    name,
  });
  const remote = Comlink.wrap<TrainerWorkerApi>(worker);
  const end = () => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  };
  let started: Awaited<ReturnType<typeof remote.init>>;
  try {
    started = await remote.init(init);
  } catch (e) {
    // Only a Worker that failed to load (a script error) or died lands here.
    end();
    throw new TrainerServiceError('worker', e instanceof Error ? e.message : String(e));
  }
  if (!started.ok) {
    end();
    throw serviceError(started.error);
  }
  return trainerClient(remote, started.value, end);
}

/** The own-data decoder in its Web Worker (worker/browser/data-worker.ts), ended by `end`. */
export function startDataWorker(): {
  readonly api: Comlink.Remote<DataWorkerApi>;
  end(): void;
} {
  const worker = new Worker(new URL('./data-worker.ts', import.meta.url), {
    type: 'module',
    name: 'own-data',
  });
  const api = Comlink.wrap<DataWorkerApi>(worker);
  return {
    api,
    end() {
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
