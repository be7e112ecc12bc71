/**
 * The trust boundary for protocol text: size check, JSON.parse and schema, in that order,
 * returning a Result and never throwing, whatever the socket or data channel delivered.
 */

import type * as v from 'valibot';
import { ProtocolError } from '../errors';
import { err, type Result } from '../result';
import { MAX_CONTROL_TEXT_BYTES } from '../wire/sizes';
import { type ControlMessage, ControlMessageSchema } from './control';
import { describeThrown, validate } from './issues';
import {
  type SignalingClientMessage,
  SignalingClientMessageSchema,
  type SignalingServerMessage,
  SignalingServerMessageSchema,
} from './signaling';
import { type PeerStatus, PeerStatusSchema } from './status';

/** Default cap on one signaling frame: an SDP (<= 64 KiB) or a status, with room to spare. */
export const MAX_SIGNALING_BYTES = 256 * 1024;
/** Default cap on one control message; they are a few hundred bytes. */
export const MAX_CONTROL_BYTES = MAX_CONTROL_TEXT_BYTES;

/** Any message of this protocol, for encodeMessage. */
export type ProtocolMessage =
  | SignalingClientMessage
  | SignalingServerMessage
  | ControlMessage
  | PeerStatus;

/** Serialises a message; the counterpart of the parse functions. */
export const encodeMessage = (msg: ProtocolMessage): string => JSON.stringify(msg);

/** Parses one frame a client sent to the signaling server. */
export const parseSignalingClientMessage = (
  text: string,
  maxBytes: number = MAX_SIGNALING_BYTES,
): Result<SignalingClientMessage, ProtocolError> =>
  parseText(SignalingClientMessageSchema, text, maxBytes, 'signaling client message');

/** Parses one frame the signaling server sent to a client. */
export const parseSignalingServerMessage = (
  text: string,
  maxBytes: number = MAX_SIGNALING_BYTES,
): Result<SignalingServerMessage, ProtocolError> =>
  parseText(SignalingServerMessageSchema, text, maxBytes, 'signaling server message');

/** Parses the JSON text of one control message from a data channel. */
export const parseControlMessage = (
  text: string,
  maxBytes: number = MAX_CONTROL_BYTES,
): Result<ControlMessage, ProtocolError> =>
  parseText(ControlMessageSchema, text, maxBytes, 'control message');

/** Validates an already-decoded peer status (e.g. read back from a store or an API). */
export const parsePeerStatus = (input: unknown): Result<PeerStatus, ProtocolError> =>
  validate(PeerStatusSchema, input, 'peer status');

/**
 * True when the UTF-8 encoding of `text` is longer than `maxBytes`. Counted by hand (core has
 * no TextEncoder) and without allocating; it stops as soon as the answer is known.
 */
export const exceedsUtf8Bytes = (text: string, maxBytes: number): boolean => {
  // Every UTF-16 code unit takes 1 to 3 bytes (a surrogate pair: 4 bytes for 2 units).
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3; // BMP character, or a lone surrogate that the encoder turns into U+FFFD
    if (bytes > maxBytes) return true;
  }
  return false;
};

const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

const parseText = <TSchema extends v.GenericSchema>(
  schema: TSchema,
  text: unknown,
  maxBytes: number,
  what: string,
): Result<v.InferOutput<TSchema>, ProtocolError> => {
  if (typeof text !== 'string') {
    return err(
      new ProtocolError('invalid-message', `${what} is not text`, ['$: expected a string']),
    );
  }
  // Before JSON.parse: the size is what protects the parser's time and memory.
  if (exceedsUtf8Bytes(text, maxBytes)) {
    return err(new ProtocolError('too-large', `${what} exceeds ${maxBytes} bytes`));
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    return err(new ProtocolError('bad-json', `${what} is not JSON: ${describeThrown(cause)}`));
  }
  return validate(schema, json, what);
};
