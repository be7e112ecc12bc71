/**
 * The protocol version carried by every hello (signaling and data channel), and the one
 * rule for comparing versions, so the server and the peers refuse a mismatch the same way.
 */

import * as v from 'valibot';

/**
 * Bumped on any incompatible change to a signaling or control message or to the data
 * channel's frames. 2: the room config gained `dktEvaluateOn` (a strict schema: a build of
 * version 1 refuses it), and DKT runs in rounds. 3: frames version 2 (a chunk size per
 * message, the receiver's span in every ack, probe messages), so that the bandwidth
 * estimate holds on links with latency; a build of version 2 would refuse every frame.
 */
export const PROTOCOL_VERSION = 3;

/**
 * A version number as it appears on the wire. Any sane integer passes the schema, so that a
 * hello from a newer or older build is still understood well enough to answer it with a
 * 'protocol-version' error instead of a generic 'invalid-message'.
 */
export const ProtocolVersionSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(0),
  v.maxValue(0xffff),
);

/** True when a peer or server speaking `version` can talk to this build. */
export const isSupportedProtocol = (version: number): boolean => version === PROTOCOL_VERSION;
