/**
 * Messages on the signaling WebSocket (/ws, JSON text frames): join a room, relay SDP and
 * ICE between peers, report status. The server never sees a gradient.
 */

import * as v from 'valibot';
import { MAX_ISSUE_LENGTH, MAX_ISSUES } from './issues';
import { MAX_ROOM_PEERS, RoomConfigSchema } from './room-config';
import {
  boundedArray,
  PeerIdSchema,
  PeerInfoSchema,
  PeerKindSchema,
  PeerNameSchema,
  PeerStatusSchema,
  RoomNameSchema,
  SiteSchema,
  TimeMsSchema,
} from './status';
import { ProtocolVersionSchema } from './version';

export const MAX_SDP_LENGTH = 64 * 1024;
export const MAX_CANDIDATE_LENGTH = 2 * 1024;
export const MAX_TOKEN_LENGTH = 512;
export const MAX_ICE_SERVERS = 16;
export const MAX_ERROR_MESSAGE_LENGTH = 1024;
/** Keys a hello's config may carry; the room config has about twenty. */
export const MAX_CONFIG_KEYS = 64;

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));

/**
 * A strict object whose fields are all optional. valibot takes `[]` for such an object (an
 * array has no unknown keys), so arrays are refused first.
 */
const optionalFields = <TEntries extends v.ObjectEntries>(entries: TEntries) =>
  v.pipe(
    v.unknown(),
    v.check((x) => !Array.isArray(x), 'expected an object, not an array'),
    v.strictObject(entries),
  );

/**
 * simple-peer's 'signal' payloads, exactly as it emits them: the peer runtime passes them
 * through untouched, so this schema is the only check they get before `peer.signal()`.
 */
export const SignalDataSchema = v.variant('type', [
  v.strictObject({ type: v.picklist(['offer', 'answer']), sdp: text(MAX_SDP_LENGTH) }),
  v.strictObject({
    type: v.literal('candidate'),
    candidate: v.strictObject({
      candidate: text(MAX_CANDIDATE_LENGTH),
      sdpMid: v.exactOptional(v.nullable(text(256))),
      sdpMLineIndex: v.exactOptional(
        v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1023))),
      ),
      // Absent in simple-peer's own objects, present where a whole RTCIceCandidate is sent.
      usernameFragment: v.exactOptional(v.nullable(text(256))),
    }),
  }),
  v.strictObject({ type: v.literal('renegotiate'), renegotiate: v.literal(true) }),
  // Only emitted when a non-initiator adds media; the mesh never does, but a peer that
  // relays one must not be treated as malformed.
  v.strictObject({
    type: v.literal('transceiverRequest'),
    transceiverRequest: v.strictObject({
      kind: v.picklist(['audio', 'video']),
      init: v.exactOptional(
        optionalFields({
          direction: v.exactOptional(
            v.picklist(['sendrecv', 'sendonly', 'recvonly', 'inactive', 'stopped']),
          ),
        }),
      ),
    }),
  }),
]);
export type SignalData = v.InferOutput<typeof SignalDataSchema>;

/**
 * The creator's room config, kept loose here on purpose: only the peer that creates the room
 * has its config applied, and the server then validates it with parseRoomConfig and answers
 * 'config-invalid' with the issues. A joiner's stale config must not stop it from joining.
 */
export const RoomConfigDraftSchema = v.pipe(
  v.unknown(),
  // Before v.record, which would take an array for an object with keys "0", "1", ...
  v.check((c) => !Array.isArray(c), 'config must be an object, not an array'),
  v.record(v.pipe(v.string(), v.maxLength(64)), v.unknown()),
  v.maxEntries(MAX_CONFIG_KEYS),
);

/**
 * The key that lets a peer resume its id: base64url of an HMAC-SHA256 the server computes
 * over the room and the id (signaling/tokens.ts, resumeKey), 43 characters.
 */
export const ResumeKeySchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/));

export const HelloSchema = v.strictObject({
  type: v.literal('sig/hello'),
  /** Checked by the server with isSupportedProtocol, answered with 'protocol-version'. */
  protocol: ProtocolVersionSchema,
  room: RoomNameSchema,
  name: PeerNameSchema,
  kind: PeerKindSchema,
  token: v.exactOptional(text(MAX_TOKEN_LENGTH)),
  site: v.exactOptional(SiteSchema),
  config: v.exactOptional(RoomConfigDraftSchema),
  /**
   * A reloaded tab or reconnecting kiosk asks for its previous id, with the key the server's
   * welcome gave it for that id: without the key the id is not granted (a new one is).
   */
  resume: v.exactOptional(
    optionalFields({
      peerId: v.exactOptional(PeerIdSchema),
      key: v.exactOptional(ResumeKeySchema),
    }),
  ),
});

/** Everything a client may send to the signaling server. */
export const SignalingClientMessageSchema = v.variant('type', [
  HelloSchema,
  v.strictObject({ type: v.literal('sig/signal'), to: PeerIdSchema, data: SignalDataSchema }),
  v.strictObject({ type: v.literal('sig/heartbeat'), atMs: v.exactOptional(TimeMsSchema) }),
  v.strictObject({ type: v.literal('sig/status'), status: PeerStatusSchema }),
  v.strictObject({ type: v.literal('sig/leave') }),
]);
export type SignalingClientMessage = v.InferOutput<typeof SignalingClientMessageSchema>;
/** One member of the client union, by its `type`: `SignalingClientMessageOf<'sig/hello'>`. */
export type SignalingClientMessageOf<T extends SignalingClientMessage['type']> = Extract<
  SignalingClientMessage,
  { type: T }
>;

export const SIGNALING_ERROR_CODES = [
  'protocol-version',
  'invalid-message',
  'too-large',
  'rate-limited',
  'token-required',
  'bad-token',
  'room-full',
  'too-many-rooms',
  'too-many-sockets',
  'config-invalid',
  'not-joined',
  'unknown-peer',
  'internal',
] as const;
export type SignalingErrorCode = (typeof SIGNALING_ERROR_CODES)[number];

export const PEER_LEFT_REASONS = ['left', 'timeout', 'kicked'] as const;
export type PeerLeftReason = (typeof PEER_LEFT_REASONS)[number];

const IceUrlSchema = v.pipe(
  v.string(),
  v.maxLength(1024),
  v.regex(/^(?:stun|stuns|turn|turns):/, 'ICE server url must be stun:, stuns:, turn: or turns:'),
);

/** An RTCIceServer as the browser and @roamhq/wrtc accept it. */
export const IceServerSchema = v.strictObject({
  urls: v.union([IceUrlSchema, boundedArray(IceUrlSchema, 8)]),
  username: v.exactOptional(text(512)),
  credential: v.exactOptional(text(1024)),
});
export type IceServer = v.InferOutput<typeof IceServerSchema>;

export const WelcomeSchema = v.strictObject({
  type: v.literal('sig/welcome'),
  protocol: ProtocolVersionSchema,
  /** The id this peer is known by; equal to resume.peerId when the server granted it. */
  peerId: PeerIdSchema,
  /** The key that resumes this id later (hello.resume.key); kept by the peer, never shown. */
  resumeKey: v.exactOptional(ResumeKeySchema),
  room: RoomNameSchema,
  config: RoomConfigSchema,
  /**
   * This peer's shard slot: the lowest one no other live peer of the room holds, freed when
   * the peer leaves. It is the peer's data shard index (shards are drawn over
   * config.maxPeers slots), so two live peers of a room never share one.
   */
  slot: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_ROOM_PEERS - 1)),
  /** The other live peers (never the receiver itself). */
  peers: boundedArray(PeerInfoSchema, MAX_ROOM_PEERS),
  iceServers: boundedArray(IceServerSchema, MAX_ICE_SERVERS),
  /** How often the server expects 'sig/heartbeat' before it times the socket out. */
  heartbeatMs: v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600_000)),
});

/** Everything the signaling server may send to a client. */
export const SignalingServerMessageSchema = v.variant('type', [
  WelcomeSchema,
  v.strictObject({ type: v.literal('sig/peer-joined'), peer: PeerInfoSchema }),
  v.strictObject({
    type: v.literal('sig/peer-left'),
    peerId: PeerIdSchema,
    reason: v.picklist(PEER_LEFT_REASONS),
  }),
  v.strictObject({ type: v.literal('sig/signal'), from: PeerIdSchema, data: SignalDataSchema }),
  v.strictObject({
    type: v.literal('sig/error'),
    code: v.picklist(SIGNALING_ERROR_CODES),
    message: text(MAX_ERROR_MESSAGE_LENGTH),
    /** True when the server closes the socket after this message. */
    fatal: v.boolean(),
    /** "path: message" strings, for 'invalid-message' and 'config-invalid'. */
    issues: v.exactOptional(boundedArray(text(MAX_ISSUE_LENGTH), MAX_ISSUES)),
  }),
]);
export type SignalingServerMessage = v.InferOutput<typeof SignalingServerMessageSchema>;
/** One member of the server union, by its `type`: `SignalingServerMessageOf<'sig/welcome'>`. */
export type SignalingServerMessageOf<T extends SignalingServerMessage['type']> = Extract<
  SignalingServerMessage,
  { type: T }
>;
