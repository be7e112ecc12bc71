/**
 * Public face of worker/browser: starting the trainer service in a Web Worker, its host's
 * source, the Worker's API type (for harnesses that drive it directly) and the browser data
 * loader.
 */

export { type BrowserDataOptions, browserGunzip, loadBrowserData, shardUrls } from './data';
export type { BrowserSource } from './host';
export { BROWSER_TEST_SAMPLES, startWorkerTrainer } from './start';
// Types only from the Worker entry: importing it as a value would run Comlink.expose here.
export type { TrainerWorkerApi } from './trainer-worker';
