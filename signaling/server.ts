/**
 * The signaling server (DESIGN.md 2, 7): rooms over a WebSocket at /ws, join tokens,
 * per-socket limits, status reports, and the HTTP side (http.ts) on the same port.
 * It only introduces peers and relays SDP/ICE between peers of one room; it never sees a
 * gradient. Example: `const s = await startSignalingServer({ port: 0 }); ...; await s.close();`
 */

import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import {
  asPeerId,
  DEFAULT_ROOM_CONFIG,
  encodeMessage,
  type IceServer,
  isSupportedProtocol,
  MAX_ERROR_MESSAGE_LENGTH,
  type PeerId,
  type PeerInfo,
  type PeerLeftReason,
  type PeerStatus,
  PROTOCOL_VERSION,
  parseRoomConfig,
  parseSignalingClientMessage,
  type RoomConfig,
  type RoomName,
  type SignalingClientMessageOf,
  type SignalingErrorCode,
  type SignalingServerMessage,
} from '../core';
import {
  createRedisFederation,
  type FederatedMember,
  type Federation,
  type FederationEnvelope,
  signalEnvelope,
} from './federation';
import { handleHttp } from './http';
import { countReject, createMetrics, renderMetrics } from './metrics';
import { createTokenBucket, type TokenBucket } from './rate-limit';
import { checkResumeKey, resumeKey, verifyToken } from './tokens';

export interface SignalingLimits {
  /** Largest text frame taken, in bytes; larger ones get 'too-large'. */
  maxMessageBytes: number;
  /** Token bucket per socket: sustained rate and burst. */
  messagesPerSecond: number;
  burst: number;
  /** Open WebSockets from one remote address. */
  socketsPerAddress: number;
  /** Server-wide cap on a room; the room config's maxPeers may lower it. */
  peersPerRoom: number;
  maxRooms: number;
  /** Refused messages (size, rate, schema) before the socket is closed. */
  violationsBeforeClose: number;
  /** Largest 'sig/status' report kept, in bytes of its JSON. */
  maxStatusBytes: number;
}

export interface SignalingOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** When set, joining needs a token from createToken(secret, room). */
  secret?: string;
  /**
   * Signs the keys that resume a peer id (tokens.ts, resumeKey). Defaults to `secret`, else a
   * random key of this start; federated servers need the same one to resume each other's ids.
   */
  resumeSecret?: string;
  /** PEM text, for https and wss (a secure context off localhost, which WebGPU needs). */
  tls?: { cert: string; key: string };
  /** Handed to every peer in 'sig/welcome' (STUN/TURN, e.g. coturn). */
  iceServers: IceServer[];
  /** The built dashboard (default dist/app). */
  staticDir?: string;
  /** How often peers should send 'sig/heartbeat' (told to them in the welcome). */
  heartbeatMs: number;
  /** A socket silent (no message of any kind) this long is evicted. */
  evictAfterMs: number;
  /** A posted status older than this is no longer served. */
  statusTtlMs: number;
  limits: SignalingLimits;
  log: (line: string) => void;
  /**
   * Called once per HTTP request with its method, URL and the bytes its body carried (an
   * access log: what a peer asked of the server, e.g. that nothing was uploaded).
   */
  accessLog?: (entry: AccessLogEntry) => void;
  /**
   * Federation through Redis (DESIGN.md 8): rooms span every server that uses the same Redis.
   * Undefined: one process with in-memory rooms, the embedded default.
   */
  redisUrl?: string;
  /** This server's name in the federation (shown per peer by the API); default host:port. */
  serverId?: string;
  /** Federated members expire this long after their server's last refresh. */
  memberTtlMs: number;
}

export interface AccessLogEntry {
  readonly method: string;
  readonly url: string;
  /** Bytes of the request body, counted as they arrived. */
  readonly bodyBytes: number;
}

/** What startSignalingServer takes: any option, and any subset of the limits. */
export type SignalingStartOptions = Partial<Omit<SignalingOptions, 'limits'>> & {
  limits?: Partial<SignalingLimits>;
};

export interface SignalingServer {
  /** http(s)://host:port */
  readonly url: string;
  /** ws(s)://host:port/ws */
  readonly wsUrl: string;
  readonly port: number;
  /** This server's name in the federation; undefined without Redis. */
  readonly serverId: string | undefined;
  /** Stops listening, closes every socket with 1001 (going away); safe to call twice. */
  close(): Promise<void>;
}

export const DEFAULT_LIMITS: Readonly<SignalingLimits> = Object.freeze({
  maxMessageBytes: 256 * 1024,
  messagesPerSecond: 50,
  burst: 100,
  socketsPerAddress: 64,
  peersPerRoom: 64,
  maxRooms: 1000,
  violationsBeforeClose: 5,
  maxStatusBytes: 16 * 1024,
});

export const DEFAULT_OPTIONS: Readonly<Omit<SignalingOptions, 'limits' | 'log'>> = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  iceServers: [],
  staticDir: 'dist/app',
  heartbeatMs: 5000,
  evictAfterMs: 15_000,
  statusTtlMs: 30_000,
  memberTtlMs: 15_000,
});

/** How long a federated server waits for Redis at start before it starts degraded. */
const FEDERATION_START_MS = 3000;
/** How long close() waits for peers to finish the close handshake before cutting them off. */
const CLOSE_DEADLINE_MS = 2000;
/** A client that stops reading is cut off once this much is queued for it. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Frames above maxMessageBytes are still read (to answer 'too-large') up to this multiple. */
const PAYLOAD_CEILING_FACTOR = 4;

// Close codes: 1001 going away (shutdown), 1008 policy violation, 1011 internal error,
// 4000 evicted for silence.
const CLOSE_POLICY = 1008;
const CLOSE_TIMEOUT = 4000;

interface Room {
  readonly name: RoomName;
  readonly config: RoomConfig;
  readonly createdAtMs: number;
  /** The peers on this server's sockets. */
  readonly peers: Map<PeerId, Peer>;
  /** The room's peers on other servers of the federation, as Redis last said. */
  readonly remote: Map<PeerId, FederatedMember>;
  /** Federated joins of this room still waiting on Redis: the room is kept while any is. */
  joining: number;
  /** Bumped by every change to `remote`: a resync drops a snapshot older than a change. */
  version: number;
}

interface Peer {
  readonly info: PeerInfo;
  readonly room: Room;
  /** Shard slot (the peer's data shard index), unique among the room's live peers. */
  readonly slot: number;
  readonly conn: Conn;
  status?: { value: PeerStatus; atMs: number } | undefined;
}

interface Conn {
  readonly ws: WebSocket;
  readonly address: string;
  readonly bucket: TokenBucket;
  lastSeenMs: number;
  violations: number;
  peer?: Peer | undefined;
  /** A hello is being admitted (federated joins wait on Redis): a second one is refused. */
  joining: boolean;
  /** Set once a fatal error was sent: later frames are ignored. */
  done: boolean;
}

const isPositiveInt = (n: number) => Number.isInteger(n) && n > 0;

/**
 * The lowest slot no live peer of `room` holds. A leaver's slot is reused first, so the
 * shards in use stay packed at the bottom of the room's config.maxPeers slots; with the
 * room below its capacity (<= maxPeers) the answer is always < maxPeers.
 */
const lowestFreeSlot = (room: Room): number => {
  const held = new Set<number>();
  for (const p of room.peers.values()) held.add(p.slot);
  let slot = 0;
  while (held.has(slot)) slot += 1;
  return slot;
};

function resolveOptions(opts: SignalingStartOptions): SignalingOptions {
  const limits: SignalingLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  for (const [key, value] of Object.entries(limits)) {
    if (!isPositiveInt(value)) throw new RangeError(`limits.${key} must be a positive integer`);
  }
  const o: SignalingOptions = {
    ...DEFAULT_OPTIONS,
    ...opts,
    limits,
    log: opts.log ?? ((line) => console.log(line)),
  };
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    throw new RangeError('port must be an integer in 0..65535');
  }
  // The welcome schema bounds heartbeatMs to 100..600000.
  if (!Number.isInteger(o.heartbeatMs) || o.heartbeatMs < 100 || o.heartbeatMs > 600_000) {
    throw new RangeError('heartbeatMs must be an integer in 100..600000');
  }
  if (!isPositiveInt(o.evictAfterMs)) throw new RangeError('evictAfterMs must be positive');
  if (!isPositiveInt(o.statusTtlMs)) throw new RangeError('statusTtlMs must be positive');
  if (!isPositiveInt(o.memberTtlMs) || o.memberTtlMs < 300) {
    throw new RangeError('memberTtlMs must be an integer >= 300');
  }
  if (o.serverId !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(o.serverId)) {
    throw new RangeError('serverId must be 1 to 128 letters, digits, and _ . : -');
  }
  if (o.secret !== undefined && o.secret.length === 0) {
    throw new RangeError('secret must not be empty (leave it out for an open server)');
  }
  if (o.resumeSecret !== undefined && o.resumeSecret.length === 0) {
    throw new RangeError('resumeSecret must not be empty (leave it out for a key of this start)');
  }
  return o;
}

/** Ids whose keys an open server without a resume secret remembers handing out (about 100 B each). */
const MAX_HANDED_OUT = 100_000;

/** Starts the server; resolves once it listens. Throws on bad options or a busy port. */
export async function startSignalingServer(
  opts: SignalingStartOptions = {},
): Promise<SignalingServer> {
  const o = resolveOptions(opts);
  const { limits, log } = o;
  const now = () => performance.now();
  const startedAt = now();
  const metrics = createMetrics();
  const rooms = new Map<string, Room>();
  const livePeers = new Map<PeerId, Peer>();
  const conns = new Set<Conn>();
  const socketsByAddress = new Map<string, number>();
  // Signs the resume keys (SignalingOptions.resumeSecret). Without one set, a key of this
  // start: then a resume without a key is still granted for an id this start never handed out
  // (a peer of the previous start coming back), and refused for one it did (`handedOut`).
  const configuredResumeSecret = o.resumeSecret ?? o.secret;
  const resumeSecret = configuredResumeSecret ?? randomBytes(32).toString('hex');
  const handedOut = new Set<string>();
  /** Set by close(): new WebSockets are refused from then on. */
  let closing: Promise<void> | undefined;

  // ---- sending --------------------------------------------------------------------------

  const send = (conn: Conn, msg: SignalingServerMessage): void => {
    const ws = conn.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      // A client that stops reading must not grow the server's memory without bound.
      log(`signaling: ${conn.address}: not reading, cut off`);
      ws.terminate();
      return;
    }
    ws.send(encodeMessage(msg));
  };

  const sendError = (
    conn: Conn,
    code: SignalingErrorCode,
    message: string,
    fatal: boolean,
    issues?: readonly string[],
  ): void => {
    countReject(metrics, code);
    const text =
      message.length > MAX_ERROR_MESSAGE_LENGTH
        ? `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…`
        : message;
    send(conn, {
      type: 'sig/error',
      code,
      message: text,
      fatal,
      ...(issues && issues.length > 0 ? { issues: [...issues] } : {}),
    });
  };

  /** Refuses the socket for good: error message, leave the room, close. */
  const fail = (
    conn: Conn,
    code: SignalingErrorCode,
    message: string,
    issues?: readonly string[],
  ): void => {
    if (conn.done) return;
    sendError(conn, code, message, true, issues);
    conn.done = true;
    if (conn.peer) removePeer(conn.peer, 'kicked');
    log(`signaling: ${conn.address}: closed: ${code}: ${message}`);
    conn.ws.close(code === 'internal' ? 1011 : CLOSE_POLICY, code);
  };

  /** A refused message: an error, counted; the socket closes after too many. */
  const violation = (
    conn: Conn,
    code: SignalingErrorCode,
    message: string,
    issues?: readonly string[],
  ): void => {
    conn.violations += 1;
    if (conn.violations >= limits.violationsBeforeClose) {
      fail(conn, code, `${message} (${conn.violations} violations: closing)`, issues);
    } else {
      sendError(conn, code, message, false, issues);
    }
  };

  const broadcast = (room: Room, msg: SignalingServerMessage, except?: PeerId): void => {
    for (const [id, peer] of room.peers) if (id !== except) send(peer.conn, msg);
  };

  // ---- rooms ----------------------------------------------------------------------------

  const removePeer = (peer: Peer, reason: PeerLeftReason): void => {
    const { room, info } = peer;
    if (room.peers.get(info.id) !== peer) return;
    room.peers.delete(info.id);
    livePeers.delete(info.id);
    peer.conn.peer = undefined;
    if (federation !== undefined) {
      const leaving = federation.leave(room.name, info.id, reason);
      inFlight.add(leaving);
      void leaving.finally(() => inFlight.delete(leaving));
    }
    if (room.peers.size === 0) dropRoom(room);
    else broadcast(room, { type: 'sig/peer-left', peerId: info.id, reason });
    log(`signaling: ${room.name}: ${info.id} (${info.name}) left: ${reason}`);
  };

  /** Forgets a room that has no peer on this server (the federation may still hold it). */
  const dropRoom = (room: Room): void => {
    if (rooms.get(room.name) !== room || room.peers.size > 0 || room.joining > 0) return;
    rooms.delete(room.name);
    federation?.unsubscribe(room.name);
  };

  const newPeerId = (): PeerId => {
    for (;;) {
      const id = asPeerId(randomBytes(8).toString('hex'));
      if (!livePeers.has(id)) return id;
    }
  };

  const join = (conn: Conn, hello: SignalingClientMessageOf<'sig/hello'>): void => {
    if (conn.peer || conn.joining) {
      violation(conn, 'invalid-message', 'already joined: one hello per socket');
      return;
    }
    if (!isSupportedProtocol(hello.protocol)) {
      fail(
        conn,
        'protocol-version',
        `protocol ${hello.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      );
      return;
    }
    if (o.secret !== undefined) {
      if (hello.token === undefined) {
        fail(conn, 'token-required', `room '${hello.room}' needs a join token`);
        return;
      }
      const checked = verifyToken(o.secret, hello.room, hello.token, Date.now());
      if (!checked.ok) {
        log(`signaling: ${conn.address}: token refused: ${checked.error.problem}`);
        fail(conn, 'bad-token', `token refused for room '${hello.room}': ${checked.error.message}`);
        return;
      }
    }
    let proposed = DEFAULT_ROOM_CONFIG;
    if (!rooms.has(hello.room)) {
      if (rooms.size >= limits.maxRooms) {
        fail(conn, 'too-many-rooms', `this server holds at most ${limits.maxRooms} rooms`);
        return;
      }
      if (hello.config !== undefined) {
        const parsed = parseRoomConfig(hello.config);
        if (!parsed.ok) {
          fail(conn, 'config-invalid', parsed.error.message, parsed.error.issues);
          return;
        }
        proposed = parsed.value;
      }
    }
    if (federation === undefined) {
      admitLocally(conn, hello, proposed);
      return;
    }
    conn.joining = true;
    admitFederated(conn, hello, proposed)
      .catch((e: unknown) => {
        countReject(metrics, 'internal');
        log(`signaling: federated join failed: ${e instanceof Error ? e.stack : String(e)}`);
        fail(conn, 'internal', 'internal error while joining');
      })
      .finally(() => {
        conn.joining = false;
      });
  };

  /** The room of this server named `name`, made with `config` when there is none yet. */
  const roomFor = (name: RoomName, config: RoomConfig): Room =>
    rooms.get(name) ?? {
      name,
      config,
      createdAtMs: Date.now(),
      peers: new Map(),
      remote: new Map(),
      joining: 0,
      version: 0,
    };

  /** The peer id to hand out: the one asked for unless it is live here, else a fresh one. */
  /**
   * The id a hello asks to resume when it carries that id's key and no live socket holds it;
   * else a new one (a resume without the key is counted: someone tried an id they do not own).
   */
  const pickId = (hello: SignalingClientMessageOf<'sig/hello'>): PeerId => {
    const wanted = hello.resume?.peerId;
    if (wanted === undefined) return newPeerId();
    const keyed = checkResumeKey(resumeSecret, hello.room, wanted, hello.resume?.key);
    const unknownHere =
      configuredResumeSecret === undefined && !handedOut.has(`${hello.room}\n${wanted}`);
    if (!keyed && !unknownHere) {
      metrics.resumesRefused += 1;
      log(`signaling: ${hello.room}: resume of ${wanted} without its key: a new id`);
      return newPeerId();
    }
    return livePeers.has(asPeerId(wanted)) ? newPeerId() : asPeerId(wanted);
  };

  /** The key of `id` in `room`; remembered as handed out (the oldest forgotten past a bound). */
  const handOut = (room: string, id: PeerId): string => {
    if (configuredResumeSecret === undefined) {
      const entry = `${room}\n${id}`;
      handedOut.delete(entry);
      handedOut.add(entry);
      if (handedOut.size > MAX_HANDED_OUT) handedOut.delete(handedOut.values().next().value!);
    }
    return resumeKey(resumeSecret, room, id);
  };

  const infoOf = (id: PeerId, hello: SignalingClientMessageOf<'sig/hello'>): PeerInfo => ({
    id,
    name: hello.name,
    kind: hello.kind,
    ...(hello.site !== undefined ? { site: hello.site } : {}),
  });

  /** One process, rooms in memory: everything is decided here, with no await in between. */
  const admitLocally = (
    conn: Conn,
    hello: SignalingClientMessageOf<'sig/hello'>,
    proposed: RoomConfig,
  ): void => {
    // A joiner's config is ignored: the creator's is fixed for the room's life.
    const room = rooms.get(hello.room) ?? roomFor(hello.room, proposed);
    const capacity = Math.min(limits.peersPerRoom, room.config.maxPeers);
    if (room.peers.size + room.remote.size >= capacity) {
      fail(conn, 'room-full', `room '${room.name}' is full (${capacity} peers)`);
      return;
    }
    // Never hijack: a live id is not handed to a second socket.
    const info = infoOf(pickId(hello), hello);
    seat(conn, room, info, lowestFreeSlot(room));
  };

  /**
   * A federated join: the room's config from Redis (created there once), the slot and the
   * capacity decided by one atomic script, the other servers' peers listed in the welcome.
   * While Redis is down the server admits the peer on its own, as a lone server would.
   */
  const admitFederated = async (
    conn: Conn,
    hello: SignalingClientMessageOf<'sig/hello'>,
    proposed: RoomConfig,
  ): Promise<void> => {
    const fed = federation!;
    const local = rooms.get(hello.room);
    const config = local?.config ?? (await fed.roomConfig(hello.room, proposed)) ?? proposed;
    if (!stillThere(conn)) return;
    if (!rooms.has(hello.room) && rooms.size >= limits.maxRooms) {
      fail(conn, 'too-many-rooms', `this server holds at most ${limits.maxRooms} rooms`);
      return;
    }
    const capacity = Math.min(limits.peersPerRoom, config.maxPeers);
    // Listen to the room before registering in it: a peer that joins on another server
    // right after us sends its offer through the channel, and it must find us listening.
    const room = roomFor(hello.room, config);
    rooms.set(room.name, room);
    room.joining += 1;
    try {
      await admitInto(conn, hello, room, capacity);
    } finally {
      room.joining -= 1;
      dropRoom(room);
    }
  };

  /** A socket that can still be welcomed: not refused, not closed while we waited. */
  const stillThere = (conn: Conn): boolean =>
    !conn.done && conns.has(conn) && conn.ws.readyState === conn.ws.OPEN;

  const admitInto = async (
    conn: Conn,
    hello: SignalingClientMessageOf<'sig/hello'>,
    room: Room,
    capacity: number,
  ): Promise<void> => {
    const fed = federation!;
    if (fed.up()) await fed.subscribe(room.name);
    let id = pickId(hello);
    let outcome = await fed.join(room.name, infoOf(id, hello), capacity, room.config.maxPeers);
    if (outcome?.kind === 'taken') {
      id = newPeerId();
      outcome = await fed.join(room.name, infoOf(id, hello), capacity, room.config.maxPeers);
    }
    if (outcome === undefined) {
      // Redis is down: serve this server's own peers, as one process would.
      if (stillThere(conn)) admitLocally(conn, hello, room.config);
      return;
    }
    if (outcome.kind !== 'joined') {
      fail(conn, 'room-full', `room '${room.name}' is full (${capacity} peers)`);
      return;
    }
    if (!stillThere(conn)) {
      void fed.leave(room.name, id, 'left');
      return;
    }
    const members = await fed.members(room.name);
    for (const m of members ?? []) {
      if (m.info.id !== id && m.server !== fed.serverId && !room.peers.has(m.info.id)) {
        addRemote(room, m);
      }
    }
    if (!stillThere(conn)) {
      void fed.leave(room.name, id, 'left');
      return;
    }
    const info = infoOf(id, hello);
    seat(conn, room, info, outcome.slot);
    void fed.publish(room.name, {
      v: 1,
      kind: 'joined',
      server: fed.serverId,
      peer: info,
      slot: outcome.slot,
    });
  };

  /** Registers the peer in its room and welcomes it; tells the room's other local peers. */
  const seat = (conn: Conn, room: Room, info: PeerInfo, slot: number): void => {
    const others = [
      ...[...room.peers.values()].map((p) => p.info),
      ...[...room.remote.values()].map((m) => m.info),
    ];
    const peer: Peer = { info, room, conn, slot };
    rooms.set(room.name, room);
    room.peers.set(info.id, peer);
    livePeers.set(info.id, peer);
    conn.peer = peer;
    send(conn, {
      type: 'sig/welcome',
      protocol: PROTOCOL_VERSION,
      peerId: info.id,
      resumeKey: handOut(room.name, info.id),
      room: room.name,
      config: room.config,
      slot,
      peers: others,
      iceServers: o.iceServers,
      heartbeatMs: o.heartbeatMs,
    });
    broadcast(room, { type: 'sig/peer-joined', peer: info }, info.id);
    log(
      `signaling: ${room.name}: ${info.id} (${info.name}, ${info.kind}) joined from ${conn.address}, slot ${slot}`,
    );
  };

  // ---- messages -------------------------------------------------------------------------

  const onMessage = (conn: Conn, data: RawData, isBinary: boolean): void => {
    if (conn.done) return;
    const t = now();
    conn.lastSeenMs = t;
    if (!conn.bucket.take(t)) {
      violation(
        conn,
        'rate-limited',
        `more than ${limits.messagesPerSecond} messages per second (burst ${limits.burst})`,
      );
      return;
    }
    if (isBinary) {
      violation(conn, 'invalid-message', 'binary frames are not accepted: send JSON text');
      return;
    }
    // The default binaryType hands over one Buffer; the other shapes are handled all the same.
    const buf = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    if (buf.length > limits.maxMessageBytes) {
      violation(
        conn,
        'too-large',
        `message of ${buf.length} bytes exceeds ${limits.maxMessageBytes}`,
      );
      return;
    }
    const text = buf.toString('utf8');
    const parsed = parseSignalingClientMessage(text, limits.maxMessageBytes);
    if (!parsed.ok) {
      const e = parsed.error;
      violation(
        conn,
        e.code === 'too-large' ? 'too-large' : 'invalid-message',
        e.message,
        e.issues,
      );
      return;
    }
    const msg = parsed.value;
    if (msg.type === 'sig/hello') {
      join(conn, msg);
      return;
    }
    const peer = conn.peer;
    if (!peer) {
      fail(
        conn,
        'not-joined',
        `'${msg.type}' before 'sig/hello': the first message must be a hello`,
      );
      return;
    }
    switch (msg.type) {
      case 'sig/heartbeat':
        return;
      case 'sig/signal': {
        const target = peer.room.peers.get(msg.to);
        const remote = target === undefined ? peer.room.remote.get(msg.to) : undefined;
        if (remote !== undefined && federation !== undefined) {
          metrics.relayed += 1;
          fedStats.sent += 1;
          void federation.publishSignal(
            remote.server,
            signalEnvelope(
              federation.serverId,
              peer.room.name,
              peer.info.id,
              remote.info.id,
              msg.data,
            ),
          );
          return;
        }
        if (!target || target === peer) {
          // Not a violation: the target may have left a moment ago. Counted all the same.
          sendError(conn, 'unknown-peer', `no peer '${msg.to}' in room '${peer.room.name}'`, false);
          return;
        }
        metrics.relayed += 1;
        send(target.conn, { type: 'sig/signal', from: peer.info.id, data: msg.data });
        return;
      }
      case 'sig/status': {
        const size = Buffer.byteLength(JSON.stringify(msg.status));
        if (size > limits.maxStatusBytes) {
          violation(conn, 'too-large', `status of ${size} bytes exceeds ${limits.maxStatusBytes}`);
          return;
        }
        if (msg.status.id !== peer.info.id) {
          violation(conn, 'invalid-message', `status id '${msg.status.id}' is not yours`);
          return;
        }
        peer.status = { value: msg.status, atMs: t };
        if (federation !== undefined) {
          void federation.status(peer.room.name, {
            server: federation.serverId,
            info: peer.info,
            slot: peer.slot,
            status: msg.status,
          });
        }
        return;
      }
      case 'sig/leave':
        conn.done = true;
        removePeer(peer, 'left');
        conn.ws.close(1000, 'left');
        return;
    }
  };

  /** Drops a socket from the tables; true the first time. */
  const forget = (conn: Conn): boolean => {
    if (!conns.delete(conn)) return false;
    const n = (socketsByAddress.get(conn.address) ?? 1) - 1;
    if (n <= 0) socketsByAddress.delete(conn.address);
    else socketsByAddress.set(conn.address, n);
    return true;
  };

  const onClose = (conn: Conn): void => {
    if (forget(conn) && conn.peer) removePeer(conn.peer, 'left');
  };

  /** Runs a handler; whatever it throws is logged and counted, never thrown out of a socket. */
  const guarded = (conn: Conn | undefined, what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      countReject(metrics, 'internal');
      log(`signaling: internal error in ${what}: ${e instanceof Error ? e.stack : String(e)}`);
      try {
        if (conn && !conn.done) {
          send(conn, {
            type: 'sig/error',
            code: 'internal',
            message: 'internal error',
            fatal: false,
          });
        }
      } catch {
        // The report of an error must not throw either.
      }
    }
  };

  // ---- sockets --------------------------------------------------------------------------

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes * PAYLOAD_CEILING_FACTOR,
    // Compression would let a small frame inflate to maxPayload: not worth it for signaling.
    perMessageDeflate: false,
  });

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const address = req.socket.remoteAddress ?? 'unknown';
    metrics.connections += 1;
    const conn: Conn = {
      ws,
      address,
      bucket: createTokenBucket(limits.messagesPerSecond, limits.burst, now()),
      lastSeenMs: now(),
      violations: 0,
      joining: false,
      done: false,
    };
    ws.on('error', (e: Error & { code?: string }) => {
      // ws closes the socket itself after an error (e.g. 1009 for a frame above maxPayload).
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') countReject(metrics, 'too-large');
      else if (e.code?.startsWith('WS_ERR_')) countReject(metrics, 'invalid-message');
    });
    const count = socketsByAddress.get(address) ?? 0;
    if (count >= limits.socketsPerAddress) {
      guarded(conn, 'connection', () =>
        fail(conn, 'too-many-sockets', `at most ${limits.socketsPerAddress} sockets per address`),
      );
      return;
    }
    socketsByAddress.set(address, count + 1);
    conns.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) =>
      guarded(conn, 'message', () => onMessage(conn, data, isBinary)),
    );
    // A pong is the browser's network stack answering our ping, not the page's script: a tab
    // whose main thread is busy (or throttled in the background) still answers, so its socket
    // counts as alive and the peer stays in the room while its heartbeats are late.
    ws.on('pong', () => {
      conn.lastSeenMs = now();
    });
    ws.on('close', () => guarded(conn, 'close', () => onClose(conn)));
  });

  // ---- eviction and status TTL ----------------------------------------------------------

  const sweepMs = Math.max(20, Math.min(1000, Math.floor(o.evictAfterMs / 4)));
  /** Protocol-level pings, a quarter of the eviction time apart (see the 'pong' handler). */
  const pingEveryMs = Math.max(sweepMs, Math.floor(o.evictAfterMs / 4));
  let lastPingMs = now();
  const sweep = setInterval(() => {
    guarded(undefined, 'sweep', () => {
      const t = now();
      const pingNow = t - lastPingMs >= pingEveryMs;
      if (pingNow) lastPingMs = t;
      for (const conn of conns) {
        if (pingNow && !conn.done && conn.ws.readyState === conn.ws.OPEN) conn.ws.ping();
        if (t - conn.lastSeenMs > o.evictAfterMs) {
          if (conn.peer) {
            metrics.evictions += 1;
            removePeer(conn.peer, 'timeout');
          }
          conn.done = true;
          forget(conn);
          // A silent peer is likely gone: no close handshake to wait for.
          conn.ws.close(CLOSE_TIMEOUT, 'heartbeat timeout');
          setTimeout(() => conn.ws.terminate(), CLOSE_DEADLINE_MS).unref();
        } else if (conn.peer?.status && t - conn.peer.status.atMs > o.statusTtlMs) {
          conn.peer.status = undefined;
        }
      }
    });
  }, sweepMs);
  sweep.unref();

  // ---- federation -----------------------------------------------------------------------

  const fedStats = { sent: 0, received: 0, rejected: 0 };
  const rejectFederated = (what: string) => {
    fedStats.rejected += 1;
    log(`signaling: refused from the federation: ${what}`);
  };

  /** Adds a peer of another server to the room's view and tells the local peers. */
  const addRemote = (room: Room, m: FederatedMember): void => {
    const known = room.remote.has(m.info.id);
    room.remote.set(m.info.id, m);
    if (!known) {
      room.version += 1;
      broadcast(room, { type: 'sig/peer-joined', peer: m.info });
    }
  };

  const dropRemote = (room: Room, id: PeerId, reason: PeerLeftReason): void => {
    if (!room.remote.delete(id)) return;
    room.version += 1;
    broadcast(room, { type: 'sig/peer-left', peerId: id, reason });
  };

  /** Checks a relayed signal against the room as Redis has it: sender and target must be real. */
  const deliverSignal = async (
    room: Room,
    env: Extract<FederationEnvelope, { kind: 'signal' }>,
  ): Promise<void> => {
    const target = room.peers.get(env.to);
    if (target === undefined) {
      // Gone a moment ago, or never ours: counted, as a socket's signal to nobody is.
      rejectFederated(`signal for ${env.to}, who is not a peer of this server in ${room.name}`);
      return;
    }
    let from = room.remote.get(env.from);
    if (from === undefined) {
      // Its join may not have reached us yet: ask Redis rather than drop an offer.
      const member = (await federation?.members(room.name))?.find((m) => m.info.id === env.from);
      if (member !== undefined && member.server === env.server && !room.peers.has(env.from)) {
        addRemote(room, member);
        from = member;
      }
    }
    if (from === undefined || from.server !== env.server) {
      rejectFederated(
        `signal from ${env.from}, who is not a peer of ${env.server} in ${room.name}`,
      );
      return;
    }
    fedStats.received += 1;
    metrics.relayed += 1;
    send(target.conn, { type: 'sig/signal', from: env.from, data: env.data });
  };

  const onEnvelope = (roomName: string, env: FederationEnvelope): void => {
    const room = rooms.get(roomName);
    if (room === undefined) return;
    switch (env.kind) {
      case 'joined':
        if (room.peers.has(env.peer.id) || livePeers.has(env.peer.id)) {
          rejectFederated(`${env.server} announced ${env.peer.id}, a peer of this server`);
          return;
        }
        addRemote(room, { server: env.server, info: env.peer, slot: env.slot });
        return;
      case 'left':
        if (room.remote.get(env.peerId)?.server === env.server) {
          dropRemote(room, env.peerId, env.reason);
        }
        return;
      case 'signal':
        deliverSignal(room, env).catch((e: unknown) =>
          log(`signaling: federated signal: ${e instanceof Error ? e.message : String(e)}`),
        );
        return;
    }
  };

  /**
   * Every third of the member TTL: keep this server's peers alive in Redis, and bring each
   * room's view of the other servers' peers up to date (a dead server's peers expire here).
   */
  const resync = async (): Promise<void> => {
    const fed = federation;
    if (fed === undefined || !fed.up()) return;
    const mine = new Map([...rooms].map(([name, r]) => [name, [...r.peers.keys()]]));
    // Keys that vanished while Redis stayed up (evicted, refreshes that timed out): back in.
    for (const { room: name, id } of await fed.refresh(mine)) {
      const room = rooms.get(name);
      const p = room?.peers.get(id);
      if (room !== undefined && p !== undefined) await registerAgain(room, p);
    }
    for (const room of [...rooms.values()]) {
      const version = room.version;
      const members = await fed.members(room.name);
      if (members === undefined) return;
      // A join or leave heard while we read is newer than this snapshot: next round.
      if (room.version !== version) continue;
      const seen = new Set<PeerId>();
      for (const m of members) {
        if (m.server === fed.serverId || room.peers.has(m.info.id)) continue;
        seen.add(m.info.id);
        addRemote(room, m);
      }
      for (const id of [...room.remote.keys()]) if (!seen.has(id)) dropRemote(room, id, 'timeout');
    }
  };

  /** Puts a local peer back in Redis; says so when another server holds its id now. */
  const registerAgain = async (room: Room, p: Peer): Promise<boolean> => {
    const fed = federation!;
    const member = {
      server: fed.serverId,
      info: p.info,
      slot: p.slot,
      ...(p.status === undefined ? {} : { status: p.status.value }),
    };
    const ok = await fed.reregister(room.name, member, room.config);
    if (!ok && fed.up()) {
      fedStats.rejected += 1;
      log(
        `signaling: ${room.name}: ${p.info.id} is registered by another server now: this server's peer stays unknown to the federation until it rejoins`,
      );
    }
    return ok;
  };

  /** Redis is back (perhaps empty, after a restart): register our peers again and resync. */
  const rejoinFederation = async (): Promise<void> => {
    const fed = federation;
    if (fed === undefined) return;
    for (const room of [...rooms.values()]) {
      await fed.subscribe(room.name);
      for (const p of [...room.peers.values()]) {
        if (!(await registerAgain(room, p))) continue;
        await fed.publish(room.name, {
          v: 1,
          kind: 'joined',
          server: fed.serverId,
          peer: p.info,
          slot: p.slot,
        });
      }
    }
    await resync();
  };

  let federation: Federation | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  /** Leaves still being written to Redis: close() waits for them. */
  const inFlight = new Set<Promise<void>>();
  const startFederation = (serverId: string) => {
    if (o.redisUrl === undefined) return;
    federation = createRedisFederation({
      url: o.redisUrl,
      serverId,
      memberTtlMs: o.memberTtlMs,
      log,
      events: {
        onEnvelope: (room, env) => guarded(undefined, 'federation', () => onEnvelope(room, env)),
        onReady: () => {
          rejoinFederation().catch((e: unknown) =>
            log(
              `signaling: rejoining the federation: ${e instanceof Error ? e.message : String(e)}`,
            ),
          );
        },
        onRejected: rejectFederated,
      },
    });
    resyncTimer = setInterval(
      () => {
        resync().catch((e: unknown) =>
          log(`signaling: federation resync: ${e instanceof Error ? e.message : String(e)}`),
        );
      },
      Math.max(100, Math.floor(o.memberTtlMs / 3)),
    );
    resyncTimer.unref();
  };

  // ---- HTTP -----------------------------------------------------------------------------

  /** A local peer as the API shows it: its last status while fresh, else who it is. */
  const shown = (p: Peer, t: number): PeerInfo | PeerStatus =>
    p.status && t - p.status.atMs <= o.statusTtlMs ? p.status.value : p.info;

  const describeRoom = async (name: string): Promise<unknown> => {
    const room = rooms.get(name);
    const t = now();
    const fed = federation;
    if (fed === undefined) {
      if (!room) return undefined;
      return {
        room: room.name,
        config: room.config,
        createdAt: new Date(room.createdAtMs).toISOString(),
        peers: [...room.peers.values()].map((p) => shown(p, t)),
      };
    }
    // Federated: the whole room, whichever server each peer is attached to.
    const members = await fed.members(name);
    const local = [...(room?.peers.values() ?? [])].map((p) => ({
      ...shown(p, t),
      server: fed.serverId,
    }));
    const remote = (members ?? [])
      .filter((m) => m.server !== fed.serverId && !room?.peers.has(m.info.id))
      .map((m) => ({ ...(m.status ?? m.info), server: m.server }));
    if (local.length + remote.length === 0) return undefined;
    const config = room?.config ?? (await fed.readConfig(name));
    if (config === undefined) return undefined;
    return {
      room: name,
      config,
      ...(room === undefined ? {} : { createdAt: new Date(room.createdAtMs).toISOString() }),
      ...(members === undefined
        ? { federation: 'degraded: Redis unreachable, this server only' }
        : {}),
      peers: [...local, ...remote],
    };
  };

  const listRooms = async (): Promise<unknown[]> => {
    const local = [...rooms.values()].map((r) => ({
      room: r.name as string,
      peers: r.peers.size,
      strategy: r.config.strategy,
      createdAt: new Date(r.createdAtMs).toISOString(),
    }));
    const federated = await federation?.rooms();
    if (federated === undefined) return local;
    const byName = new Map(local.map((r) => [r.room, r]));
    const out: unknown[] = federated.map((f) => ({
      room: f.room,
      peers: f.peers,
      strategy: f.config.strategy,
      ...(byName.has(f.room) ? { createdAt: byName.get(f.room)?.createdAt } : {}),
    }));
    const seen = new Set(federated.map((f) => f.room));
    for (const r of local) if (!seen.has(r.room)) out.push(r);
    return out;
  };

  const staticDir = o.staticDir ?? 'dist/app';
  const httpDeps = {
    staticDir,
    uptimeSec: () => Math.floor((now() - startedAt) / 1000),
    metricsText: () =>
      renderMetrics(
        metrics,
        { rooms: rooms.size, peers: livePeers.size, sockets: conns.size },
        federation === undefined
          ? undefined
          : {
              up: federation.up(),
              sent: fedStats.sent,
              received: fedStats.received,
              rejected: fedStats.rejected,
              remotePeers: [...rooms.values()].reduce((n, r) => n + r.remote.size, 0),
            },
      ),
    health: (): { status: 'ok' | 'degraded'; redis: string; serverId?: string } =>
      federation === undefined
        ? { status: 'ok', redis: 'off' }
        : federation.up()
          ? { status: 'ok', redis: 'up', serverId: federation.serverId }
          : { status: 'degraded', redis: 'down', serverId: federation.serverId },
    listRooms,
    describeRoom,
    log,
  };
  const onRequest: Parameters<typeof createHttpServer>[1] = (req, res) => {
    const access = o.accessLog;
    if (access !== undefined) {
      let bodyBytes = 0;
      req.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
      });
      res.on('finish', () => access({ method: req.method ?? '?', url: req.url ?? '', bodyBytes }));
    }
    void handleHttp(req, res, httpDeps);
  };
  const server: Server = o.tls
    ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, onRequest)
    : createHttpServer(onRequest);

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      path = '';
    }
    if (path !== '/ws' || closing) {
      socket.end(
        `HTTP/1.1 ${closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.on('clientError', (_e, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((done, failed) => {
    server.once('error', failed);
    server.listen(o.port, o.host, () => {
      server.off('error', failed);
      done();
    });
  });
  server.on('error', (e) => log(`signaling: server error: ${e.message}`));
  const port = (server.address() as AddressInfo).port;
  startFederation(o.serverId ?? `${hostname()}:${port}`);
  if (federation !== undefined && !(await federation.whenReady(FEDERATION_START_MS))) {
    log(
      `signaling: Redis at ${o.redisUrl} does not answer yet: serving this server's peers alone (degraded) until it does`,
    );
  }
  const shownHost =
    o.host === '0.0.0.0' || o.host === '::' || o.host === ''
      ? 'localhost'
      : o.host.includes(':')
        ? `[${o.host}]`
        : o.host;
  const url = `${o.tls ? 'https' : 'http'}://${shownHost}:${port}`;
  const wsUrl = `${o.tls ? 'wss' : 'ws'}://${shownHost}:${port}/ws`;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweep);
      clearInterval(resyncTimer);
      const serverClosed = new Promise<void>((done) => server.close(() => done()));
      const sockets = [...wss.clients];
      const allClosed = Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((done) => {
              if (ws.readyState === ws.CLOSED) done();
              else ws.once('close', () => done());
            }),
        ),
      );
      for (const ws of sockets) ws.close(1001, 'server shutting down');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        allClosed,
        new Promise<void>((done) => {
          timer = setTimeout(done, CLOSE_DEADLINE_MS);
        }),
      ]);
      clearTimeout(timer);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((done) => wss.close(() => done()));
      server.closeAllConnections();
      await serverClosed;
      // Our peers leave the federation's view now rather than when their TTL runs out.
      await Promise.allSettled([...inFlight]);
      await federation?.close();
    })();
    return closing;
  };

  return { url, wsUrl, port, serverId: federation?.serverId, close };
}
