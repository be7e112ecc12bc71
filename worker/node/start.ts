/**
 * Starting the trainer service in Node: in a worker_threads thread (kiosks, live benchmark
 * peers: the peer's event loop stays free for its links), or in this thread (the benchmark's
 * sim mode, whose virtual clock needs the trainer in process, and tests).
 */

import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { type ServiceTrainer, serviceError, trainerClient } from '../client';
import { createTrainerService, type ServiceInit, type TrainerService } from '../service';
import { type NodeHostOptions, type NodeSource, nodeHost } from './host';

/** Starts the service in its own thread; the returned trainer's dispose ends the thread. */
export async function startThreadTrainer(init: ServiceInit<NodeSource>): Promise<ServiceTrainer> {
  // A .mjs entry registers tsx in the thread, then loads the TypeScript entry.
  const worker = new Worker(new URL('./trainer-thread-entry.mjs', import.meta.url));
  const remote = Comlink.wrap<TrainerService<NodeSource>>(nodeEndpoint(worker));
  const end = async () => {
    remote[Comlink.releaseProxy]();
    await worker.terminate();
  };
  let started: Awaited<ReturnType<typeof remote.init>>;
  try {
    started = await remote.init(init);
  } catch (e) {
    await end();
    throw e instanceof Error ? e : new Error(String(e));
  }
  if (!started.ok) {
    await end();
    throw serviceError(started.error);
  }
  return trainerClient(remote, started.value, end);
}

/** Starts the service in this thread (a virtual clock, a memory checkpoint store). */
export async function startLocalTrainer(
  init: ServiceInit<NodeSource>,
  options: NodeHostOptions = {},
): Promise<ServiceTrainer> {
  const service = createTrainerService(nodeHost(options));
  const started = await service.init(init);
  if (!started.ok) throw serviceError(started.error);
  return trainerClient(service, started.value);
}
