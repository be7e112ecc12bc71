/**
 * The kiosk's model files: `--model FILE.json` in (a room's task from a model.json, with a
 * pretrained start when the manifest names weights), and the TF.js Layers export out
 * (`--export-dir`, `dlion export`), written so that a crash mid-write leaves the previous
 * export whole.
 */

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { parseTask, type Task, type TaskDatasetName, taskForModel } from '../core';
import type { ModelExportFiles } from '../mesh';
import {
  buildModel,
  disposeModel,
  type ManifestWeights,
  weightsFromManifest,
} from '../worker/model';
import { loadModel, readModelJson } from '../worker/model-files';
import { KioskStateError } from './identity';

/** The task file the kiosk keeps in its state directory (the room's task, for `dlion export`). */
export const STATE_TASK_FILE = 'task.json';

export interface ModelSource {
  readonly task: Task;
  /** The model.json's weights, when its manifest names any: a pretrained start. */
  readonly pretrained?: ManifestWeights;
}

/**
 * Reads a model.json (and the weight files its manifest names, beside it) as a room's task
 * on `dataset`, or on the kiosk's own data with its labels. Throws KioskStateError naming the
 * file and the field for anything unusable (a label count that is not the model's outputs).
 */
export async function readModelSource(
  file: string,
  data: TaskDatasetName | { readonly labels: readonly string[]; readonly labelColumn?: string },
  maxParams: number,
): Promise<ModelSource> {
  const fail = (why: string): never => {
    throw new KioskStateError(`--model ${file}: ${why}`);
  };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return fail(`cannot be read (${(e as Error).message})`);
  }
  const dir = resolve(dirname(file));
  try {
    const read = await readModelJson(text, async (path) => {
      const full = resolve(dir, path);
      // A manifest names files beside the model.json, never elsewhere on the box.
      if (!full.startsWith(dir + sep)) fail(`weights path '${path}' leaves the model's folder`);
      try {
        return new Uint8Array(await readFile(full));
      } catch {
        return undefined;
      }
    });
    const loaded = await loadModel(read);
    const inputShape = loaded.inputs[0]?.shape.slice(1).map((d) => d ?? -1) ?? [];
    const name =
      basename(file)
        .replace(/\.json$/i, '')
        .replace(/\.model$/i, '')
        .slice(0, 64) || 'model';
    const task = taskForModel(name, read.topology, inputShape, data, read.weights !== undefined);
    const checked = parseTask(task);
    if (!checked.ok) fail(checked.error.message);
    // The trainer's own build and checks, here, so that a model it cannot train stops the
    // kiosk before it joins.
    const built = await buildModel(task, { maxParams });
    try {
      // The trainer matches the manifest to the model by name: check here that it can.
      if (read.weights) weightsFromManifest(built, read.weights);
    } finally {
      disposeModel(built);
      loaded.dispose();
    }
    return { task, ...(read.weights ? { pretrained: read.weights } : {}) };
  } catch (e) {
    if (e instanceof KioskStateError) throw e;
    return fail((e as Error).message);
  }
}

/** Writes an export into `dir` (model.json, weights.bin, task.json), each file atomically. */
export async function writeExport(dir: string, files: ModelExportFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Weights first: a model.json never names weights that are not there yet.
  const names = Object.keys(files).sort(
    (a, b) => Number(a === 'model.json') - Number(b === 'model.json'),
  );
  for (const name of names) {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      throw new Error(`refusing to write export file '${name}'`);
    }
    const target = join(dir, name);
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, files[name]!);
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
  }
}

/** The room's task, kept in the state directory for `dlion export`. */
export async function writeStateTask(dir: string, task: Task): Promise<void> {
  await writeExport(dir, { [STATE_TASK_FILE]: JSON.stringify(task, null, 2) });
}
