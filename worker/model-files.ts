/**
 * The TF.js Layers format in and out (DESIGN.md 9): a `model.json` (topology plus weights
 * manifest) with its weight files, as tf.LayersModel.save and tfjs-converter write it.
 *
 * - Out: `exportModel` gives `model.json`, one `weights.bin` and the task's `task.json`;
 *   `tf.loadLayersModel` loads the first two with no code of ours. The model takes exactly
 *   the input the task describes (image pixels scaled as `task.input.scale` says).
 * - In: `readModelJson` validates a model.json and its weight files before anything builds:
 *   the topology must be an object, every weight float32, the files the manifest names
 *   present, and their bytes exactly what the manifest's shapes need.
 */

import * as tf from '@tensorflow/tfjs';
import * as v from 'valibot';
import { formatIssues, type Task } from '../core';
import { ModelError, readWeights } from './model';

/** A model.json is a few kB to a few hundred kB of topology; more is not a model file. */
export const MAX_MODEL_JSON_BYTES = 4 << 20;

export type ModelFiles = {
  readonly 'model.json': string;
  readonly 'weights.bin': Uint8Array;
  readonly 'task.json': string;
};

/**
 * The exported files of a model and its task. The weights are taken in one synchronous pass
 * (readWeights clones them before reading), so an update applied meanwhile (the mesh keeps
 * training) cannot mix two steps' weights in one export. The layout is what
 * tf.LayersModel.save writes: the topology of model.toJSON, the weights in `model.weights`
 * order under their original names.
 */
export async function exportModel(model: tf.LayersModel, task: Task): Promise<ModelFiles> {
  for (const w of model.weights) {
    if (w.dtype !== 'float32') throw new Error(`weight ${w.originalName} is not float32`);
  }
  const specs: tf.io.WeightsManifestEntry[] = model.weights.map((w) => ({
    name: w.originalName,
    shape: w.shape.map((d) => d ?? 1),
    dtype: 'float32',
  }));
  const topology = model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'];
  const values = await readWeights(model.weights);
  const weights = new Uint8Array(values.reduce((a, v) => a + v.byteLength, 0));
  let at = 0;
  for (const v of values) {
    weights.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
    at += v.byteLength;
  }
  const json: tf.io.ModelJSON = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: 'dlion-mesh',
    modelTopology: topology,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  return {
    'model.json': JSON.stringify(json),
    'weights.bin': weights,
    'task.json': JSON.stringify(task, null, 2),
  };
}

const WeightEntrySchema = v.object({
  name: v.pipe(v.string(), v.maxLength(512)),
  shape: v.pipe(
    v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 28))),
    v.maxLength(8),
  ),
  dtype: v.string(),
  quantization: v.exactOptional(v.unknown()),
});

const ModelJsonSchema = v.object({
  modelTopology: v.pipe(
    v.unknown(),
    v.check(
      (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
      'must be an object (a Layers topology)',
    ),
    v.record(v.string(), v.unknown()),
  ),
  format: v.exactOptional(v.string()),
  weightsManifest: v.exactOptional(
    v.pipe(
      v.array(
        v.object({
          paths: v.pipe(v.array(v.pipe(v.string(), v.maxLength(512))), v.maxLength(1024)),
          weights: v.pipe(v.array(WeightEntrySchema), v.maxLength(10_000)),
        }),
      ),
      v.maxLength(1024),
    ),
  ),
});

export interface ReadModel {
  readonly topology: Record<string, unknown>;
  /** Present when the manifest names weights: the decoded tensors' specs and bytes. */
  readonly weights?: { readonly specs: tf.io.WeightsManifestEntry[]; readonly data: ArrayBuffer };
}

/**
 * Validates a model.json text and reads the weight files its manifest names through `read`
 * (a path relative to the model.json). Throws ModelError naming the field at fault.
 */
export async function readModelJson(
  text: string,
  read: (path: string) => Promise<Uint8Array | undefined>,
): Promise<ReadModel> {
  if (text.length > MAX_MODEL_JSON_BYTES) {
    throw new ModelError('bad-topology', 'model.json', `is over ${MAX_MODEL_JSON_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ModelError('bad-topology', 'model.json', `is not JSON: ${(e as Error).message}`);
  }
  const parsed = v.safeParse(ModelJsonSchema, doc);
  if (!parsed.success) {
    throw new ModelError('bad-topology', 'model.json', formatIssues(parsed.issues)[0] ?? 'invalid');
  }
  const { modelTopology, format, weightsManifest } = parsed.output;
  if (format !== undefined && format !== 'layers-model') {
    throw new ModelError(
      'bad-topology',
      'model.json format',
      `is '${format}': only Layers models train (a graph model has no layers to train)`,
    );
  }
  // Keras' model.json files put the topology under model_config.
  const topology =
    typeof modelTopology.model_config === 'object' && modelTopology.model_config !== null
      ? (modelTopology.model_config as Record<string, unknown>)
      : modelTopology;
  const groups = weightsManifest ?? [];
  const specs = groups.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
  if (specs.length === 0) return { topology };
  for (const s of specs) {
    if (s.dtype !== 'float32' || s.quantization !== undefined) {
      throw new ModelError(
        'bad-weights',
        `weightsManifest ${s.name}`,
        `is ${s.quantization ? 'quantized ' : ''}${s.dtype}: only float32 weights train`,
      );
    }
  }
  const parts: Uint8Array[] = [];
  for (const g of groups) {
    for (const path of g.paths) {
      const bytes = await read(path);
      if (bytes === undefined) {
        throw new ModelError('bad-weights', `weightsManifest path ${path}`, 'the file is missing');
      }
      parts.push(bytes);
    }
  }
  const expected = specs.reduce((a, s) => a + 4 * s.shape.reduce((p, d) => p * d, 1), 0);
  const got = parts.reduce((a, p) => a + p.length, 0);
  if (got !== expected) {
    throw new ModelError(
      'bad-weights',
      'weightsManifest',
      `the weight files hold ${got} bytes but the manifest's shapes need ${expected}`,
    );
  }
  const data = new Uint8Array(got);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  const floats = new Float32Array(data.buffer);
  for (let i = 0; i < floats.length; i++) {
    if (!Number.isFinite(floats[i]!)) {
      throw new ModelError('bad-weights', 'weights', 'a weight is not finite');
    }
  }
  return { topology, weights: { specs, data: data.buffer } };
}

/**
 * Loads a model.json (validated by readModelJson) into a Layers model with its weights; the
 * caller disposes it. Example: a pretrained start's weights, or a test reading an export.
 */
export async function loadModel(read: ReadModel): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: read.topology,
        ...(read.weights ? { weightSpecs: read.weights.specs, weightData: read.weights.data } : {}),
      }),
      { strict: true },
    );
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    const code = /unknown (layer|activation|initializer)/i.test(message)
      ? 'unsupported-layer'
      : read.weights
        ? 'bad-weights'
        : 'bad-topology';
    throw new ModelError(code, 'model.json', `tfjs cannot load it: ${message.slice(0, 300)}`);
  }
}
