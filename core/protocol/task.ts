/**
 * A task (DESIGN.md 9): what a room trains, as one validated JSON object. It names the
 * input (an image h x w x c with its pixel scaling, or a vector of N features), the label
 * names, the model (a built-in one, or a TF.js Layers topology as `model.json` carries it),
 * optimizer defaults, and the data that feeds it: a room dataset the server shards, or each
 * peer's own files (a folder of images, a CSV table), which never leave the peer.
 *
 * Example (the built-in MNIST CNN):
 *   { name: 'mnist-cnn', input: { kind: 'image', height: 28, width: 28, channels: 1,
 *     scale: 'unit' }, labels: ['0', ..., '9'], model: { kind: 'builtin', name: 'cnn' },
 *     data: { kind: 'dataset', name: 'mnist' } }
 *
 * The topology is only checked for shape here (an object, within the size cap); whether the
 * runtime can build and train it is the trainer's check (worker/model.ts), done on every peer
 * before anything trains.
 */

import * as v from 'valibot';
import { ProtocolError } from '../errors';
import { err, type Result } from '../result';
import { utf8Encode } from '../wire/utf8';
import { describeThrown, validate } from './issues';

/** The models the project ships; room configs name them directly (`model: 'cnn'`). */
export const BUILTIN_MODELS = ['mlp', 'cnn', 'cnn-large', 'cnn-res', 'tabular-mlp'] as const;
export type BuiltinModelName = (typeof BUILTIN_MODELS)[number];
export const TASK_DATASETS = ['mnist', 'fashion-mnist'] as const;
export type TaskDatasetName = (typeof TASK_DATASETS)[number];
/**
 * How an image's bytes become the model's input: 'unit' is pixel / 255 (values in [0, 1]),
 * 'signed' is pixel / 127.5 - 1 (values in [-1, 1]). The exported model takes exactly this.
 */
export const INPUT_SCALES = ['unit', 'signed'] as const;
export type InputScale = (typeof INPUT_SCALES)[number];
/**
 * How an image of another size becomes the task's: 'stretch' scales each side on its own,
 * 'cover' scales to fill and crops the middle, 'contain' scales to fit and pads with black.
 */
export const IMAGE_FITS = ['stretch', 'cover', 'contain'] as const;
export type ImageFit = (typeof IMAGE_FITS)[number];

/** A task's JSON, at most this many UTF-8 bytes: it travels in the room config. */
export const MAX_TASK_BYTES = 64 * 1024;
export const MAX_LABELS = 1000;
export const MAX_LABEL_LENGTH = 64;
export const MAX_TASK_NAME_LENGTH = 64;
export const MAX_INPUT_SIDE = 1024;
export const MAX_FEATURES = 1 << 20;

const intIn = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const finite = () => v.pipe(v.number(), v.finite());

export const TaskInputSchema = v.variant('kind', [
  v.strictObject({
    kind: v.literal('image'),
    height: intIn(1, MAX_INPUT_SIDE),
    width: intIn(1, MAX_INPUT_SIDE),
    channels: v.picklist([1, 3]),
    scale: v.picklist(INPUT_SCALES),
    /** Default 'stretch'. Channels convert by one rule: grey = 0.299 R + 0.587 G + 0.114 B. */
    fit: v.exactOptional(v.picklist(IMAGE_FITS)),
  }),
  v.strictObject({ kind: v.literal('features'), count: intIn(1, MAX_FEATURES) }),
]);
export type TaskInput = v.InferOutput<typeof TaskInputSchema>;

const TopologySchema = v.pipe(
  v.unknown(),
  v.check(
    (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
    'the topology must be an object (the modelTopology of a model.json)',
  ),
  v.record(v.string(), v.unknown()),
);

export const TaskModelSchema = v.variant('kind', [
  v.strictObject({ kind: v.literal('builtin'), name: v.picklist(BUILTIN_MODELS) }),
  v.strictObject({
    kind: v.literal('layers'),
    /** The `modelTopology` of a model.json (tf.LayersModel.save, tfjs-converter). */
    topology: TopologySchema,
    /**
     * Whether the room starts from weights its creator holds (a pretrained model): the
     * creator starts from them and later peers copy the model from the mesh. Otherwise every
     * peer initialises the same weights from the room's seed.
     */
    pretrained: v.exactOptional(v.boolean()),
  }),
]);
export type TaskModel = v.InferOutput<typeof TaskModelSchema>;

const TaskFields = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_TASK_NAME_LENGTH)),
  input: TaskInputSchema,
  labels: v.pipe(
    v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_LABEL_LENGTH))),
    v.minLength(2),
    v.maxLength(MAX_LABELS),
    v.check((xs) => new Set(xs).size === xs.length, 'label names must be distinct'),
  ),
  model: TaskModelSchema,
  /** Defaults for a room created with this task; the creator's own settings win. */
  optimizer: v.exactOptional(
    v.strictObject({
      optimizer: v.exactOptional(v.picklist(['sgd', 'adam'])),
      learningRate: v.exactOptional(v.pipe(finite(), v.gtValue(0), v.maxValue(10))),
      momentum: v.exactOptional(v.pipe(finite(), v.minValue(0), v.ltValue(1))),
    }),
  ),
  data: v.variant('kind', [
    v.strictObject({ kind: v.literal('dataset'), name: v.picklist(TASK_DATASETS) }),
    /**
     * Each peer brings its own files (worker/data/local.ts). `probe` names the room dataset
     * whose public probe DKT compares models on (its images must fit the input and its labels
     * be the task's); without one, each peer compares on its own held-out split.
     * `labelColumn` is the CSV column holding the label (default: 'label', else the last).
     */
    v.strictObject({
      kind: v.literal('local'),
      probe: v.exactOptional(v.picklist(TASK_DATASETS)),
      labelColumn: v.exactOptional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
    }),
  ]),
});
/** Values per sample the task's input holds: h x w x c, or the feature count. */
export const inputSize = (input: TaskInput): number =>
  input.kind === 'image' ? input.height * input.width * input.channels : input.count;

/** The room datasets hold 28 x 28 grey images: 784 values per sample. */
export const DATASET_INPUT_SIZE = 28 * 28;

/** The room dataset whose files the task uses (its shards, or only its probe), if any. */
type TaskData = v.InferOutput<typeof TaskFields>['data'];
export const taskDataset = (t: { readonly data: TaskData }): TaskDatasetName | undefined =>
  t.data.kind === 'dataset' ? t.data.name : t.data.probe;

export const TaskSchema = v.pipe(
  TaskFields,
  v.forward(
    v.partialCheck(
      [['input'], ['data']],
      (t) => taskDataset(t) === undefined || inputSize(t.input) === DATASET_INPUT_SIZE,
      `the room datasets' images are 28 x 28 x 1 (${DATASET_INPUT_SIZE} values): the input must take as many`,
    ),
    ['input'],
  ),
  v.forward(
    v.partialCheck(
      [['labels'], ['data']],
      (t) =>
        t.data.kind !== 'local' ||
        t.data.probe === undefined ||
        sameLabels(t.labels, datasetLabels(t.data.probe)),
      "a probe's labels must be the task's, in order",
    ),
    ['labels'],
  ),
);
export type Task = v.InferOutput<typeof TaskSchema>;

/**
 * Validates a task (an object, or its JSON text), size cap first.
 * Example: `parseTask(JSON.parse(readFileSync('task.json', 'utf8')))`.
 */
export const parseTask = (input: unknown): Result<Task, ProtocolError> => {
  let doc: unknown = input;
  let bytes: number;
  try {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    bytes = utf8Encode(text ?? '').length;
    if (bytes <= MAX_TASK_BYTES && typeof input === 'string') doc = JSON.parse(input);
  } catch (cause) {
    const reason = describeThrown(cause);
    return err(new ProtocolError('invalid-message', `invalid task: ${reason}`, [`$: ${reason}`]));
  }
  if (bytes > MAX_TASK_BYTES) {
    const line = `$: the task is ${bytes} bytes, over the limit of ${MAX_TASK_BYTES}`;
    return err(new ProtocolError('invalid-message', `invalid task: ${line}`, [line]));
  }
  return validate(TaskSchema, doc, 'task');
};

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FASHION = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

const sameLabels = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => labelKey(x) === labelKey(b[i]!));

/**
 * The key a label is matched by: lower case, letters and digits only, so that the folder
 * 'T-shirt_top' (a folder name cannot hold '/') is the label 'T-shirt/top'.
 */
export const labelKey = (name: string): string =>
  name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');

/**
 * The index of the label a folder name or CSV value stands for: an exact match first, then
 * by labelKey; undefined when the task does not know it.
 */
export function labelIndex(labels: readonly string[], name: string): number | undefined {
  const exact = labels.indexOf(name);
  if (exact >= 0) return exact;
  const key = labelKey(name);
  if (key === '') return undefined;
  const i = labels.findIndex((l) => labelKey(l) === key);
  return i >= 0 ? i : undefined;
}

/** The label names of a room dataset, in label order. */
export const datasetLabels = (dataset: TaskDatasetName): readonly string[] =>
  dataset === 'mnist' ? DIGITS : FASHION;

/**
 * The task a room that names a built-in model trains (the model names of earlier versions
 * are these tasks' aliases): 28 x 28 grey images scaled to [0, 1], the dataset's 10 labels.
 */
export const builtinTask = (model: BuiltinModelName, dataset: TaskDatasetName): Task => ({
  name: `${dataset}-${model}`,
  input: { kind: 'image', height: 28, width: 28, channels: 1, scale: 'unit' },
  labels: [...datasetLabels(dataset)],
  model: { kind: 'builtin', name: model },
  data: { kind: 'dataset', name: dataset },
});

/**
 * The task of a room created from a model file: the input follows the model's input shape
 * ([h, w, c] an image scaled to [0, 1], [n] n features). On a room dataset the labels are the
 * dataset's; on the peers' own data they are the ones given (a folder's subfolder names, a
 * CSV's label values).
 */
export function taskForModel(
  name: string,
  topology: Record<string, unknown>,
  inputShape: readonly number[],
  data: TaskDatasetName | { readonly labels: readonly string[]; readonly labelColumn?: string },
  pretrained: boolean,
): Task {
  const input: Task['input'] =
    inputShape.length === 3 && (inputShape[2] === 1 || inputShape[2] === 3)
      ? {
          kind: 'image',
          height: inputShape[0]!,
          width: inputShape[1]!,
          channels: inputShape[2] as 1 | 3,
          scale: 'unit',
        }
      : { kind: 'features', count: inputShape.reduce((a, b) => a * b, 1) };
  return {
    name,
    input,
    labels: typeof data === 'string' ? [...datasetLabels(data)] : [...data.labels],
    model: { kind: 'layers', topology, ...(pretrained ? { pretrained: true } : {}) },
    data:
      typeof data === 'string'
        ? { kind: 'dataset', name: data }
        : data.labelColumn === undefined
          ? { kind: 'local' }
          : { kind: 'local', labelColumn: data.labelColumn },
  };
}

/**
 * The task of a new room on a peer's own data with a built-in model: the dataset's own task
 * when every label is one of the dataset's (DKT then compares on its public probe); else the
 * model on the data's labels (folder names, a table's label values), with a table's features
 * as input ('tabular-mlp' is the built-in model for tables).
 */
export function taskForOwnData(
  model: BuiltinModelName,
  dataset: TaskDatasetName,
  labels: readonly string[],
  features?: number,
): Task {
  const known = datasetLabels(dataset);
  if (features === undefined && labels.every((l) => labelIndex(known, l) !== undefined)) {
    return builtinTask(model, dataset);
  }
  const base = builtinTask(model, dataset);
  return {
    ...base,
    name: `own-${model}`,
    ...(features === undefined ? {} : { input: { kind: 'features', count: features } }),
    labels: [...labels],
    data: { kind: 'local' },
  };
}

/**
 * The input shape (without the batch dimension) a Layers topology declares: the first
 * layer's batch_input_shape in a Sequential, the input layer's in a functional model.
 * Undefined when it declares none (tfjs could not build it either).
 */
export function topologyInputShape(topology: Record<string, unknown>): number[] | undefined {
  const config = topology.config as Record<string, unknown> | unknown[] | undefined;
  const layers = (Array.isArray(config) ? config : config?.layers) as unknown;
  if (!Array.isArray(layers)) return undefined;
  type LayerJson = { class_name?: unknown; config?: Record<string, unknown> };
  const all = layers as LayerJson[];
  let layer: LayerJson | undefined = all[0];
  const inputs = Array.isArray(config) ? undefined : config?.input_layers;
  if (Array.isArray(inputs) && Array.isArray(inputs[0])) {
    const name = (inputs[0] as unknown[])[0];
    layer = all.find((l) => l.config?.name === name) ?? layer;
  }
  const shape = layer?.config?.batch_input_shape ?? layer?.config?.batchInputShape;
  if (!Array.isArray(shape) || shape.length < 2) return undefined;
  const dims = shape.slice(1);
  return dims.every((d) => Number.isInteger(d) && (d as number) > 0)
    ? (dims as number[])
    : undefined;
}
