/**
 * A task's model as a TF.js Layers model (DESIGN.md 9), and the flat vector the mesh exchanges.
 *
 * - **Built-in models** are written here with tf.layers; a task may instead bring a topology
 *   (the `modelTopology` of a model.json), built with tf.models.modelFromJSON.
 * - **The exchanged vector** is the concatenation of `model.trainableWeights`, in that order
 *   (layer by layer as the model lists its layers, each layer's weights in the order it
 *   creates them, e.g. kernel then bias; each tensor row-major). `ModelSpec.weights` lists
 *   the pieces with their offsets.
 * - **Non-trainable state** (BatchNormalization's moving mean and variance) is kept local: each
 *   peer updates its own from its own batches, it is not exchanged, not merged by knowledge
 *   transfer, not in checkpoints (a resumed peer re-estimates it within a few hundred steps),
 *   and an export writes the exporting peer's.
 * - **Initialisation from the room seed**: a weight that Layers initialises to a constant
 *   (biases, BatchNorm's gamma and beta) keeps it; every other trainable weight is drawn
 *   Glorot-uniform (Keras' default kernel initialiser) from a generator seeded by the room's
 *   seed and the fingerprint. Every peer, on any backend, starts from the same bits.
 * - **The fingerprint** is a hash of the topology (layer classes and configs, with layer
 *   names replaced by their index, so two builds of one model agree) and the trainable
 *   weight shapes: peers and checkpoints of another model are refused by it.
 * - **The output**: the model's last layer is softmax (probabilities, as Keras models end)
 *   or linear (logits). When the softmax is its own Activation layer, training uses the layer
 *   before it as logits (the numerically stable loss); a Dense with a softmax activation is
 *   trained on its probabilities, clipped as Keras does.
 */

import * as tf from '@tensorflow/tfjs';
import {
  type BuiltinModelName,
  builtinTask,
  checksum,
  inputSize,
  mulberry32,
  type Task,
  type TaskInput,
} from '../core';

/** Why a model cannot be built or trained; `field` names the part of the task or file at fault. */
export type ModelErrorCode =
  | 'bad-topology'
  | 'unsupported-layer'
  | 'bad-weights'
  | 'too-large'
  | 'input-mismatch'
  | 'output-mismatch';

export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    readonly code: ModelErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** One trainable weight's place in the flat vector. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export type OutputKind = 'logits' | 'probabilities';

export interface ModelSpec {
  /** The task's name. */
  readonly name: string;
  readonly weights: readonly WeightSpec[];
  readonly paramCount: number;
  /** u32 hash of the topology and the trainable weight shapes. */
  readonly fingerprint: number;
  /** The model's input shape without the batch dimension. */
  readonly inputShape: readonly number[];
  readonly classes: number;
  /** What the model used for training outputs (see the module header). */
  readonly trainOutput: OutputKind;
}

export interface TaskModel {
  /** The whole model, as exported. */
  readonly model: tf.LayersModel;
  /** The model trained on: `model`, or the sub-model up to the last softmax layer's input. */
  readonly train: tf.LayersModel;
  readonly spec: ModelSpec;
}

export interface BuildOptions {
  /** Refuses models with more trainable parameters (the room's maxParams). */
  readonly maxParams: number;
}

const CONV = { kernelSize: 3, padding: 'same', useBias: false } as const;

/** The built-in models for an input and a label count. */
export function builtinLayersModel(
  name: BuiltinModelName,
  input: TaskInput,
  classes: number,
): tf.LayersModel {
  const inputShape =
    input.kind === 'image' ? [input.height, input.width, input.channels] : [input.count];
  const imageShape =
    input.kind === 'image' ? inputShape : [Math.round(Math.sqrt(input.count)), -1, 1];
  const head = (x: tf.SymbolicTensor, prefix = 'head'): tf.SymbolicTensor => {
    const logits = tf.layers.dense({ units: classes, name: `${prefix}_logits` }).apply(x);
    return tf.layers
      .activation({ activation: 'softmax', name: 'probs' })
      .apply(logits) as tf.SymbolicTensor;
  };
  const inp = tf.input({ shape: inputShape, name: 'input' });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
    layer.apply(x) as tf.SymbolicTensor;
  const dense = (units: number, n: string, x: tf.SymbolicTensor) =>
    apply(tf.layers.dense({ units, activation: 'relu', name: n }), x);
  const conv = (
    filters: number,
    kernelSize: number,
    padding: 'same' | 'valid',
    n: string,
    x: tf.SymbolicTensor,
  ) => apply(tf.layers.conv2d({ filters, kernelSize, padding, activation: 'relu', name: n }), x);
  const pool = (n: string, x: tf.SymbolicTensor) =>
    apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: n }), x);
  const flat = (x: tf.SymbolicTensor) => apply(tf.layers.flatten({ name: 'flatten' }), x);
  const asImage = (x: tf.SymbolicTensor) =>
    input.kind === 'image'
      ? x
      : apply(tf.layers.reshape({ targetShape: imageShape, name: 'to_image' }), x);
  let out: tf.SymbolicTensor;
  switch (name) {
    case 'mlp':
      out = head(dense(128, 'dense1', input.kind === 'image' ? flat(inp) : inp));
      break;
    case 'cnn': {
      // LeNet-5 style: about 62k parameters on 28 x 28.
      let x = conv(6, 5, 'same', 'conv1', asImage(inp));
      x = pool('pool1', x);
      x = pool('pool2', conv(16, 5, 'valid', 'conv2', x));
      out = head(dense(84, 'dense2', dense(120, 'dense1', flat(x))));
      break;
    }
    case 'cnn-large': {
      // About 1M parameters, most of them in the first dense layer: the model where
      // bandwidth, not compute, should dominate.
      let x = conv(32, 3, 'same', 'conv1', asImage(inp));
      x = pool('pool1', conv(32, 3, 'same', 'conv2', x));
      x = pool('pool2', conv(64, 3, 'same', 'conv3', x));
      out = head(dense(300, 'dense1', flat(x)));
      break;
    }
    case 'cnn-res': {
      // A small modern CNN: a residual block and a depthwise-separable block, each with
      // batch normalisation, then global average pooling (1 690 parameters). Narrow, because on
      // the tfjs cpu backend its element-wise work dominates: 1.7 s per step at batch 32 here.
      const bnRelu = (n: string, x: tf.SymbolicTensor) =>
        apply(
          tf.layers.activation({ activation: 'relu', name: `${n}_relu` }),
          apply(tf.layers.batchNormalization({ name: `${n}_bn` }), x),
        );
      let x = bnRelu(
        'stem',
        apply(tf.layers.conv2d({ ...CONV, filters: 8, name: 'stem_conv' }), asImage(inp)),
      );
      let r = bnRelu(
        'res1a',
        apply(tf.layers.conv2d({ ...CONV, filters: 8, name: 'res1a_conv' }), x),
      );
      r = apply(
        tf.layers.batchNormalization({ name: 'res1b_bn' }),
        apply(tf.layers.conv2d({ ...CONV, filters: 8, name: 'res1b_conv' }), r),
      );
      x = apply(
        tf.layers.activation({ activation: 'relu', name: 'res1_relu' }),
        apply(tf.layers.add({ name: 'res1_add' }), [x, r]),
      );
      x = pool('pool1', x);
      x = bnRelu(
        'sep1_dw',
        apply(
          tf.layers.depthwiseConv2d({
            kernelSize: 3,
            padding: 'same',
            useBias: false,
            name: 'sep1_dw',
          }),
          x,
        ),
      );
      x = bnRelu(
        'sep1_pw',
        apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, name: 'sep1_pw' }), x),
      );
      x = pool('pool2', x);
      out = head(apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), x));
      break;
    }
    case 'tabular-mlp': {
      // For rows of features on their own scales: batch normalisation of the input first.
      const x = input.kind === 'image' ? flat(inp) : inp;
      const n = apply(tf.layers.batchNormalization({ name: 'input_bn' }), x);
      out = head(dense(32, 'dense2', dense(64, 'dense1', n)));
      break;
    }
    default:
      throw new ModelError('bad-topology', 'model.name', `no built-in model '${String(name)}'`);
  }
  return tf.model({ inputs: inp, outputs: out, name });
}

/** Layer names replaced by `@index`, the model's own name and Keras' version tags dropped. */
function canonicalTopology(model: tf.LayersModel): string {
  const names = new Map(model.layers.map((l, i) => [l.name, `@${i}`]));
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return names.get(x) ?? x;
    if (Array.isArray(x)) return x.map(walk);
    if (typeof x === 'object' && x !== null) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(x).sort()) {
        if (key === 'keras_version' || key === 'backend') continue;
        const value = (x as Record<string, unknown>)[key];
        if (key === 'name' && typeof value === 'string' && !names.has(value)) continue;
        out[key] = walk(value);
      }
      return out;
    }
    return x;
  };
  return JSON.stringify(walk(model.toJSON(null, false)));
}

function specOf(
  name: string,
  model: tf.LayersModel,
  train: tf.LayersModel,
  output: OutputKind,
): ModelSpec {
  let offset = 0;
  const weights = model.trainableWeights.map((w) => {
    const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const spec = { name: w.originalName, shape: w.shape.map((d) => d ?? 1), offset, size };
    offset += size;
    return spec;
  });
  const layout = `${canonicalTopology(model)}|${JSON.stringify(weights.map((w) => w.shape))}`;
  const outShape = train.outputs[0]!.shape;
  return {
    name,
    weights,
    paramCount: offset,
    fingerprint: checksum(new TextEncoder().encode(layout)),
    inputShape: model.inputs[0]!.shape.slice(1).map((d) => d ?? -1),
    classes: outShape[outShape.length - 1] ?? 0,
    trainOutput: output,
  };
}

const activationOf = (layer: tf.layers.Layer): unknown => {
  const config = layer.getConfig() as { activation?: unknown };
  return config.activation;
};

/** The model to train on and what it outputs; refuses outputs other than softmax or linear. */
function trainingView(model: tf.LayersModel): { train: tf.LayersModel; output: OutputKind } {
  if (model.outputs.length !== 1 || model.inputs.length !== 1) {
    throw new ModelError(
      'output-mismatch',
      'model',
      `needs one input and one output, has ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const last = model.layers[model.layers.length - 1]!;
  const activation = activationOf(last);
  if (last.getClassName() === 'Activation' && activation === 'softmax') {
    const before = last.inboundNodes[0]?.inputTensors[0];
    if (before)
      return { train: tf.model({ inputs: model.inputs, outputs: before }), output: 'logits' };
  }
  if (activation === 'softmax') return { train: model, output: 'probabilities' };
  if (activation === undefined || activation === 'linear')
    return { train: model, output: 'logits' };
  throw new ModelError(
    'output-mismatch',
    'model',
    `the last layer (${last.getClassName()}) must end in softmax or linear for classification, not ${String(activation)}`,
  );
}

/** Checks a built model against its task; throws ModelError naming the field. */
function checkAgainstTask(task: Task, m: TaskModel, options: BuildOptions): void {
  const { spec } = m;
  if (spec.paramCount === 0)
    throw new ModelError('bad-topology', 'model', 'has no trainable weights');
  if (spec.paramCount > options.maxParams) {
    throw new ModelError(
      'too-large',
      'model',
      `has ${spec.paramCount} trainable parameters, over the room's maxParams of ${options.maxParams}`,
    );
  }
  if (spec.inputShape.some((d) => d < 1)) {
    throw new ModelError(
      'input-mismatch',
      'model',
      `input shape [${spec.inputShape.join(', ')}] must be fixed`,
    );
  }
  const modelInput = spec.inputShape.reduce((a, b) => a * b, 1);
  if (modelInput !== inputSize(task.input)) {
    throw new ModelError(
      'input-mismatch',
      'input',
      `the model takes [${spec.inputShape.join(', ')}] (${modelInput} values) but the task's input has ${inputSize(task.input)}`,
    );
  }
  if (spec.classes !== task.labels.length) {
    throw new ModelError(
      'output-mismatch',
      'labels',
      `the model outputs ${spec.classes} classes but the task names ${task.labels.length} labels`,
    );
  }
  for (const w of m.model.weights) {
    if (w.dtype !== 'float32')
      throw new ModelError(
        'bad-weights',
        'model',
        `weight ${w.originalName} is ${w.dtype}, not float32`,
      );
  }
}

/**
 * Builds a task's model: built-in or from its topology, checked against the task and the
 * room's limits. Never throws: an unbuildable model is a ModelError naming the field.
 * Example: `await buildModel(builtinTask('cnn', 'mnist'), { maxParams: 4e6 })`.
 */
export async function buildModel(task: Task, options: BuildOptions): Promise<TaskModel> {
  let model: tf.LayersModel;
  if (task.model.kind === 'builtin') {
    model = builtinLayersModel(task.model.name, task.input, task.labels.length);
  } else {
    try {
      model = await tf.models.modelFromJSON({
        modelTopology: task.model.topology as tf.io.ModelJSON['modelTopology'],
      });
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      const code = /unknown (layer|activation|initializer|regularizer|constraint)/i.test(message)
        ? 'unsupported-layer'
        : 'bad-topology';
      throw new ModelError(
        code,
        'model.topology',
        `tfjs cannot build it: ${message.slice(0, 300)}`,
      );
    }
  }
  const taskModel = withSpec(task.name, model);
  try {
    checkAgainstTask(task, taskModel, options);
  } catch (e) {
    disposeModel(taskModel);
    throw e;
  }
  return taskModel;
}

function withSpec(name: string, model: tf.LayersModel): TaskModel {
  let view: { train: tf.LayersModel; output: OutputKind };
  try {
    view = trainingView(model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, train: view.train, spec: specOf(name, model, view.train, view.output) };
}

/** The spec of a built-in model on MNIST's input (tests, benchmarks, the attack harness). */
export function modelSpec(name: BuiltinModelName): ModelSpec {
  const task = builtinTask(name, 'mnist');
  const m = withSpec(task.name, builtinLayersModel(name, task.input, task.labels.length));
  const spec = m.spec;
  disposeModel(m);
  return spec;
}

export function disposeModel(m: TaskModel): void {
  m.model.dispose();
}

/**
 * The values of `weights`, read without blocking: synchronous reads of GPU-resident data go
 * through a canvas on the webgpu backend, which Node (Dawn) does not have. The clones are
 * taken at once, so a write that lands while the reads are pending cannot mix two states.
 */
export async function readWeights(weights: readonly tf.LayerVariable[]): Promise<Float32Array[]> {
  const clones = weights.map((w) => tf.clone(w.read()));
  try {
    return (await Promise.all(clones.map((c) => c.data()))) as Float32Array[];
  } finally {
    tf.dispose(clones);
  }
}

/** The arrays end to end in one new array. */
export const concatFloats = (parts: readonly Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const sizeOf = (w: tf.LayerVariable): number => w.shape.reduce((s: number, d) => s * (d ?? 1), 1);

/** Values in the model's non-trainable weights (its local state). */
export const localStateSize = (m: TaskModel): number =>
  m.model.nonTrainableWeights.reduce((a, w) => a + sizeOf(w), 0);

/** Values in all of the model's weights. */
export const allWeightsSize = (m: TaskModel): number =>
  m.model.weights.reduce((a, w) => a + sizeOf(w), 0);

/** Fan-in and fan-out as Keras computes them for Glorot initialisation. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/**
 * The seeded initial trainable vector (see the module header), from a freshly built model:
 * constant-initialised weights keep their constants.
 */
export async function initParams(m: TaskModel, seed: number): Promise<Float32Array> {
  const rand = mulberry32((seed ^ m.spec.fingerprint) >>> 0);
  const out = new Float32Array(m.spec.paramCount);
  const values = await readWeights(m.model.trainableWeights);
  m.model.trainableWeights.forEach((_, i) => {
    const place = m.spec.weights[i]!;
    const fresh = values[i]!;
    // A lone value says nothing about its initialiser: only the usual constants count.
    const constant =
      fresh.length > 1 ? fresh.every((x) => x === fresh[0]) : fresh[0] === 0 || fresh[0] === 1;
    const slice = out.subarray(place.offset, place.offset + place.size);
    if (constant) {
      slice.set(fresh);
      return;
    }
    const [fanIn, fanOut] = fans(place.shape);
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let j = 0; j < slice.length; j++) slice[j] = (rand() * 2 - 1) * limit;
  });
  return out;
}

/** The trainable weights as one flat vector (a copy, in exchange order). */
export async function readParams(m: TaskModel): Promise<Float32Array> {
  return concatFloats(await readWeights(m.model.trainableWeights));
}

/** Writes a flat vector into the trainable weights; the caller checked its length. */
export function writeParams(m: TaskModel, flat: Float32Array): void {
  m.model.trainableWeights.forEach((w, i) => {
    const place = m.spec.weights[i]!;
    const t = tf.tensor(flat.subarray(place.offset, place.offset + place.size), [...place.shape]);
    w.write(t);
    t.dispose();
  });
}

/** Every weight (trainable and not), in `model.weights` order: a pretrained start. */
export async function readAllWeights(m: TaskModel): Promise<Float32Array> {
  return concatFloats(await readWeights(m.model.weights));
}

/** A pretrained start: a model.json's float32 weights (manifest and bytes, as readModelJson checked them). */
export interface ManifestWeights {
  readonly specs: readonly tf.io.WeightsManifestEntry[];
  readonly data: ArrayBuffer;
}

/**
 * A manifest's weights in the model's `model.weights` order (what writeAllWeights takes),
 * matched by name; a weight the manifest lacks or shapes otherwise is a ModelError.
 */
export function weightsFromManifest(m: TaskModel, w: ManifestWeights): Float32Array {
  const byName = new Map<string, Float32Array>();
  let at = 0;
  for (const spec of w.specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    byName.set(spec.name, new Float32Array(w.data, at, n));
    at += 4 * n;
  }
  return concatFloats(
    m.model.weights.map((v) => {
      const values = byName.get(v.originalName);
      if (values === undefined || values.length !== sizeOf(v)) {
        throw new ModelError(
          'bad-weights',
          'weightsManifest',
          values === undefined
            ? `has no ${v.originalName}`
            : `${v.originalName} holds ${values.length} values, the model ${sizeOf(v)}`,
        );
      }
      return values;
    }),
  );
}

/** The inverse of readAllWeights; a vector of another length is refused. */
export function writeAllWeights(m: TaskModel, all: Float32Array): void {
  const total = m.model.weights.reduce(
    (a, w) => a + w.shape.reduce((s: number, d) => s * (d ?? 1), 1),
    0,
  );
  if (all.length !== total)
    throw new ModelError('bad-weights', 'weights', `expected ${total} values, got ${all.length}`);
  let at = 0;
  for (const w of m.model.weights) {
    const size = w.shape.reduce((s: number, d) => s * (d ?? 1), 1);
    const t = tf.tensor(
      all.subarray(at, at + size),
      w.shape.map((d) => d ?? 1),
    );
    w.write(t);
    t.dispose();
    at += size;
  }
}

/** The non-trainable weights (kept local, see the module header) as one vector. */
export async function readLocalState(m: TaskModel): Promise<Float32Array> {
  return concatFloats(await readWeights(m.model.nonTrainableWeights));
}

/** The inverse of readLocalState; the caller checked the length. */
export function writeLocalState(m: TaskModel, state: Float32Array): void {
  let at = 0;
  for (const w of m.model.nonTrainableWeights) {
    const size = w.shape.reduce((s: number, d) => s * (d ?? 1), 1);
    const t = tf.tensor(
      state.subarray(at, at + size),
      w.shape.map((d) => d ?? 1),
    );
    w.write(t);
    t.dispose();
    at += size;
  }
}
