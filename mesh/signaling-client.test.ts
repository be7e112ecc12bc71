/**
 * The signaling client against the real signaling server (and, for garbage, a fake one),
 * with the `ws` package's WebSocket and a real clock; the backoff arithmetic and the
 * heartbeat period on a manual clock with a scripted socket.
 */

import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  DEFAULT_ROOM_CONFIG,
  type PeerId,
  PROTOCOL_VERSION,
  type RoomName,
  type SignalData,
  type SignalingClientMessageOf,
  type SignalingServerMessage,
  type SignalingServerMessageOf,
} from '../core';
import { createToken } from '../signaling';
import { createFixture } from '../signaling/test-support';
import { waitFor as waitUntil } from './node/test-peers';
import {
  createSignalingClient,
  type SignalingClient,
  type SignalingClientOptions,
  type WebSocketCloseEventLike,
  type WebSocketLike,
} from './signaling-client';
import type { MeshClock, SignalingEvent } from './types';

const DEADLINE_MS = 5000;

// ---- helpers ------------------------------------------------------------------------------

/** A real clock that knows how many of its timers are still pending. */
function trackedClock(): MeshClock & { pending(): number } {
  const live = new Set<NodeJS.Timeout>();
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimer(ms, fn) {
      const handle = setTimeout(() => {
        live.delete(handle);
        fn();
      }, ms);
      live.add(handle);
      return () => {
        clearTimeout(handle);
        live.delete(handle);
      };
    },
    pending: () => live.size,
  };
}

/** The shared helper, polling every 5 ms, with the arguments in this file's order. */
const waitFor = <T>(check: () => T | undefined, what: string, ms = DEADLINE_MS): Promise<T> =>
  waitUntil(what, check, ms, 5);

/** A client and every event it emitted. */
interface Probe {
  readonly client: SignalingClient;
  readonly clock: ReturnType<typeof trackedClock>;
  readonly events: SignalingEvent[];
  messages<T extends SignalingServerMessage['type']>(type: T): SignalingServerMessageOf<T>[];
  /** The n-th (0-based) message of `type`, waited for. */
  nth<T extends SignalingServerMessage['type']>(
    type: T,
    n?: number,
  ): Promise<SignalingServerMessageOf<T>>;
  closedEvents(): Extract<SignalingEvent, { type: 'closed' }>[];
}

const probes: Probe[] = [];
const fakes: WebSocketServer[] = [];

afterEach(async () => {
  for (const p of probes.splice(0)) p.client.close();
  await signalingServers.cleanup();
  await Promise.all(
    fakes.splice(0).map((wss) => {
      for (const ws of wss.clients) ws.terminate();
      return new Promise<void>((done) => wss.close(() => done()));
    }),
  );
});

const signalingServers = createFixture();
const startServer = signalingServers.start;

const helloFor =
  (room: string, extra: Partial<SignalingClientMessageOf<'sig/hello'>> = {}) =>
  (): SignalingClientMessageOf<'sig/hello'> => ({
    type: 'sig/hello',
    protocol: PROTOCOL_VERSION,
    room: room as RoomName,
    name: 'tester',
    kind: 'kiosk',
    ...extra,
  });

function probe(
  url: string,
  hello: SignalingClientOptions['hello'],
  extra: Partial<SignalingClientOptions> = {},
): Probe {
  const clock = trackedClock();
  const client = createSignalingClient({
    url,
    WebSocket,
    hello,
    clock,
    random: () => 0.5,
    backoff: { initialMs: 20, maxMs: 100 },
    ...extra,
  });
  const events: SignalingEvent[] = [];
  client.subscribe((e) => events.push(e));
  const messages = <T extends SignalingServerMessage['type']>(type: T) =>
    events.flatMap((e) =>
      e.type === 'message' && e.message.type === type
        ? [e.message as SignalingServerMessageOf<T>]
        : [],
    );
  const p: Probe = {
    client,
    clock,
    events,
    messages,
    nth: (type, n = 0) => waitFor(() => messages(type)[n], `message ${n} of type '${type}'`),
    closedEvents: () =>
      events.filter((e): e is Extract<SignalingEvent, { type: 'closed' }> => e.type === 'closed'),
  };
  probes.push(p);
  return p;
}

const OFFER: SignalData = { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' };

// ---- against the real server --------------------------------------------------------------

describe('signaling client with the real server', () => {
  it('joins a room: welcome with distinct slots, and peer-joined for the other', async () => {
    const server = await startServer();
    const a = probe(server.wsUrl, helloFor('lab', { name: 'alice' }));
    // A throwing subscriber must not stop the client nor the other subscribers.
    a.client.subscribe(() => {
      throw new Error('faulty listener');
    });
    const wa = await a.nth('sig/welcome');
    expect(a.events[0]).toEqual({ type: 'open' });
    expect(wa.slot).toBe(0);
    expect(wa.peers).toEqual([]);

    const b = probe(server.wsUrl, helloFor('lab', { name: 'bob' }));
    const wb = await b.nth('sig/welcome');
    expect(wb.slot).toBe(1);
    expect(wb.peerId).not.toBe(wa.peerId);
    expect(wb.peers).toEqual([{ id: wa.peerId, name: 'alice', kind: 'kiosk' }]);
    const joined = await a.nth('sig/peer-joined');
    expect(joined.peer).toEqual({ id: wb.peerId, name: 'bob', kind: 'kiosk' });
    expect(a.client.counters()).toMatchObject({ invalid: 0, reconnects: 0, received: 2 });
    expect(a.closedEvents()).toEqual([]);
  });

  it('relays signals between two clients', async () => {
    // A long heartbeat period, so that no heartbeat enters the counts below.
    const server = await startServer({ heartbeatMs: 60_000 });
    const a = probe(server.wsUrl, helloFor('lab'));
    const b = probe(server.wsUrl, helloFor('lab'));
    const wa = await a.nth('sig/welcome');
    const wb = await b.nth('sig/welcome');
    expect(a.client.send({ type: 'sig/signal', to: wb.peerId, data: OFFER })).toBe(true);
    expect(await b.nth('sig/signal')).toEqual({ type: 'sig/signal', from: wa.peerId, data: OFFER });
    expect(b.client.send({ type: 'sig/signal', to: wa.peerId, data: OFFER })).toBe(true);
    expect((await a.nth('sig/signal')).from).toBe(wb.peerId);
    // The hello and one signal each.
    expect(a.client.counters().sent).toBe(2);
    expect(b.client.counters().received).toBe(2);
  });

  it('keeps the socket alive with heartbeats at half the server period', async () => {
    const server = await startServer({ heartbeatMs: 200, evictAfterMs: 600 });
    const a = probe(server.wsUrl, helloFor('lab'));
    const b = probe(server.wsUrl, helloFor('lab'));
    await a.nth('sig/welcome');
    await b.nth('sig/welcome');
    // Ten heartbeats, one per 100 ms, outlast the 600 ms after which a silent socket goes.
    await waitFor(
      () => (a.client.counters().sent >= 11 && b.client.counters().sent >= 11) || undefined,
      'ten heartbeats from each client',
    );
    expect(a.messages('sig/peer-left')).toEqual([]);
    expect(a.closedEvents()).toEqual([]);
    expect(b.closedEvents()).toEqual([]);
  });

  it('reconnects on its own after a server restart and keeps its peer id', async () => {
    // No resume secret: the restarted server has a key of its own, and grants an id that it
    // did not hand out itself (signaling/server.ts, pickId).
    const first = await startServer();
    const a = probe(first.wsUrl, helloFor('lab'));
    const w1 = await a.nth('sig/welcome');
    await first.close();
    const closed = await waitFor(() => a.closedEvents()[0], "a 'closed' event");
    expect(closed.retryInMs).toBeGreaterThanOrEqual(0);
    expect(closed.reason).toMatch(/1001/);

    const second = await startServer({ port: first.port });
    const w2 = await a.nth('sig/welcome', 1);
    expect(w2.peerId).toBe(w1.peerId);
    expect(w2.slot).toBe(0);
    expect(a.client.counters().reconnects).toBeGreaterThanOrEqual(1);
    expect(a.events.filter((e) => e.type === 'open')).toHaveLength(2);
    // The new server knows the peer: another joiner sees it among the live peers.
    const b = probe(second.wsUrl, helloFor('lab'));
    expect((await b.nth('sig/welcome')).peers.map((p) => p.id)).toEqual([w1.peerId]);
  });

  it.each([
    ['bad-token', { token: createToken('another-secret', 'lab') }],
    ['token-required', {}],
  ] as const)('stops without a retry on %s', async (code, extra) => {
    const server = await startServer({ secret: 'edge-secret' });
    const a = probe(server.wsUrl, helloFor('lab', extra));
    const closed = await waitFor(() => a.closedEvents()[0], "a 'closed' event");
    expect(closed.retryInMs).toBeUndefined();
    expect(closed.reason).toMatch(new RegExp(`^${code}: `));
    expect(a.messages('sig/error')).toMatchObject([{ code, fatal: true }]);
    expect(a.client.counters().reconnects).toBe(0);
    expect(a.clock.pending()).toBe(0);
    expect(a.client.send({ type: 'sig/heartbeat' })).toBe(false);
  });

  it('joins with a valid token', async () => {
    const secret = 'edge-secret';
    const server = await startServer({ secret });
    const a = probe(server.wsUrl, helloFor('lab', { token: createToken(secret, 'lab') }));
    expect((await a.nth('sig/welcome')).room).toBe('lab');
  });

  it('close() sends sig/leave once and is safe twice; the other peer sees "left"', async () => {
    const server = await startServer();
    const a = probe(server.wsUrl, helloFor('lab'));
    const b = probe(server.wsUrl, helloFor('lab'));
    const wa = await a.nth('sig/welcome');
    await b.nth('sig/welcome');
    const sentBefore = a.client.counters().sent;
    a.client.close();
    a.client.close();
    expect(a.client.counters().sent).toBe(sentBefore + 1);
    expect(await b.nth('sig/peer-left')).toEqual({
      type: 'sig/peer-left',
      peerId: wa.peerId,
      reason: 'left',
    });
    expect(a.closedEvents()).toEqual([{ type: 'closed', reason: 'closed by the client' }]);
    expect(a.client.send({ type: 'sig/heartbeat' })).toBe(false);
    expect(a.clock.pending()).toBe(0);
  });

  it('gives up after maxAttempts reconnects in a row without a welcome', async () => {
    const gone = await startServer();
    const url = gone.wsUrl;
    await gone.close();
    const a = probe(url, helloFor('lab'), { maxAttempts: 2 });
    const last = await waitFor(
      () => a.closedEvents().find((e) => e.retryInMs === undefined),
      "a final 'closed' event",
    );
    expect(last.reason).toMatch(/gave up after 2 reconnect attempts/);
    expect(a.closedEvents()).toHaveLength(3);
    expect(a.client.counters().reconnects).toBe(2);
    expect(a.clock.pending()).toBe(0);
  });
});

// ---- against a server that sends garbage --------------------------------------------------

describe('signaling client with a misbehaving server', () => {
  it('drops and counts invalid frames and stays up', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    fakes.push(wss);
    await new Promise<void>((done) => wss.once('listening', () => done()));
    const port = (wss.address() as { port: number }).port;
    const firstFrames: string[] = [];
    wss.on('connection', (ws) => {
      ws.once('message', (data) => {
        firstFrames.push(String(data));
        ws.send('not json {');
        ws.send(JSON.stringify({ type: 'sig/welcome', peerId: 'x' }));
        ws.send(JSON.stringify({ type: 'sig/peer-left', peerId: 'p', reason: 'x'.repeat(300) }));
        ws.send(Buffer.from([1, 2, 3]), { binary: true });
        // A valid message after the garbage: the client must still be listening.
        ws.send(JSON.stringify({ type: 'sig/peer-left', peerId: 'p', reason: 'left' }));
      });
    });
    const a = probe(`ws://127.0.0.1:${port}/ws`, helloFor('lab'), { maxMessageBytes: 200 });
    const left = await a.nth('sig/peer-left');
    expect(left).toEqual({ type: 'sig/peer-left', peerId: 'p' as PeerId, reason: 'left' });
    const invalid = a.events.filter((e) => e.type === 'invalid');
    expect(invalid).toHaveLength(4);
    expect(invalid.map((e) => e.error.name)).toEqual(Array(4).fill('ProtocolError'));
    expect(a.client.counters()).toMatchObject({ invalid: 4, received: 1, reconnects: 0 });
    expect(a.closedEvents()).toEqual([]);
    // The first frame on the socket was the hello.
    expect(JSON.parse(firstFrames[0] ?? 'null')).toMatchObject({ type: 'sig/hello', room: 'lab' });
  });
});

// ---- backoff and heartbeats on a manual clock ---------------------------------------------

/** A clock that only moves when the test says so. */
function manualClock() {
  let t = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    wallNow: () => t,
    setTimer(ms: number, fn: () => void) {
      const id = seq++;
      timers.set(id, { at: t + ms, fn });
      return () => {
        timers.delete(id);
      };
    },
    /** Runs every timer due within `ms`, in order of due time. */
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        t = next[1].at;
        next[1].fn();
      }
      t = end;
    },
    /** Due times of the pending timers, relative to now. */
    pending: () => [...timers.values()].map((x) => x.at - t),
  };
}

/** A socket whose life the test scripts. */
class ScriptedSocket implements WebSocketLike {
  static readonly made: ScriptedSocket[] = [];
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  readonly sent: { type: string; [key: string]: unknown }[] = [];
  constructor(readonly url: string) {
    ScriptedSocket.made.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as { type: string });
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(event: WebSocketCloseEventLike = { code: 1006, reason: '' }): void {
    this.readyState = 3;
    this.onclose?.(event);
  }
}

describe('signaling client timing', () => {
  const welcome = (peerId: string) => ({
    type: 'sig/welcome',
    protocol: PROTOCOL_VERSION,
    peerId,
    resumeKey: `${peerId}-key`.padEnd(43, 'x'),
    room: 'lab',
    config: DEFAULT_ROOM_CONFIG,
    slot: 0,
    peers: [],
    iceServers: [],
    heartbeatMs: 1000,
  });

  it('backs off exponentially with full jitter, capped, and resets after a welcome', () => {
    ScriptedSocket.made.length = 0;
    const clock = manualClock();
    const client = createSignalingClient({
      url: 'ws://scripted/ws',
      WebSocket: ScriptedSocket,
      hello: helloFor('lab'),
      clock,
      random: () => 0.5,
      backoff: { initialMs: 100, maxMs: 300, factor: 2 },
    });
    const retries: (number | undefined)[] = [];
    client.subscribe((e) => {
      if (e.type === 'closed') retries.push(e.retryInMs);
    });
    const socket = (i: number) => {
      const s = ScriptedSocket.made[i];
      if (!s) throw new Error(`no socket ${i}`);
      return s;
    };

    // Four failed attempts: half of 100, 200, 300 (capped), 300.
    for (let i = 0; i < 4; i++) {
      socket(i).drop();
      clock.advance(retries[i] ?? 0);
    }
    expect(retries).toEqual([50, 100, 150, 150]);
    expect(client.counters().reconnects).toBe(4);

    // A welcome resets the backoff and starts heartbeats at half its period.
    const s = socket(4);
    s.open();
    expect(s.sent.map((m) => m.type)).toEqual(['sig/hello']);
    s.receive(welcome('p1'));
    clock.advance(499);
    expect(s.sent).toHaveLength(1);
    clock.advance(1);
    expect(s.sent.map((m) => m.type)).toEqual(['sig/hello', 'sig/heartbeat']);
    clock.advance(1000);
    expect(s.sent.filter((m) => m.type === 'sig/heartbeat')).toHaveLength(3);

    s.drop();
    expect(retries.at(-1)).toBe(50);
    // The heartbeat timer went with the socket; only the reconnect is pending.
    expect(clock.pending()).toEqual([50]);
    clock.advance(50);
    const again = socket(5);
    again.open();
    // With the key the welcome gave: without it the server would give a new id.
    expect(again.sent[0]).toMatchObject({
      type: 'sig/hello',
      resume: { peerId: 'p1', key: 'p1-key'.padEnd(43, 'x') },
    });

    client.close();
    expect(again.sent.at(-1)).toEqual({ type: 'sig/leave' });
    expect(clock.pending()).toEqual([]);
    expect(retries.at(-1)).toBeUndefined();
  });
});
