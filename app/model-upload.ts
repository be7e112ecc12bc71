/**
 * A model file chosen in the new-room form: the model.json (and the weight files its manifest
 * names) is read and checked in the page, turned into the room's task, and kept in IndexedDB
 * under the room's name until the tab that created the room starts its peer. Nothing is
 * uploaded: the task (the topology) travels in the room config like any setting, and the
 * weights, if any, stay in this tab (later peers copy the model from the mesh).
 */

import { createStore, del, get, set } from 'idb-keyval';
import {
  DEFAULT_ROOM_CONFIG,
  parseTask,
  type Task,
  type TaskDatasetName,
  taskForModel,
  topologyInputShape,
} from '../core';
import { readModelJson } from '../worker/model-files';
import type { TrainerConfig } from '../worker/trainer';

export interface NewRoomModel {
  readonly task: Task;
  readonly pretrained?: NonNullable<TrainerConfig['pretrained']>;
}

const store = (): ReturnType<typeof createStore> => createStore('dlion-new-room', 'models');
const key = (room: string) => `model/${room}`;

/**
 * Reads the chosen files (one .json, the rest weight files by name) as the task of a new room
 * on `dataset`, or on the tab's own data with its labels. Throws an Error whose message names the file and the field at fault.
 */
export async function readChosenModel(
  files: readonly File[],
  data: TaskDatasetName | { readonly labels: readonly string[] },
): Promise<NewRoomModel> {
  const jsons = files.filter((f) => f.name.toLowerCase().endsWith('.json'));
  if (jsons.length !== 1) {
    throw new Error(
      `choose exactly one model.json (and its weight files); got ${jsons.length} .json files`,
    );
  }
  const modelFile = jsons[0]!;
  const byName = new Map(files.map((f) => [f.name, f]));
  const read = await readModelJson(await modelFile.text(), async (path) => {
    const f = byName.get(path.split('/').pop() ?? path);
    return f ? new Uint8Array(await f.arrayBuffer()) : undefined;
  });
  const shape = topologyInputShape(read.topology);
  if (!shape) throw new Error(`${modelFile.name}: the topology declares no input shape`);
  const name =
    modelFile.name
      .replace(/\.json$/i, '')
      .replace(/\.model$/i, '')
      .slice(0, 64) || 'model';
  const task = taskForModel(name, read.topology, shape, data, read.weights !== undefined);
  const checked = parseTask(task);
  if (!checked.ok) throw new Error(`${modelFile.name}: ${checked.error.message}`);
  return { task, ...(read.weights ? { pretrained: read.weights } : {}) };
}

/** Keeps the model for the room this tab is about to create. */
export async function keepNewRoomModel(room: string, model: NewRoomModel): Promise<void> {
  await set(key(room), model, store());
}

/** The model kept for `room`, if this tab chose one. */
export async function newRoomModel(room: string): Promise<NewRoomModel | undefined> {
  try {
    const m = (await get(key(room), store())) as NewRoomModel | undefined;
    return m && parseTask(m.task).ok ? m : undefined;
  } catch {
    return undefined;
  }
}

export const forgetNewRoomModel = (room: string): Promise<void> => del(key(room), store());

/** The dataset the form names, or the default. */
export const datasetOf = (value: FormDataEntryValue | null): TaskDatasetName =>
  value === 'fashion-mnist'
    ? 'fashion-mnist'
    : value === 'mnist'
      ? 'mnist'
      : DEFAULT_ROOM_CONFIG.dataset;
