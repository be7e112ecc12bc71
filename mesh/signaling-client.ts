/**
 * The peer's signaling client: one WebSocket to the server's /ws that joins the room with a
 * hello, keeps the socket alive with heartbeats, validates everything the server sends and,
 * when the socket drops, reconnects on its own with the same peer id (exponential backoff,
 * full jitter) unless the server refused the peer for a reason a retry cannot cure.
 * The WebSocket constructor and the clock are injected: the browser passes
 * globalThis.WebSocket, Node the `ws` package's WebSocket; mesh/ touches neither.
 *
 * Example:
 * `createSignalingClient({ url, WebSocket, hello: () => ({ type: 'sig/hello', ... }), clock, random })`
 */

import {
  MAX_SIGNALING_BYTES,
  type PeerId,
  ProtocolError,
  parseSignalingServerMessage,
  type SignalingClientMessage,
  type SignalingClientMessageOf,
  type SignalingErrorCode,
  type SignalingServerMessage,
} from '../core';
import {
  type MeshClock,
  type MeshLogger,
  type SignalingConnection,
  type SignalingEvent,
  silentLogger,
} from './types';

// ---- the WebSocket we need ----------------------------------------------------------------

/**
 * A handler slot's function type, checked bivariantly in its parameter. The client *writes*
 * its handlers into the socket's slots, where the platform's own event types (ws's
 * MessageEvent, the DOM's) are richer than the few fields read here. TypeScript compares a
 * property's type covariantly, which for a function-typed slot would demand the reverse;
 * a type taken from a method signature is compared both ways, which is the sound direction
 * for a slot the client only assigns to.
 */
type Handler<E> = { handle(event: E): void }['handle'];

/** The fields of a close event this client reads (browser CloseEvent, ws CloseEvent). */
export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
}

/** The part of the browser WebSocket shape this client uses; `ws`'s WebSocket has it too. */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  /** `data` is a string for a text frame; anything else (a binary frame) is refused. */
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<WebSocketCloseEventLike> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** WebSocket.OPEN, a constant of the standard (not read from a global that mesh/ lacks). */
const OPEN = 1;
/** Normal closure. */
const CLOSE_NORMAL = 1000;

// ---- options ------------------------------------------------------------------------------

/** Reconnect delays: the n-th retry in a row waits uniform(0, min(maxMs, initialMs * factor^n)). */
export interface BackoffOptions {
  readonly initialMs?: number | undefined;
  readonly maxMs?: number | undefined;
  readonly factor?: number | undefined;
}

export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 500, maxMs: 15_000, factor: 2 });

export interface SignalingClientOptions {
  /** ws:// or wss:// URL of the server's /ws. */
  readonly url: string;
  readonly WebSocket: WebSocketConstructor;
  /** Built afresh for each connection attempt (a token may have been renewed meanwhile). */
  readonly hello: () => SignalingClientMessageOf<'sig/hello'>;
  readonly clock: MeshClock;
  /** Uniform in [0, 1): the jitter of reconnect delays. */
  readonly random: () => number;
  readonly log?: MeshLogger | undefined;
  readonly backoff?: BackoffOptions | undefined;
  /**
   * Reconnect attempts in a row without a welcome before the client gives up; a welcome
   * resets the count. Undefined: retry for ever (a kiosk waits out any outage).
   */
  readonly maxAttempts?: number | undefined;
  /** Largest server frame taken, in UTF-8 bytes (default MAX_SIGNALING_BYTES). */
  readonly maxMessageBytes?: number | undefined;
}

/** What the client has counted since it was created. */
export interface SignalingCounters {
  /** Server frames that failed validation (dropped). */
  readonly invalid: number;
  /** Connection attempts after the first one. */
  readonly reconnects: number;
  /** Messages handed to the socket (hello, heartbeats and leave included). */
  readonly sent: number;
  /** Valid server messages. */
  readonly received: number;
}

/** A signaling connection that also shows its counters (for the dashboard and tests). */
export interface SignalingClient extends SignalingConnection {
  counters(): SignalingCounters;
}

/**
 * Codes after which the server will refuse the same hello again: retrying cannot help, so the
 * client stops and the peer reports the failure to its user.
 */
export const NON_RETRYABLE_CODES: ReadonlySet<SignalingErrorCode> = new Set<SignalingErrorCode>([
  'bad-token',
  'token-required',
  'room-full',
  'config-invalid',
  'protocol-version',
  'too-many-rooms',
]);

const checkOptions = (o: SignalingClientOptions) => {
  if (!/^wss?:\/\//i.test(o.url)) throw new RangeError(`url must be ws:// or wss://: ${o.url}`);
  const backoff = {
    initialMs: o.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
    maxMs: o.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
    factor: o.backoff?.factor ?? DEFAULT_BACKOFF.factor,
  };
  if (!(backoff.initialMs > 0 && Number.isFinite(backoff.initialMs))) {
    throw new RangeError('backoff.initialMs must be a positive number');
  }
  if (!(backoff.maxMs >= backoff.initialMs && Number.isFinite(backoff.maxMs))) {
    throw new RangeError('backoff.maxMs must be finite and at least backoff.initialMs');
  }
  if (!(backoff.factor >= 1 && Number.isFinite(backoff.factor))) {
    throw new RangeError('backoff.factor must be a finite number >= 1');
  }
  if (o.maxAttempts !== undefined && !(Number.isInteger(o.maxAttempts) && o.maxAttempts >= 0)) {
    throw new RangeError('maxAttempts must be a non-negative integer');
  }
  const maxBytes = o.maxMessageBytes ?? MAX_SIGNALING_BYTES;
  if (!(Number.isInteger(maxBytes) && maxBytes > 0)) {
    throw new RangeError('maxMessageBytes must be a positive integer');
  }
  return { backoff, maxBytes };
};

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---- the client ---------------------------------------------------------------------------

/**
 * Opens the first connection at once. Events start with 'open' (after the hello is sent),
 * then 'message' per valid server message; every drop ends with one 'closed', which carries
 * `retryInMs` while the client will reconnect. Throws RangeError on bad options only.
 */
export function createSignalingClient(options: SignalingClientOptions): SignalingClient {
  const { backoff, maxBytes } = checkOptions(options);
  const { clock, random } = options;
  const log = options.log ?? silentLogger;
  const listeners = new Set<(event: SignalingEvent) => void>();
  const counts = { invalid: 0, reconnects: 0, sent: 0, received: 0 };

  /** The socket of the current attempt; events of an older one are ignored. */
  let socket: WebSocketLike | undefined;
  /** True between this socket's open and close events. */
  let open = false;
  /** Set by close() or a refusal: no event after the last 'closed', no reconnect. */
  let stopped = false;
  /** The id the server granted last: asked for again on reconnect. */
  let peerId: PeerId | undefined;
  /** The key of `peerId` from the same welcome: a reconnect resumes with both. */
  let resumeKey: string | undefined;
  /** The fatal error the server sent on the current socket, if any. */
  let fatal: { code: SignalingErrorCode; message: string } | undefined;
  /** Reconnect attempts since the last welcome: the exponent of the backoff. */
  let failures = 0;
  let attempts = 0;
  let cancelHeartbeat: (() => void) | undefined;
  let cancelRetry: (() => void) | undefined;

  const emit = (event: SignalingEvent): void => {
    // A copy: a listener may unsubscribe (itself or another) while this runs.
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (e) {
        // One faulty subscriber must not take the connection (or the other subscribers) down.
        log('error', 'signaling: a listener threw', { event: event.type, error: describe(e) });
      }
    }
  };

  const sendRaw = (ws: WebSocketLike, message: SignalingClientMessage): boolean => {
    if (ws !== socket || !open || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(message));
    } catch (e) {
      // A socket closing under our feet; its close event follows.
      log('warn', 'signaling: send failed', { type: message.type, error: describe(e) });
      return false;
    }
    counts.sent += 1;
    return true;
  };

  const stopHeartbeat = (): void => {
    cancelHeartbeat?.();
    cancelHeartbeat = undefined;
  };

  /** Heartbeats at half the server's period, so one late timer never gets a peer evicted. */
  const startHeartbeat = (ws: WebSocketLike, heartbeatMs: number): void => {
    stopHeartbeat();
    const periodMs = Math.max(1, Math.floor(heartbeatMs / 2));
    const tick = (): void => {
      cancelHeartbeat = undefined;
      if (ws !== socket || !open) return;
      sendRaw(ws, { type: 'sig/heartbeat' });
      cancelHeartbeat = clock.setTimer(periodMs, tick);
    };
    cancelHeartbeat = clock.setTimer(periodMs, tick);
  };

  const onServerMessage = (ws: WebSocketLike, message: SignalingServerMessage): void => {
    counts.received += 1;
    if (message.type === 'sig/welcome') {
      peerId = message.peerId;
      resumeKey = message.resumeKey;
      failures = 0;
      startHeartbeat(ws, message.heartbeatMs);
    } else if (message.type === 'sig/error' && message.fatal) {
      // The server closes the socket next; the close handler decides on a retry from this.
      fatal = { code: message.code, message: message.message };
    }
    emit({ type: 'message', message });
  };

  const onFrame = (ws: WebSocketLike, data: unknown): void => {
    if (ws !== socket || stopped) return;
    const parsed =
      typeof data === 'string'
        ? parseSignalingServerMessage(data, maxBytes)
        : {
            ok: false as const,
            error: new ProtocolError('invalid-message', 'binary frame: the server sends JSON text'),
          };
    if (!parsed.ok) {
      counts.invalid += 1;
      log('warn', 'signaling: server message refused', {
        error: parsed.error.message,
        issues: parsed.error.issues.slice(0, 5),
      });
      emit({ type: 'invalid', error: parsed.error });
      return;
    }
    onServerMessage(ws, parsed.value);
  };

  /** Gives up for good: one last 'closed' without retryInMs. */
  const stop = (reason: string): void => {
    if (stopped) return;
    stopped = true;
    stopHeartbeat();
    cancelRetry?.();
    cancelRetry = undefined;
    log('info', 'signaling: closed for good', { reason });
    emit({ type: 'closed', reason });
  };

  const scheduleReconnect = (reason: string): void => {
    if (options.maxAttempts !== undefined && failures >= options.maxAttempts) {
      stop(`${reason}; gave up after ${failures} reconnect attempts`);
      return;
    }
    // Full jitter: a room whose server restarts does not come back as one thundering herd.
    const ceilingMs = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** failures);
    const retryInMs = Math.floor(random() * ceilingMs);
    failures += 1;
    log('info', 'signaling: disconnected, reconnecting', { reason, retryInMs });
    cancelRetry = clock.setTimer(retryInMs, () => {
      cancelRetry = undefined;
      if (!stopped) connect();
    });
    emit({ type: 'closed', reason, retryInMs });
  };

  const onSocketClose = (ws: WebSocketLike, event: WebSocketCloseEventLike): void => {
    if (ws !== socket) return;
    socket = undefined;
    open = false;
    stopHeartbeat();
    if (stopped) return;
    const refusal = fatal;
    fatal = undefined;
    if (refusal !== undefined && NON_RETRYABLE_CODES.has(refusal.code)) {
      stop(`${refusal.code}: ${refusal.message}`);
      return;
    }
    const why =
      refusal !== undefined
        ? `${refusal.code}: ${refusal.message}`
        : `socket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`;
    scheduleReconnect(why);
  };

  const onSocketOpen = (ws: WebSocketLike): void => {
    if (ws !== socket || stopped) return;
    open = true;
    let hello: SignalingClientMessageOf<'sig/hello'>;
    try {
      const fresh = options.hello();
      // The id granted last time, so the room sees a reconnect and not a new peer.
      hello =
        peerId === undefined
          ? fresh
          : {
              ...fresh,
              resume: { peerId, ...(resumeKey === undefined ? {} : { key: resumeKey }) },
            };
    } catch (e) {
      stop(`hello failed: ${describe(e)}`);
      ws.close(CLOSE_NORMAL, 'hello failed');
      return;
    }
    // The hello goes out before 'open' is emitted: a listener that sends at once must not
    // get ahead of it (the server refuses anything before the hello).
    sendRaw(ws, hello);
    emit({ type: 'open' });
  };

  const connect = (): void => {
    attempts += 1;
    if (attempts > 1) counts.reconnects += 1;
    fatal = undefined;
    let ws: WebSocketLike;
    try {
      ws = new options.WebSocket(options.url);
    } catch (e) {
      // The constructor throws only for a URL it cannot use; retrying would not change that.
      // Deferred, so a subscriber added right after createSignalingClient hears it.
      clock.setTimer(0, () => stop(`cannot open ${options.url}: ${describe(e)}`));
      return;
    }
    socket = ws;
    open = false;
    ws.onopen = () => onSocketOpen(ws);
    ws.onmessage = (event) => onFrame(ws, event.data);
    ws.onclose = (event) => onSocketClose(ws, event);
    // Always set: ws (Node) throws an 'error' event nobody listens to. The close event that
    // follows every error is where the client acts.
    ws.onerror = () => {
      if (ws === socket) log('debug', 'signaling: socket error', { url: options.url });
    };
    log('debug', 'signaling: connecting', { url: options.url, attempt: attempts });
  };

  connect();

  return {
    send: (message) => (socket === undefined ? false : sendRaw(socket, message)),
    subscribe: (listener) => {
      // A wrapper per subscription, so the same function subscribed twice unsubscribes once.
      const entry = (event: SignalingEvent) => listener(event);
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    close: () => {
      const ws = socket;
      if (ws !== undefined) {
        sendRaw(ws, { type: 'sig/leave' });
        socket = undefined;
        open = false;
        try {
          ws.close(CLOSE_NORMAL, 'left');
        } catch (e) {
          log('debug', 'signaling: close failed', { error: describe(e) });
        }
      }
      stop('closed by the client');
    },
    counters: () => ({ ...counts }),
  };
}
