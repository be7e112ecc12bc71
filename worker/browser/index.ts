/**
 * Public face of worker/browser: the trainer Worker's API types, the browser data loader and
 * the plain results that cross the Worker boundary. The Worker itself is started from its
 * file: `new Worker(new URL('../worker/browser/trainer-worker.ts', import.meta.url), { type: 'module' })`.
 */

export { type BrowserDataOptions, browserGunzip, loadBrowserData, shardUrls } from './data';
// Types only from the Worker entry: importing it as a value would run Comlink.expose here.
export type { TrainerWorkerApi, WorkerInitOptions } from './trainer-worker';
export {
  type PlainError,
  toPlainError,
  type WorkerResult,
  workerErr,
  workerOk,
} from './worker-result';
