/**
 * The entry of a trainer thread (worker_threads): the Node counterpart of the browser's
 * trainer Web Worker, the same service (worker/service.ts) over comlink's Node adapter. tfjs
 * on the cpu backend computes on the thread that calls it; here that is this thread, so the
 * peer's main thread stays free to stamp acks and serve its links.
 */

import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createTrainerService } from '../service';
import { nodeHost } from './host';

/** Decoding a kiosk's own data prints one JSON progress line at most every 2 s. */
let lastProgress = 0;
const onDataProgress = (p: { done: number; total: number }) => {
  const now = Date.now();
  if (now - lastProgress < 2000 && p.done < p.total) return;
  lastProgress = now;
  process.stdout.write(
    `${JSON.stringify({ t: new Date(now).toISOString(), type: 'data-progress', ...p })}\n`,
  );
};

if (parentPort) {
  Comlink.expose(createTrainerService(nodeHost({ onDataProgress })), nodeEndpoint(parentPort));
}
