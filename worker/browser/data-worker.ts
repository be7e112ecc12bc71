/**
 * The Web Worker that decodes a person's own files (worker/browser/own-data.ts) and keeps the
 * samples in IndexedDB for the room: the page hands it File objects (no copy of their bytes
 * on the page), gets progress through a callback and the summary back. Started by
 * worker/browser/start.ts `startDataWorker`.
 */

import * as Comlink from 'comlink';
import type { Task } from '../../core';
import type { LocalDataSummary } from '../data';
import { type ServiceResult, toPlainError } from '../service';
import { type ChosenFile, type DecodeProgress, decodeChosen, peekTable } from './own-data';
import { keepSamples } from './own-data-store';

const api = {
  /** Decodes the files for the task and keeps them for the room; the summary, or why not. */
  async decodeAndKeep(
    room: string,
    files: readonly ChosenFile[],
    task: Pick<Task, 'input' | 'labels' | 'data'>,
    onProgress: (p: DecodeProgress) => void,
  ): Promise<ServiceResult<LocalDataSummary>> {
    try {
      const samples = await decodeChosen(files, task, onProgress);
      await keepSamples(room, samples);
      return { ok: true, value: samples.summary };
    } catch (e) {
      return { ok: false, error: toPlainError(e) };
    }
  },
  async peekTable(
    file: File,
    labelColumn?: string,
  ): Promise<ServiceResult<{ features: number; labels: string[] }>> {
    try {
      return { ok: true, value: await peekTable(file, labelColumn) };
    } catch (e) {
      return { ok: false, error: toPlainError(e) };
    }
  },
};

export type DataWorkerApi = typeof api;

Comlink.expose(api);
