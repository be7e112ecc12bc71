/**
 * Test helpers for the signaling suites: a real `ws` client that validates every server
 * message against the protocol schema and lets a test await the next one with a deadline.
 */

import WebSocket from 'ws';
import {
  PROTOCOL_VERSION,
  parseSignalingServerMessage,
  type SignalingClientMessageOf,
  type SignalingServerMessage,
  type SignalingServerMessageOf,
} from '../core';
import { type SignalingServer, startSignalingServer } from './server';

export const DEADLINE_MS = 5000;

/** Resolves with `promise`, or rejects with `what` once `ms` have passed. */
export function withDeadline<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const hello = (
  room: string,
  extra: Partial<SignalingClientMessageOf<'sig/hello'>> = {},
): SignalingClientMessageOf<'sig/hello'> => ({
  type: 'sig/hello',
  protocol: PROTOCOL_VERSION,
  room: room as SignalingClientMessageOf<'sig/hello'>['room'],
  name: 'tester',
  kind: 'browser',
  ...extra,
});

interface Waiter {
  readonly match: (m: SignalingServerMessage) => boolean;
  readonly resolve: (m: SignalingServerMessage) => void;
}

export class TestClient {
  /** Messages received and not yet taken by next(). */
  readonly inbox: SignalingServerMessage[] = [];
  /** Every message received, taken or not. */
  readonly received: SignalingServerMessage[] = [];
  /** Frames that failed the server-message schema: the server must never send one. */
  readonly malformed: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters = new Set<Waiter>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      const parsed = parseSignalingServerMessage(text);
      if (!parsed.ok) {
        this.malformed.push(text);
        return;
      }
      this.received.push(parsed.value);
      for (const w of this.waiters) {
        if (w.match(parsed.value)) {
          this.waiters.delete(w);
          w.resolve(parsed.value);
          return;
        }
      }
      this.inbox.push(parsed.value);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('error', () => {
      // Surfaces as 'close'; an unhandled 'error' event would fail the test run.
    });
  }

  static async connect(url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      `connect to ${url}`,
    );
    return client;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next message matching `match` (already received or still to come). */
  next(
    match: (m: SignalingServerMessage) => boolean = () => true,
    what = 'a message',
    ms = DEADLINE_MS,
  ): Promise<SignalingServerMessage> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as SignalingServerMessage);
    let waiter: Waiter | undefined;
    const promise = new Promise<SignalingServerMessage>((resolve) => {
      waiter = { match, resolve };
      this.waiters.add(waiter);
    });
    return withDeadline(promise, what, ms).finally(() => {
      if (waiter) this.waiters.delete(waiter);
    });
  }

  /** The next message of one type. */
  async nextOf<T extends SignalingServerMessage['type']>(
    type: T,
    ms = DEADLINE_MS,
  ): Promise<SignalingServerMessageOf<T>> {
    return (await this.next(
      (m) => m.type === type,
      `a '${type}'`,
      ms,
    )) as SignalingServerMessageOf<T>;
  }

  /** Joins with a hello and returns the welcome; fails on a 'sig/error' instead. */
  async join(
    room: string,
    extra: Partial<SignalingClientMessageOf<'sig/hello'>> = {},
  ): Promise<SignalingServerMessageOf<'sig/welcome'>> {
    this.send(hello(room, extra));
    const m = await this.next(
      (x) => x.type === 'sig/welcome' || x.type === 'sig/error',
      'a welcome',
    );
    if (m.type !== 'sig/welcome') throw new Error(`join refused: ${JSON.stringify(m)}`);
    return m;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
  }
}

/** Parses Prometheus text into "name{labels}" -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

export async function fetchMetrics(baseUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${baseUrl}/metrics`);
  return parseMetrics(await res.text());
}

type StartOptions = Parameters<typeof startSignalingServer>[0];

/**
 * Servers and clients for one test, all closed by cleanup() (call it in afterEach).
 * Servers listen on 127.0.0.1 and an ephemeral port, with logging off.
 */
export function createFixture() {
  const servers: SignalingServer[] = [];
  const clients: TestClient[] = [];
  return {
    async start(opts: StartOptions = {}): Promise<SignalingServer> {
      const server = await startSignalingServer({
        port: 0,
        host: '127.0.0.1',
        log: () => {},
        staticDir: '/nonexistent/dlion-static',
        ...opts,
      });
      servers.push(server);
      return server;
    },
    /** A client; `autoPong: false` makes a dead host: its socket answers no ping. */
    async client(server: SignalingServer, options?: WebSocket.ClientOptions): Promise<TestClient> {
      const c = await TestClient.connect(server.wsUrl, options);
      clients.push(c);
      return c;
    },
    async cleanup(): Promise<void> {
      for (const c of clients.splice(0)) c.close();
      await Promise.all(servers.splice(0).map((s) => s.close()));
    },
  };
}
