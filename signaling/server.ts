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
import { handleHttp } from './http';
import { countReject, createMetrics, renderMetrics } from './metrics';
import { createTokenBucket, type TokenBucket } from './rate-limit';
import { verifyToken } from './tokens';

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
});

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
  readonly peers: Map<PeerId, Peer>;
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
  if (o.secret !== undefined && o.secret.length === 0) {
    throw new RangeError('secret must not be empty (leave it out for an open server)');
  }
  return o;
}

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
    if (room.peers.size === 0) rooms.delete(room.name);
    else broadcast(room, { type: 'sig/peer-left', peerId: info.id, reason });
    log(`signaling: ${room.name}: ${info.id} (${info.name}) left: ${reason}`);
  };

  const newPeerId = (): PeerId => {
    for (;;) {
      const id = asPeerId(randomBytes(8).toString('hex'));
      if (!livePeers.has(id)) return id;
    }
  };

  const join = (conn: Conn, hello: SignalingClientMessageOf<'sig/hello'>): void => {
    if (conn.peer) {
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
    let room = rooms.get(hello.room);
    if (!room) {
      if (rooms.size >= limits.maxRooms) {
        fail(conn, 'too-many-rooms', `this server holds at most ${limits.maxRooms} rooms`);
        return;
      }
      let config = DEFAULT_ROOM_CONFIG;
      if (hello.config !== undefined) {
        const parsed = parseRoomConfig(hello.config);
        if (!parsed.ok) {
          fail(conn, 'config-invalid', parsed.error.message, parsed.error.issues);
          return;
        }
        config = parsed.value;
      }
      // Registered below, together with its first peer: no await in between.
      room = { name: hello.room, config, createdAtMs: Date.now(), peers: new Map() };
    }
    // A joiner's config is ignored: the creator's is fixed for the room's life.
    const capacity = Math.min(limits.peersPerRoom, room.config.maxPeers);
    if (room.peers.size >= capacity) {
      fail(conn, 'room-full', `room '${room.name}' is full (${capacity} peers)`);
      return;
    }
    const wanted = hello.resume?.peerId;
    // Never hijack: a live id is not handed to a second socket.
    const id = wanted !== undefined && !livePeers.has(wanted) ? wanted : newPeerId();
    const info: PeerInfo = {
      id,
      name: hello.name,
      kind: hello.kind,
      ...(hello.site !== undefined ? { site: hello.site } : {}),
    };
    const others = [...room.peers.values()].map((p) => p.info);
    const slot = lowestFreeSlot(room);
    const peer: Peer = { info, room, conn, slot };
    rooms.set(room.name, room);
    room.peers.set(id, peer);
    livePeers.set(id, peer);
    conn.peer = peer;
    send(conn, {
      type: 'sig/welcome',
      protocol: PROTOCOL_VERSION,
      peerId: id,
      room: room.name,
      config: room.config,
      slot,
      peers: others,
      iceServers: o.iceServers,
      heartbeatMs: o.heartbeatMs,
    });
    broadcast(room, { type: 'sig/peer-joined', peer: info }, id);
    log(
      `signaling: ${room.name}: ${id} (${info.name}, ${info.kind}) joined from ${conn.address}, slot ${slot}`,
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
    ws.on('close', () => guarded(conn, 'close', () => onClose(conn)));
  });

  // ---- eviction and status TTL ----------------------------------------------------------

  const sweepMs = Math.max(20, Math.min(1000, Math.floor(o.evictAfterMs / 4)));
  const sweep = setInterval(() => {
    guarded(undefined, 'sweep', () => {
      const t = now();
      for (const conn of conns) {
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

  // ---- HTTP -----------------------------------------------------------------------------

  const describeRoom = (name: string): unknown => {
    const room = rooms.get(name);
    if (!room) return undefined;
    const t = now();
    return {
      room: room.name,
      config: room.config,
      createdAt: new Date(room.createdAtMs).toISOString(),
      peers: [...room.peers.values()].map((p) =>
        p.status && t - p.status.atMs <= o.statusTtlMs ? p.status.value : p.info,
      ),
    };
  };

  const listRooms = (): unknown[] =>
    [...rooms.values()].map((r) => ({
      room: r.name,
      peers: r.peers.size,
      strategy: r.config.strategy,
      createdAt: new Date(r.createdAtMs).toISOString(),
    }));

  const staticDir = o.staticDir ?? 'dist/app';
  const httpDeps = {
    staticDir,
    uptimeSec: () => Math.floor((now() - startedAt) / 1000),
    metricsText: () =>
      renderMetrics(metrics, { rooms: rooms.size, peers: livePeers.size, sockets: conns.size }),
    listRooms,
    describeRoom,
    log,
  };
  const onRequest: Parameters<typeof createHttpServer>[1] = (req, res) => {
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
    })();
    return closing;
  };

  return { url, wsUrl, port, close };
}
