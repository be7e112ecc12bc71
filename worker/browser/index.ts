/**
 * Public face of worker/browser: starting the trainer service in a Web Worker, its host's
 * source, the Worker's API type (for harnesses that drive it directly), the browser data
 * loader, and a person's own data: its decoder Worker and the samples kept per room.
 */

export { type BrowserDataOptions, browserGunzip, loadBrowserData, shardUrls } from './data';
export type { BrowserSource } from './host';
export type { ChosenFile, DecodeProgress } from './own-data';
export { forgetSamples, type KeptSummary, keptSummary } from './own-data-store';
export { BROWSER_TEST_SAMPLES, startDataWorker, startWorkerTrainer } from './start';
// Types only from the Worker entry: importing it as a value would run Comlink.expose here.
export type { TrainerWorkerApi } from './trainer-worker';
