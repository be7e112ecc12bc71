/**
 * Who a peer is (id, name, kind, site) and how it is doing (PeerStatus): posted to the
 * server every few seconds and served by GET /api/rooms/:room. The identity and progress
 * field schemas here are shared by the signaling and control messages.
 */

import * as v from 'valibot';
import { asPeerId, asRoomName } from '../ids';
import { STRATEGIES } from '../strategy-names';
import { MAX_GLOBAL_BATCH, MAX_ROOM_PEERS } from './room-config';
import { MAX_LABELS } from './task';

export const MAX_ID_LENGTH = 64;
export const MAX_NAME_LENGTH = 64;
export const MAX_BACKEND_LENGTH = 32;
export const MAX_BACKEND_NOTE_LENGTH = 256;
/** One link per other peer, so never more than the largest room. */
export const MAX_LINKS = MAX_ROOM_PEERS;
/** The most recent knowledge-transfer events a status carries. */
export const MAX_MERGES = 50;

/** Room names, peer ids and sites share one URL- and path-safe charset. */
const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
// The pattern's `+` also refuses the empty string.
const idString = () => v.pipe(v.string(), v.maxLength(MAX_ID_LENGTH), v.regex(ID_PATTERN));

/** A peer id as assigned by the server; the output carries the PeerId brand. */
export const PeerIdSchema = v.pipe(idString(), v.transform(asPeerId));
/** A room name as typed into `/?room=`; the output carries the RoomName brand. */
export const RoomNameSchema = v.pipe(idString(), v.transform(asRoomName));
/** A micro-cloud (site) label, DESIGN.md 8. */
export const SiteSchema = idString();

// Control characters, lone surrogates, line/paragraph separators and invisible format
// characters (bidi overrides could disguise a name on the dashboard). ZWNJ and ZWJ are
// allowed: emoji sequences and several scripts need them.
const UNPRINTABLE = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]|(?![\u200C\u200D])\p{Cf}/u;

/** A display name: 1..64 UTF-16 code units, printable, not blank. */
export const PeerNameSchema = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_NAME_LENGTH),
  v.check((s) => !UNPRINTABLE.test(s), 'name must contain printable characters only'),
  v.check((s) => /\S/u.test(s), 'name must not be blank'),
);

export const PEER_KINDS = ['browser', 'kiosk'] as const;
export const PeerKindSchema = v.picklist(PEER_KINDS);
export type PeerKind = v.InferOutput<typeof PeerKindSchema>;

/** What every peer in a room learns about another one from the server. */
export const PeerInfoSchema = v.strictObject({
  id: PeerIdSchema,
  name: PeerNameSchema,
  kind: PeerKindSchema,
  site: v.exactOptional(SiteSchema),
});
export type PeerInfo = v.InferOutput<typeof PeerInfoSchema>;

/**
 * An array of at most `max` items. The length is checked before any item, so a long hostile
 * array costs one comparison rather than one issue per element.
 */
export const boundedArray = <TItem extends v.GenericSchema>(item: TItem, max: number) =>
  v.pipe(v.array(v.unknown()), v.maxLength(max), v.array(item));

/** A finite number in [min, max]. */
export const finiteIn = (min: number, max: number) =>
  v.pipe(v.number(), v.finite(), v.minValue(min), v.maxValue(max));

/** A non-negative integer that stays exact in a double. */
export const CountSchema = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
/** A training step counter. */
/**
 * Steps are u32 on the wire; a claim past 2^31 - 1 (68 years at a step a second) is refused, so
 * that counting on from any step a peer accepts never leaves the wire's range.
 */
export const MAX_STEP = 2 ** 31 - 1;
export const StepSchema = v.pipe(CountSchema, v.maxValue(MAX_STEP));
export const Uint32Schema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));
/** c_i: samples per second of pure compute (DESIGN.md 3.1). */
export const CapacitySchema = finiteIn(0, 1e9);
/** b_i; 0 is allowed for a peer that is paused or not yet assigned. */
export const BatchSizeSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(0),
  v.maxValue(MAX_GLOBAL_BATCH),
);
/** Cross-entropy loss: never negative; a diverged peer with a larger one is not reported. */
export const LossSchema = finiteIn(0, 1e9);
export const FractionSchema = finiteIn(0, 1);
/** Milliseconds, from the Unix epoch or a monotonic clock. */
export const TimeMsSchema = finiteIn(0, Number.MAX_SAFE_INTEGER);

/** One outgoing data-channel link, as measured by the sender (DESIGN.md 3.2, 3.3). */
export const LinkStatusSchema = v.strictObject({
  to: PeerIdSchema,
  /** Measured delivery rate in bytes per second (not bits). */
  bandwidthBps: finiteIn(0, 1e12),
  /**
   * The emulated cap on this link (DESIGN.md 5) in bytes per second, when one is set: shown
   * beside the measured rate, never used by the estimator.
   */
  capBps: v.optional(finiteIn(0, 1e12)),
  rttMs: v.nullable(finiteIn(0, 3_600_000)),
  bytesSent: CountSchema,
  /** Share of the gradient entries that went out on this link. */
  sentFraction: FractionSchema,
});
export type LinkStatus = v.InferOutput<typeof LinkStatusSchema>;

/** One knowledge-transfer merge (DESIGN.md 3.5): w <- (1 - beta) w + beta w_from. */
export const MergeEventSchema = v.strictObject({
  from: PeerIdSchema,
  to: PeerIdSchema,
  beta: v.pipe(v.number(), v.finite(), v.gtValue(0), v.maxValue(1)),
  lossBefore: LossSchema,
  lossAfter: LossSchema,
  rolledBack: v.boolean(),
  atMs: TimeMsSchema,
});
export type MergeEvent = v.InferOutput<typeof MergeEventSchema>;

/**
 * What a peer trains and reports on, never the samples themselves: whether the data is its
 * own, the training samples per task label (so people see why models differ), and where its
 * test accuracy and DKT comparisons come from ('room': the room dataset's public test split or
 * probe; 'own': its own held-out split).
 */
export const PeerDataSchema = v.strictObject({
  own: v.boolean(),
  perLabel: boundedArray(CountSchema, MAX_LABELS),
  test: v.picklist(['room', 'own']),
  probe: v.picklist(['room', 'own']),
});
export type PeerData = v.InferOutput<typeof PeerDataSchema>;

/** A peer's self-report. `id` must match the sender's own id; the server checks that. */
export const PeerStatusSchema = v.strictObject({
  id: PeerIdSchema,
  name: PeerNameSchema,
  kind: PeerKindSchema,
  site: v.exactOptional(SiteSchema),
  /** tfjs backend in use: 'webgpu', 'webgl', 'cpu', 'tensorflow', ... */
  backend: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_BACKEND_LENGTH)),
  /** Why WebGPU was not used, for the dashboard. */
  backendNote: v.exactOptional(v.pipe(v.string(), v.maxLength(MAX_BACKEND_NOTE_LENGTH))),
  strategy: v.picklist(STRATEGIES),
  step: StepSchema,
  batchSize: BatchSizeSchema,
  /** w_i = b_i / sum b. */
  weight: FractionSchema,
  capacity: CapacitySchema,
  /** Last validation loss; null before the first evaluation. */
  loss: v.nullable(LossSchema),
  valAccuracy: v.nullable(FractionSchema),
  paused: v.exactOptional(v.boolean()),
  data: v.exactOptional(PeerDataSchema),
  links: boundedArray(LinkStatusSchema, MAX_LINKS),
  merges: boundedArray(MergeEventSchema, MAX_MERGES),
});
export type PeerStatus = v.InferOutput<typeof PeerStatusSchema>;
