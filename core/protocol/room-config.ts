/**
 * The room's training config: chosen by the peer that creates the room, validated once by
 * the server, then fixed for the room's life and handed to every peer in 'sig/welcome'.
 */

import * as v from 'valibot';
import { ProtocolError } from '../errors';
import { err, type Result } from '../result';
import { STRATEGIES } from '../strategy-names';
import { describeThrown, validate } from './issues';
import {
  BUILTIN_MODELS,
  type BuiltinModelName,
  builtinTask,
  type Task,
  TaskSchema,
  taskDataset,
} from './task';

/**
 * A room names a built-in model (its task follows from the model and the dataset), or
 * 'custom' with the task, which then carries its own model, in `task`.
 */
export const MODELS = [...BUILTIN_MODELS, 'custom'] as const;
export const DATASETS = ['mnist', 'fashion-mnist'] as const;
export const OPTIMIZERS = ['sgd', 'adam'] as const;
export const VALUE_TYPES = ['f32', 'f16'] as const;
/**
 * What DKT evaluates models on (DESIGN.md 3.5): 'probe', public images of the room dataset
 * that every peer holds, the same on every peer and disjoint from the test images accuracy is
 * reported on; or 'validation', each peer's own held-out split of its shard. Losses on the
 * probe compare across peers whatever their shards; on non-iid shards the validation splits
 * follow each peer's own classes and their losses do not.
 */
export const DKT_EVAL_SPLITS = ['probe', 'validation'] as const;
export type DktEvalSplit = (typeof DKT_EVAL_SPLITS)[number];
/** Every split a trainer evaluates on: DKT's, and the test subset accuracy is reported on. */
export type EvalSplit = DktEvalSplit | 'test';

export const MIN_GLOBAL_BATCH = 8;
export const MAX_GLOBAL_BATCH = 4096;
export const MAX_STALENESS = 64;
export const MIN_ROOM_PEERS = 2;
export const MAX_ROOM_PEERS = 64;

const finite = () => v.pipe(v.number(), v.finite());
const intIn = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

/** How each peer's private data shard is drawn from the training set (DESIGN.md 6). */
export const ShardingSchema = v.variant('kind', [
  v.strictObject({ kind: v.literal('iid') }),
  v.strictObject({ kind: v.literal('classes'), classesPerPeer: intIn(1, 10) }),
  // alpha -> infinity is iid; beyond 1000 the draw is iid in all but name.
  v.strictObject({
    kind: v.literal('dirichlet'),
    alpha: v.pipe(finite(), v.gtValue(0), v.maxValue(1000)),
  }),
]);

const RoomConfigFields = v.strictObject({
  strategy: v.picklist(STRATEGIES),
  model: v.picklist(MODELS),
  dataset: v.picklist(DATASETS),
  /** B: samples per step summed over all live peers (DESIGN.md 3.1). */
  globalBatch: intIn(MIN_GLOBAL_BATCH, MAX_GLOBAL_BATCH),
  /** Per-peer clamps on b_i. */
  minBatch: intIn(1, MAX_GLOBAL_BATCH),
  maxBatch: intIn(1, MAX_GLOBAL_BATCH),
  /**
   * No peer's batch exceeds shareCap x globalBatch / N (N the peers counted), whatever capacity
   * it claims (DESIGN.md 10): a peer that lies about its speed takes at most twice its fair
   * share by default.
   */
  shareCap: v.pipe(finite(), v.minValue(1), v.maxValue(1000)),
  /**
   * Robust aggregation (DESIGN.md 10): an arriving update is clipped to clipFactor times the
   * lower median of the counted peers' update norms; 0 turns it off. Unset: 4 for DLion and
   * its ablations, off for the baselines (core/robust.ts).
   */
  clipFactor: v.exactOptional(v.pipe(finite(), v.minValue(0), v.maxValue(1000))),
  learningRate: v.pipe(finite(), v.gtValue(0), v.maxValue(10)),
  optimizer: v.picklist(OPTIMIZERS),
  /** Used by 'sgd' only; 'adam' keeps its standard betas. */
  momentum: v.pipe(finite(), v.minValue(0), v.ltValue(1)),
  seed: intIn(0, 0xffff_ffff),
  sharding: ShardingSchema,
  /** s of the staleness gate (DESIGN.md 3.4); 0 is lock-step. */
  staleness: intIn(0, MAX_STALENESS),
  /** K of DKT: seconds between validation reports (DESIGN.md 3.5). */
  dktPeriodSec: v.pipe(finite(), v.minValue(1), v.maxValue(86_400)),
  dktBeta: v.pipe(finite(), v.gtValue(0), v.maxValue(1)),
  /** Loss margin over the best peer before a peer asks for its parameters. */
  dktEpsilon: v.pipe(finite(), v.minValue(0), v.maxValue(1000)),
  /** Loss margin of the rollback on a loss jump (rollbackFactor x best + dktDelta). */
  dktDelta: v.pipe(finite(), v.minValue(0), v.maxValue(1000)),
  /**
   * Keep a good model (DESIGN.md 10): a DKT evaluation whose loss is above rollbackFactor times
   * the best so far (plus dktDelta) rolls the peer back to its best parameters; 0 turns it off.
   */
  rollbackFactor: v.pipe(finite(), v.minValue(0), v.maxValue(1000)),
  dktEvaluateOn: v.picklist(DKT_EVAL_SPLITS),
  /** R of WDB: steps between batch reassignments (DESIGN.md 3.1). */
  rebalanceEvery: intIn(1, 100_000),
  valueType: v.picklist(VALUE_TYPES),
  // Strictly positive: every peer evaluates DKT and the dashboard's accuracy on its split.
  validationFraction: v.pipe(finite(), v.gtValue(0), v.maxValue(0.5)),
  maxPeers: intIn(MIN_ROOM_PEERS, MAX_ROOM_PEERS),
  /**
   * The task, when the room trains anything but a built-in model on a room dataset (DESIGN.md
   * 9). Every peer builds its model and checks the fingerprint before it trains.
   */
  task: v.exactOptional(TaskSchema),
  /** The largest model a peer of this room builds, in trainable parameters. */
  maxParams: intIn(1, 1 << 26),
});

/** A complete room config, as the server hands it out; cross-field rules included. */
export const RoomConfigSchema = v.pipe(
  RoomConfigFields,
  v.forward(
    v.partialCheck(
      [['minBatch'], ['maxBatch']],
      (c) => c.minBatch <= c.maxBatch,
      'minBatch must not exceed maxBatch',
    ),
    ['minBatch'],
  ),
  v.forward(
    v.partialCheck(
      [['minBatch'], ['globalBatch']],
      (c) => c.globalBatch >= c.minBatch,
      'globalBatch must be at least minBatch',
    ),
    ['globalBatch'],
  ),
  v.forward(
    v.partialCheck(
      [['model'], ['task']],
      (c) =>
        c.task === undefined
          ? c.model !== 'custom'
          : c.model === (c.task.model.kind === 'builtin' ? c.task.model.name : 'custom'),
      "model must be 'custom' exactly when the task brings its own model, or the task's built-in model",
    ),
    ['model'],
  ),
  v.forward(
    v.partialCheck(
      [['dataset'], ['task']],
      (c) => c.task === undefined || (taskDataset(c.task) ?? c.dataset) === c.dataset,
      "the task's dataset (or its probe's) must be the room's dataset",
    ),
    ['task'],
  ),
);

export type RoomConfig = v.InferOutput<typeof RoomConfigSchema>;
export type Sharding = RoomConfig['sharding'];
export type ModelName = RoomConfig['model'];
export type DatasetName = RoomConfig['dataset'];
export type OptimizerName = RoomConfig['optimizer'];
/** What a room's creator may send: any subset of the fields; the rest take the defaults. */
export type RoomConfigInput = Partial<RoomConfig>;

/**
 * A config that trains MNIST well out of the box. SGD with momentum rather than Adam: the
 * exchange sums weighted gradients with error feedback, so entries arrive late and in
 * bursts; plain momentum treats a late entry like any other gradient, while Adam's
 * per-coordinate normalisation would turn each burst into an outsized step. lr 0.05 with
 * momentum 0.9 takes the MLP past 97% on MNIST within an epoch at B = 128.
 */
export const DEFAULT_ROOM_CONFIG: RoomConfig = Object.freeze({
  strategy: 'dlion',
  model: 'mlp',
  dataset: 'mnist',
  globalBatch: 128,
  minBatch: 8,
  maxBatch: 512,
  learningRate: 0.05,
  optimizer: 'sgd',
  momentum: 0.9,
  seed: 1,
  sharding: Object.freeze({ kind: 'iid' }),
  staleness: 2,
  dktPeriodSec: 10,
  dktBeta: 0.5,
  // In loss units (cross-entropy): small enough to matter, large enough that two peers
  // with near-equal loss do not keep swapping parameters over evaluation noise.
  dktEpsilon: 0.05,
  dktDelta: 0.02,
  rollbackFactor: 3,
  dktEvaluateOn: 'probe',
  rebalanceEvery: 20,
  shareCap: 2,
  valueType: 'f32',
  validationFraction: 0.1,
  maxPeers: 16,
  // cnn-large is about 1M; a Layers model the room is given may be larger, not unbounded.
  maxParams: 4_000_000,
} as const);

/** The task a room trains: its own, or the built-in model's on the room dataset. */
export const roomTask = (config: RoomConfig): Task =>
  config.task ?? builtinTask(config.model as BuiltinModelName, config.dataset);

/**
 * Validates a creator's partial config: missing (or undefined) fields take the defaults,
 * unknown keys and invalid values are refused with "path: message" issues.
 * Example: `parseRoomConfig({ strategy: 'bsp', staleness: 0 })`.
 */
export const parseRoomConfig = (input: unknown): Result<RoomConfig, ProtocolError> => {
  let merged: Record<string, unknown>;
  try {
    merged = withDefaults(input);
  } catch (cause) {
    const reason = describeThrown(cause);
    return err(
      new ProtocolError('invalid-message', `invalid room config: ${reason}`, [`$: ${reason}`]),
    );
  }
  return validate(RoomConfigSchema, merged, 'room config');
};

/** The defaults overlaid with the given fields; throws on anything but a plain object. */
const withDefaults = (input: unknown): Record<string, unknown> => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ProtocolError('invalid-message', 'expected an object');
  }
  const merged: Record<string, unknown> = { ...DEFAULT_ROOM_CONFIG };
  // A task's optimizer defaults come before the creator's own fields.
  const task = (input as { task?: { optimizer?: unknown } }).task;
  const taskOptimizer = typeof task === 'object' && task !== null ? task.optimizer : undefined;
  if (typeof taskOptimizer === 'object' && taskOptimizer !== null) {
    for (const key of ['optimizer', 'learningRate', 'momentum']) {
      const value = (taskOptimizer as Record<string, unknown>)[key];
      if (value !== undefined) merged[key] = value;
    }
  }
  for (const [key, value] of Object.entries(input)) {
    // Undefined means "not given". defineProperty, not assignment, so that a JSON
    // "__proto__" key stays an own key (and is refused as unknown) instead of a prototype.
    if (value !== undefined) Object.defineProperty(merged, key, { value, enumerable: true });
  }
  return merged;
};
