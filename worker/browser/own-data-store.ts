/**
 * A tab's own decoded samples in IndexedDB, one entry per room (idb-keyval), so a reload
 * resumes without choosing again and "Forget my data" removes them. The summary is kept
 * apart so that the page can show it without reading the samples. Works in a page and in a
 * Worker; nothing here leaves the browser.
 */

import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { LocalSamples } from '../data';

let store: UseStore | undefined;
const db = () => {
  store ??= createStore('dlion-own-data', 'samples');
  return store;
};
const samplesKey = (room: string) => `samples/${room}`;
const summaryKey = (room: string) => `summary/${room}`;

/** What the page shows of kept samples: their summary and what they were decoded for. */
export type KeptSummary = Pick<LocalSamples, 'input' | 'labels' | 'summary'>;

export async function keepSamples(room: string, samples: LocalSamples): Promise<void> {
  await set(samplesKey(room), samples, db());
  const kept: KeptSummary = {
    input: samples.input,
    labels: samples.labels,
    summary: samples.summary,
  };
  await set(summaryKey(room), kept, db());
}

const isSamples = (x: unknown): x is LocalSamples => {
  const s = x as Partial<LocalSamples> | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    (s.values instanceof Uint8Array || s.values instanceof Float32Array) &&
    s.targets instanceof Uint16Array &&
    Array.isArray(s.labels) &&
    typeof s.input === 'object' &&
    typeof s.summary === 'object'
  );
};

/** The room's samples, or undefined when none are kept (or the entry is not ours). */
export async function loadSamples(room: string): Promise<LocalSamples | undefined> {
  const value: unknown = await get(samplesKey(room), db());
  return isSamples(value) ? value : undefined;
}

export async function keptSummary(room: string): Promise<KeptSummary | undefined> {
  const value = (await get(summaryKey(room), db())) as KeptSummary | undefined;
  return value && typeof value === 'object' && Array.isArray(value.labels) ? value : undefined;
}

/** Removes the room's samples and summary; nothing else that is stored. */
export async function forgetSamples(room: string): Promise<void> {
  await del(samplesKey(room), db());
  await del(summaryKey(room), db());
}
