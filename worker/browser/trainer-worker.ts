/**
 * The Web Worker entry: the trainer service (worker/service.ts) over comlink, with the tab's
 * host. The page starts it through worker/browser/start.ts (`startWorkerTrainer`), or a test
 * harness with `Comlink.wrap<TrainerWorkerApi>(new Worker(...))`.
 */

import * as Comlink from 'comlink';
import { createTrainerService, type TrainerService } from '../service';
import { type BrowserSource, browserHost } from './host';

/** The Worker's API as the page sees it through `Comlink.wrap`. */
export type TrainerWorkerApi = TrainerService<BrowserSource>;

Comlink.expose(createTrainerService(browserHost()));
