/**
 * `dlion export`: a kept checkpoint out as a TF.js Layers model, without joining any room.
 *
 *   dlion export --state-dir DIR --out OUT      the kiosk's checkpoint and task in DIR
 *   dlion export --checkpoint FILE --out OUT [--task FILE]
 *
 * The task comes from --task, else the task.json the kiosk keeps in its state directory, else
 * (a built-in model) from the checkpoint's model name and dataset. A checkpoint of another
 * model than the task's is refused (the fingerprints differ). Exit 0 written, 2 usage,
 * 5 unusable checkpoint or task.
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  BUILTIN_MODELS,
  type BuiltinModelName,
  builtinTask,
  parseTask,
  TASK_DATASETS,
  type Task,
  type TaskDatasetName,
} from '../core';
import { type Checkpoint, decodeCheckpoint } from '../worker/checkpoint';
import { buildModel, disposeModel, writeLocalState, writeParams } from '../worker/model';
import { exportModel } from '../worker/model-files';
import { STATE_TASK_FILE, writeExport } from './model-io';
import { EXIT } from './options';

export const EXPORT_USAGE =
  'usage: dlion export (--state-dir DIR | --checkpoint FILE) --out OUT [--task FILE]';

class ExportError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

async function findCheckpoint(dir: string): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.dlck'));
  } catch (e) {
    throw new ExportError(EXIT.badState, `cannot read ${dir}: ${(e as Error).message}`);
  }
  if (names.length === 0) throw new ExportError(EXIT.badState, `no checkpoint (*.dlck) in ${dir}`);
  if (names.length > 1) {
    throw new ExportError(
      EXIT.usage,
      `several checkpoints in ${dir} (${names.join(', ')}): name one with --checkpoint`,
    );
  }
  return join(dir, names[0]!);
}

async function readTask(file: string): Promise<Task> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ExportError(EXIT.badState, `cannot read the task ${file}: ${(e as Error).message}`);
  }
  const r = parseTask(text);
  if (!r.ok) throw new ExportError(EXIT.badState, `${file}: ${r.error.message}`);
  return r.value;
}

const exists = (file: string) =>
  readFile(file).then(
    () => true,
    () => false,
  );

/** Converts; resolves to what it wrote. Throws ExportError. */
async function convert(values: Record<string, string | undefined>): Promise<string> {
  const out = values.out ?? '';
  if (out === '') throw new ExportError(EXIT.usage, '--out is required');
  if ((values['state-dir'] === undefined) === (values.checkpoint === undefined)) {
    throw new ExportError(EXIT.usage, 'give exactly one of --state-dir and --checkpoint');
  }
  const file = values.checkpoint ?? (await findCheckpoint(values['state-dir']!));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new ExportError(EXIT.badState, `cannot read ${file}: ${(e as Error).message}`);
  }
  const decoded = decodeCheckpoint(bytes, 'any');
  if (!decoded.ok) throw new ExportError(EXIT.badState, `${file}: ${decoded.error.message}`);
  const c: Checkpoint = decoded.value;
  const stateTask =
    values['state-dir'] === undefined ? undefined : join(values['state-dir'], STATE_TASK_FILE);
  let task: Task;
  if (values.task !== undefined) task = await readTask(values.task);
  else if (stateTask !== undefined && (await exists(stateTask))) task = await readTask(stateTask);
  else if (
    (BUILTIN_MODELS as readonly string[]).includes(c.model) &&
    (TASK_DATASETS as readonly string[]).includes(c.dataset)
  ) {
    task = builtinTask(c.model as BuiltinModelName, c.dataset as TaskDatasetName);
  } else {
    throw new ExportError(
      EXIT.usage,
      `the checkpoint is of a '${c.model}' model: give its task with --task`,
    );
  }
  await tf.setBackend('cpu');
  let m: Awaited<ReturnType<typeof buildModel>>;
  try {
    // No parameter limit here: the fingerprint below is the check that matters.
    m = await buildModel(task, { maxParams: 1 << 28 });
  } catch (e) {
    throw new ExportError(EXIT.badState, `the task's model: ${(e as Error).message}`);
  }
  try {
    if (m.spec.fingerprint !== c.fingerprint || m.spec.paramCount !== c.params.length) {
      throw new ExportError(
        EXIT.badState,
        `${file} is a checkpoint of another model (fingerprint 0x${c.fingerprint.toString(16)}, ${c.params.length} parameters) than the task '${task.name}' (0x${m.spec.fingerprint.toString(16)}, ${m.spec.paramCount})`,
      );
    }
    writeParams(m, c.params);
    const localCount = m.model.nonTrainableWeights.length;
    if (c.localState !== undefined) writeLocalState(m, c.localState);
    else if (localCount > 0) {
      process.stderr.write(
        'dlion export: the checkpoint holds no normalisation statistics: they keep their initial values\n',
      );
    }
    await writeExport(out, await exportModel(m.model, task));
    return `${out}: model.json, weights.bin, task.json (task '${task.name}', step ${c.step}, ${c.params.length} parameters)`;
  } finally {
    disposeModel(m);
  }
}

export async function runExportCli(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        'state-dir': { type: 'string' },
        checkpoint: { type: 'string' },
        task: { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (e) {
    console.error(`dlion export: ${(e as Error).message}\n${EXPORT_USAGE}`);
    return EXIT.usage;
  }
  try {
    console.log(await convert(values));
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof ExportError)) throw e;
    console.error(`dlion export: ${e.message}${e.code === EXIT.usage ? `\n${EXPORT_USAGE}` : ''}`);
    return e.code;
  }
}
