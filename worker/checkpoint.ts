/**
 * A peer's checkpoint as one versioned, checksummed blob (params, optimizer state, step and
 * the model's local state), the store interface its browser and Node adapters implement, and a restore that
 * either hands back a whole checkpoint or says why the peer starts fresh.
 *
 * Byte layout, version 1. Integers little-endian; floats IEEE 754 little-endian (as in core's
 * wire codec: every platform this runs on is little-endian, and the float arrays are copied
 * with typed-array views).
 *
 *   off      size    field
 *   0        4       magic 'DLCK' (0x44 0x4C 0x43 0x4B)
 *   4        2       version (u16) = 1
 *   6        2       reserved (u16) = 0
 *   8        4       H: header length in bytes (u32), at most MAX_HEADER_BYTES
 *   12       H       header: UTF-8 JSON, a strict object (CheckpointHeader below):
 *                    { model, fingerprint, room, dataset, step, paramCount,
 *                      optimizer: { kind, hyper, step, bufferLengths }, localStateLength? }
 *                    (blobs written before 2026-12-03 also carry `metrics: []`, read and
 *                    ignored: it was always written empty and never read)
 *   12+H     0-3     zero padding to A = 12 + H rounded up to a multiple of 4
 *   A        4P      params (f32 x paramCount)
 *   ..       4L_k    optimizer buffers k = 0.. (f32 x bufferLengths[k]; sgd: [velocity],
 *                    adam: [m, v]; each L_k = paramCount)
 *   ..       4S      local state (f32 x localStateLength, when the header has it): the model's
 *                    non-trainable weights, e.g. BatchNorm moving statistics (worker/model.ts)
 *   T-4      4       checksum (u32, core's `checksum`) of bytes [0, T-4)
 *
 * T = A + 4 (P + sum L_k) + 4 must equal the blob's length exactly.
 */

import * as v from 'valibot';
import {
  checksum,
  err,
  formatIssues,
  MODELS,
  type ModelName,
  ok,
  type Result,
  utf8Decode,
  utf8Encode,
} from '../core';
import { checkOptimizerSnapshot, type ExportedOptimizerState, MAX_PARAM_COUNT } from './optimizer';

export const CHECKPOINT_MAGIC = 'DLCK';
export const CHECKPOINT_VERSION = 1;
/** Bounds the JSON a decoder will read (a header is a few hundred bytes). */
export const MAX_HEADER_BYTES = 1 << 20;
export const MAX_ROOM_LENGTH = 256;
export const MAX_DATASET_LENGTH = 64;

const PREFIX_BYTES = 12;
const MAGIC_BYTES = [0x44, 0x4c, 0x43, 0x4b] as const;

/** Everything a peer needs to resume where it stopped. */
export interface Checkpoint {
  readonly model: ModelName;
  /** Identifies the architecture (layer shapes); computed by the trainer. u32. */
  readonly fingerprint: number;
  readonly room: string;
  readonly dataset: string;
  /** The trainer's step (u32). */
  readonly step: number;
  readonly params: Float32Array;
  readonly optimizer: ExportedOptimizerState;
  /** The model's non-trainable weights in `model.nonTrainableWeights` order, if it has any. */
  readonly localState?: Float32Array;
}

/** What the restoring peer is: a checkpoint of anything else is refused as 'foreign'. */
export interface CheckpointExpectation {
  readonly model: string;
  readonly fingerprint: number;
  readonly paramCount: number;
  /** Checked when given. */
  readonly room?: string;
  /** Checked when given. */
  readonly dataset?: string;
  /** Checked when given: a room's optimizer is fixed, so another kind is someone else's state. */
  readonly optimizer?: 'sgd' | 'adam';
}

export type CheckpointErrorCode =
  | 'bad-magic'
  | 'version'
  | 'truncated'
  | 'extended'
  | 'checksum'
  | 'bad-header'
  | 'foreign'
  | 'non-finite';

/** A blob decodeCheckpoint refuses (or a checkpoint encodeCheckpoint cannot write). */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const u32 = () => v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));
const count = () => v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_PARAM_COUNT));
const finite = () => v.pipe(v.number(), v.finite());

// Hyperparameter ranges are the optimizer's to judge (checkOptimizerSnapshot): the schema
// only fixes keys and types, so there is one source of truth for what an optimizer accepts.
const OptimizerHeaderSchema = v.variant('kind', [
  v.strictObject({
    kind: v.literal('sgd'),
    hyper: v.strictObject({ learningRate: finite(), momentum: finite() }),
    step: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    bufferLengths: v.strictTuple([count()]),
  }),
  v.strictObject({
    kind: v.literal('adam'),
    hyper: v.strictObject({
      learningRate: finite(),
      beta1: finite(),
      beta2: finite(),
      epsilon: finite(),
    }),
    step: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    bufferLengths: v.strictTuple([count(), count()]),
  }),
]);

/** The JSON header: everything but the float arrays, whose lengths it gives. */
export const CheckpointHeaderSchema = v.strictObject({
  model: v.picklist(MODELS),
  fingerprint: u32(),
  room: v.pipe(v.string(), v.maxLength(MAX_ROOM_LENGTH)),
  dataset: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_DATASET_LENGTH)),
  step: u32(),
  paramCount: count(),
  optimizer: OptimizerHeaderSchema,
  /** Older blobs: the empty metrics list they carry (see the layout above). */
  metrics: v.exactOptional(v.strictTuple([])),
  localStateLength: v.exactOptional(count()),
});

export type CheckpointHeader = v.InferOutput<typeof CheckpointHeaderSchema>;

const align4 = (n: number) => (n + 3) & ~3;
const fail = (code: CheckpointErrorCode, message: string) =>
  err(new CheckpointError(code, message));
const describeCause = (cause: unknown): string => {
  try {
    return cause instanceof Error ? String(cause.message) : String(cause);
  } catch {
    return 'unreadable exception';
  }
};

/** Index of the first non-finite entry, or -1. */
function firstNonFinite(a: Float32Array): number {
  let bad = 0;
  // Branch-free sweep (x - x is NaN exactly for non-finite x); the slow search runs only on failure.
  for (let i = 0; i < a.length; i++) bad += a[i]! - a[i]!;
  if (bad === 0) return -1;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/**
 * The blob for `c`, written as given. Throws CheckpointError when `c` is
 * not something decodeCheckpoint would accept back (non-finite params or optimizer buffers,
 * mismatched lengths, an out-of-range field): that is a caller bug, and writing a blob that
 * can never be restored would hide it.
 */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const paramCount = c.params.length;
  const header: CheckpointHeader = {
    model: c.model,
    fingerprint: c.fingerprint,
    room: c.room,
    dataset: c.dataset,
    step: c.step,
    paramCount,
    optimizer:
      c.optimizer.kind === 'sgd'
        ? {
            kind: 'sgd',
            hyper: { ...c.optimizer.hyper },
            step: c.optimizer.step,
            bufferLengths: [c.optimizer.buffers[0]?.length ?? 0],
          }
        : {
            kind: 'adam',
            hyper: { ...c.optimizer.hyper },
            step: c.optimizer.step,
            bufferLengths: [
              c.optimizer.buffers[0]?.length ?? 0,
              c.optimizer.buffers[1]?.length ?? 0,
            ],
          },
    ...(c.localState && c.localState.length > 0 ? { localStateLength: c.localState.length } : {}),
  };
  const parsed = v.safeParse(CheckpointHeaderSchema, header);
  if (!parsed.success) {
    throw new CheckpointError(
      'bad-header',
      `cannot write checkpoint: ${formatIssues(parsed.issues)[0]}`,
    );
  }
  const snapshot = checkOptimizerSnapshot(c.optimizer, paramCount);
  if (!snapshot.ok) {
    throw new CheckpointError('bad-header', `cannot write checkpoint: ${snapshot.error.message}`);
  }
  const bad = firstNonFinite(c.params);
  if (bad >= 0) {
    throw new CheckpointError(
      'non-finite',
      `cannot write checkpoint: params[${bad}] is ${c.params[bad]}`,
    );
  }
  const json = utf8Encode(JSON.stringify(header));
  if (json.length > MAX_HEADER_BYTES) {
    throw new CheckpointError(
      'bad-header',
      `cannot write checkpoint: header of ${json.length} bytes`,
    );
  }

  const local = c.localState && c.localState.length > 0 ? [c.localState] : [];
  const badLocal = local[0] ? firstNonFinite(local[0]) : -1;
  if (badLocal >= 0) {
    throw new CheckpointError(
      'non-finite',
      `cannot write checkpoint: localState[${badLocal}] is not finite`,
    );
  }
  const arrays = [c.params, ...c.optimizer.buffers, ...local];
  const floatsAt = align4(PREFIX_BYTES + json.length);
  const total = floatsAt + 4 * arrays.reduce((n, a) => n + a.length, 0) + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  view.setUint16(4, CHECKPOINT_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, json.length, true);
  out.set(json, PREFIX_BYTES);
  let at = floatsAt;
  for (const a of arrays) {
    new Float32Array(out.buffer, at, a.length).set(a);
    at += 4 * a.length;
  }
  view.setUint32(total - 4, checksum(out, 0, total - 4), true);
  return out;
}

/** Reads a float array out of `bytes` (any alignment) into a fresh, owned Float32Array. */
function readFloats(bytes: Uint8Array, at: number, n: number): Float32Array {
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(at, at + 4 * n));
  return out;
}

const describeCheckpoint = (h: {
  model: string;
  fingerprint: number;
  paramCount: number;
  room?: string | undefined;
  dataset?: string | undefined;
  optimizer?: string | undefined;
}): string =>
  [
    `model ${h.model}`,
    `fingerprint 0x${(h.fingerprint >>> 0).toString(16).padStart(8, '0')}`,
    `${h.paramCount} parameters`,
    ...(h.room === undefined ? [] : [`room ${JSON.stringify(h.room)}`]),
    ...(h.dataset === undefined ? [] : [`dataset ${h.dataset}`]),
    ...(h.optimizer === undefined ? [] : [`optimizer ${h.optimizer}`]),
  ].join(', ');

/**
 * The checkpoint in `bytes`, if it is whole, intact and this peer's. Checks, in order: magic,
 * version, header length, header JSON against a strict schema, total length (truncated or
 * extended), checksum, padding, header consistency, identity (model, fingerprint, parameter
 * count, and room, dataset and optimizer kind where `expect` names them: else 'foreign'),
 * then that every float is finite. A header that fails to parse is reported as 'checksum'
 * when the blob's last four bytes do not match either, since corruption is then the likelier
 * cause. Never throws; the arrays returned are fresh copies, never views of `bytes`.
 * `expect` 'any' skips the identity check: is this blob whole and sound, whoever wrote it
 * (a kiosk checks its state directory before it joins).
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  expect: CheckpointExpectation | 'any',
): Result<Checkpoint, CheckpointError> {
  try {
    return decode(bytes, expect);
  } catch (cause) {
    // Nothing above throws on any input; this is for allocation failures and the unforeseen.
    return fail('bad-header', `checkpoint unreadable: ${describeCause(cause)}`);
  }
}

function decode(
  bytes: Uint8Array,
  expect: CheckpointExpectation | 'any',
): Result<Checkpoint, CheckpointError> {
  const len = bytes.length;
  for (let i = 0; i < Math.min(4, len); i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) return fail('bad-magic', 'not a checkpoint (no DLCK magic)');
  }
  if (len < PREFIX_BYTES + 4) return fail('truncated', `checkpoint truncated: ${len} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const version = view.getUint16(4, true);
  if (version !== CHECKPOINT_VERSION) {
    return fail(
      'version',
      `checkpoint format version ${version}; this build reads version ${CHECKPOINT_VERSION}`,
    );
  }
  if (view.getUint16(6, true) !== 0)
    return fail('bad-header', 'checkpoint reserved field is not 0');
  const headerBytes = view.getUint32(8, true);

  // A header we cannot read is corruption if the blob's own checksum (assuming nothing was
  // cut off) disagrees, and a writer's fault otherwise.
  const headerProblem = (problem: string) =>
    checksum(bytes, 0, len - 4) === view.getUint32(len - 4, true)
      ? fail('bad-header', `checkpoint header invalid: ${problem}`)
      : fail('checksum', `checkpoint corrupt (checksum mismatch; header: ${problem})`);

  if (headerBytes > MAX_HEADER_BYTES) return headerProblem(`header length ${headerBytes}`);
  if (PREFIX_BYTES + headerBytes + 4 > len) {
    return fail(
      'truncated',
      `checkpoint truncated: ${len} bytes, header alone needs ${PREFIX_BYTES + headerBytes + 4}`,
    );
  }
  const text = utf8Decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes));
  if (text === undefined) return headerProblem('not UTF-8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    return headerProblem(`not JSON (${describeCause(cause)})`);
  }
  const parsed = v.safeParse(CheckpointHeaderSchema, json);
  if (!parsed.success) return headerProblem(formatIssues(parsed.issues).join('; '));
  const h = parsed.output;

  const floatsAt = align4(PREFIX_BYTES + headerBytes);
  const lengths = [
    h.paramCount,
    ...h.optimizer.bufferLengths,
    ...(h.localStateLength === undefined ? [] : [h.localStateLength]),
  ];
  const total = floatsAt + 4 * lengths.reduce((n, l) => n + l, 0) + 4;
  if (len < total) return fail('truncated', `checkpoint truncated: ${len} of ${total} bytes`);
  if (len > total)
    return fail('extended', `checkpoint has ${len - total} bytes past its end (${total})`);
  if (checksum(bytes, 0, total - 4) !== view.getUint32(total - 4, true)) {
    return fail('checksum', 'checkpoint corrupt (checksum mismatch)');
  }
  for (let i = PREFIX_BYTES + headerBytes; i < floatsAt; i++) {
    if (bytes[i] !== 0) return fail('bad-header', 'checkpoint padding is not zero');
  }
  for (const [k, l] of h.optimizer.bufferLengths.entries()) {
    if (l !== h.paramCount) {
      return fail(
        'bad-header',
        `optimizer buffer ${k} has ${l} entries for ${h.paramCount} parameters`,
      );
    }
  }

  const mismatch =
    expect !== 'any' &&
    (h.model !== expect.model ||
      h.fingerprint !== expect.fingerprint ||
      h.paramCount !== expect.paramCount ||
      (expect.room !== undefined && h.room !== expect.room) ||
      (expect.dataset !== undefined && h.dataset !== expect.dataset) ||
      (expect.optimizer !== undefined && h.optimizer.kind !== expect.optimizer));
  if (mismatch) {
    const found = describeCheckpoint({
      ...h,
      room: expect.room === undefined ? undefined : h.room,
      dataset: expect.dataset === undefined ? undefined : h.dataset,
      optimizer: expect.optimizer === undefined ? undefined : h.optimizer.kind,
    });
    return fail('foreign', `checkpoint is for ${found}; expected ${describeCheckpoint(expect)}`);
  }

  const arrays: Float32Array[] = [];
  let at = floatsAt;
  for (const [k, l] of lengths.entries()) {
    const a = readFloats(bytes, at, l);
    const i = firstNonFinite(a);
    if (i >= 0) {
      const where =
        k === 0
          ? 'params'
          : k > h.optimizer.bufferLengths.length
            ? 'localState'
            : `optimizer buffer ${k - 1}`;
      return fail('non-finite', `checkpoint ${where}[${i}] is ${a[i]}`);
    }
    arrays.push(a);
    at += 4 * l;
  }
  const params = arrays[0]!;
  const buffers = arrays.slice(1, 1 + h.optimizer.bufferLengths.length);
  const localState = h.localStateLength === undefined ? undefined : arrays.at(-1)!;
  const optimizer: ExportedOptimizerState =
    h.optimizer.kind === 'sgd'
      ? { kind: 'sgd', hyper: h.optimizer.hyper, step: h.optimizer.step, buffers }
      : { kind: 'adam', hyper: h.optimizer.hyper, step: h.optimizer.step, buffers };
  const snapshot = checkOptimizerSnapshot(optimizer, h.paramCount);
  if (!snapshot.ok)
    return fail('bad-header', `checkpoint optimizer state: ${snapshot.error.message}`);

  return ok({
    model: h.model,
    fingerprint: h.fingerprint,
    room: h.room,
    dataset: h.dataset,
    step: h.step,
    params,
    optimizer,
    ...(localState ? { localState } : {}),
  });
}

/** Where checkpoints live: idb-keyval in the browser, a state directory in Node. */
export interface CheckpointStore {
  /** The bytes under `key`, or undefined when there are none. */
  load(key: string): Promise<Uint8Array | undefined>;
  save(key: string, bytes: Uint8Array): Promise<void>;
  /** Removing a missing key is not an error. */
  remove(key: string): Promise<void>;
}

/**
 * A CheckpointStore in memory, for tests. Like IndexedDB's structured clone, it copies on
 * save and on load, so neither side can change what the other holds.
 */
export function createMemoryCheckpointStore(): CheckpointStore & { readonly keys: () => string[] } {
  const blobs = new Map<string, Uint8Array>();
  return {
    load: async (key) => blobs.get(key)?.slice(),
    save: async (key, bytes) => {
      blobs.set(key, bytes.slice());
    },
    remove: async (key) => {
      blobs.delete(key);
    },
    keys: () => [...blobs.keys()],
  };
}

export type RestoreOutcome =
  | { readonly kind: 'restored'; readonly checkpoint: Checkpoint }
  | {
      readonly kind: 'fresh';
      readonly reason: string;
      /** 'missing' (nothing saved), 'store' (the store failed), or why the blob was refused. */
      readonly code: 'missing' | 'store' | CheckpointErrorCode;
    };

/**
 * Loads and decodes the checkpoint under `key`. Never rejects: a missing key, a store that
 * throws or rejects, and a refused blob all come back as 'fresh' with a reason to log and
 * show. The refused blob is left in the store (the next save replaces it), so it can still
 * be inspected.
 *
 * @example
 * const r = await restoreCheckpoint(store, `ckpt:${room}:${model}`, { model, fingerprint, paramCount: P, room });
 * if (r.kind === 'restored') resume(r.checkpoint); else log.info(`starting fresh: ${r.reason}`);
 */
export async function restoreCheckpoint(
  store: CheckpointStore,
  key: string,
  expect: CheckpointExpectation,
): Promise<RestoreOutcome> {
  let bytes: unknown;
  try {
    bytes = await store.load(key);
  } catch (cause) {
    return {
      kind: 'fresh',
      code: 'store',
      reason: `could not read checkpoint ${JSON.stringify(key)}: ${describeCause(cause)}`,
    };
  }
  if (bytes === undefined) {
    return { kind: 'fresh', code: 'missing', reason: `no checkpoint under ${JSON.stringify(key)}` };
  }
  if (!(bytes instanceof Uint8Array)) {
    return {
      kind: 'fresh',
      code: 'store',
      reason: `store returned ${typeof bytes} for checkpoint ${JSON.stringify(key)}, not bytes`,
    };
  }
  const decoded = decodeCheckpoint(bytes, expect);
  if (decoded.ok) return { kind: 'restored', checkpoint: decoded.value };
  return {
    kind: 'fresh',
    code: decoded.error.code,
    reason: `checkpoint ${JSON.stringify(key)} refused: ${decoded.error.message}`,
  };
}
