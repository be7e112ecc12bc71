/**
 * Control messages on a peer-to-peer data channel (JSON inside a binary 'control' frame):
 * the link handshake, progress heartbeats, DKT reports and outcomes, and RTT pings.
 */

import * as v from 'valibot';
import {
  BatchSizeSchema,
  CapacitySchema,
  CountSchema,
  FractionSchema,
  LossSchema,
  PeerIdSchema,
  SiteSchema,
  StepSchema,
  TimeMsSchema,
  Uint32Schema,
} from './status';
import { ProtocolVersionSchema } from './version';

export const MAX_BYE_REASON_LENGTH = 256;

/** Everything one peer may send another on the control channel. */
export const ControlMessageSchema = v.variant('type', [
  v.strictObject({
    type: v.literal('mesh/hello'),
    /** The receiver closes the link when isSupportedProtocol says no. */
    protocol: ProtocolVersionSchema,
    /** Must equal the id signaling announced for this link; the receiver checks. */
    peerId: PeerIdSchema,
    step: StepSchema,
    capacity: CapacitySchema,
    batchSize: BatchSizeSchema,
    site: v.exactOptional(SiteSchema),
    /** Hash of model architecture and shapes: peers with different models must not merge. */
    modelFingerprint: Uint32Schema,
  }),
  v.strictObject({
    type: v.literal('mesh/heartbeat'),
    step: StepSchema,
    capacity: CapacitySchema,
    batchSize: BatchSizeSchema,
  }),
  /** DKT report (DESIGN.md 3.5): the sender's loss and accuracy on its validation split. */
  v.strictObject({
    type: v.literal('mesh/report'),
    step: StepSchema,
    loss: LossSchema,
    accuracy: FractionSchema,
    /** Validation samples the figures were measured on. */
    samples: CountSchema,
  }),
  /** Asks the receiver (the best peer) for its parameters. */
  v.strictObject({
    type: v.literal('mesh/dkt-request'),
    step: StepSchema,
    /** 'join': a peer new to a running room asks for the parameters to start from (beta 1). */
    purpose: v.exactOptional(v.picklist(['dkt', 'join'])),
  }),
  /** Tells the source whether its parameters were kept or rolled back. */
  v.strictObject({
    type: v.literal('mesh/dkt-outcome'),
    from: PeerIdSchema,
    kept: v.boolean(),
    lossBefore: LossSchema,
    lossAfter: LossSchema,
  }),
  /** `t` is the sender's clock, echoed back in the pong so only the sender's clock is read. */
  v.strictObject({ type: v.literal('mesh/ping'), id: Uint32Schema, t: TimeMsSchema }),
  v.strictObject({ type: v.literal('mesh/pong'), id: Uint32Schema, t: TimeMsSchema }),
  v.strictObject({
    type: v.literal('mesh/bye'),
    reason: v.exactOptional(v.pipe(v.string(), v.maxLength(MAX_BYE_REASON_LENGTH))),
  }),
]);
export type ControlMessage = v.InferOutput<typeof ControlMessageSchema>;
/** One member of the union, by its `type`: `ControlMessageOf<'mesh/report'>`. */
export type ControlMessageOf<T extends ControlMessage['type']> = Extract<
  ControlMessage,
  { type: T }
>;
