/**
 * The protocol version carried by every hello (signaling and data channel), and the one
 * rule for comparing versions, so the server and the peers refuse a mismatch the same way.
 */

import * as v from 'valibot';

/**
 * Bumped on any incompatible change to a signaling or control message. 2: the room config
 * gained `dktEvaluateOn` (a strict schema: a build of version 1 refuses it), and DKT runs
 * in rounds.
 */
export const PROTOCOL_VERSION = 2;

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
