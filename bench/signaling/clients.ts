/**
 * What the signaling bench needs from a client of either server: join a room, open a 1:1
 * channel between two peers of a room, and the text of one relayed signal.
 */

import WebSocket from 'ws';

export interface Peer {
  ws: WebSocket;
  /** The id the other peers address this one by. */
  id: string;
  /** Set by the bench on receivers: a relayed signal `seq` arrived at `at` (performance.now). */
  onSignal?: (seq: number, at: number) => void;
  close(): void;
}

export interface Protocol {
  join(url: string, room: string, index: number): Promise<Peer>;
  /** Prepares pair `k` (a, b in one room) for 1:1 relays from a to b. */
  pair(a: Peer, b: Peer, k: number): Promise<void>;
  /** The text a sends so that the server relays signal `seq` to b. */
  signal(a: Peer, b: Peer, k: number, seq: number): string;
}

/** An ICE candidate as simple-peer emits it, with `seq` as its foundation. */
export const candidateSignal = (seq: number, k: number) => ({
  type: 'candidate' as const,
  candidate: {
    candidate: `candidate:${seq} 1 udp 2122260223 127.0.0.1 ${9000 + k} typ host`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
});

/** The seq of a candidate made by candidateSignal, or undefined. */
export function seqOfCandidate(data: unknown): number | undefined {
  const text = (data as { candidate?: { candidate?: unknown } } | undefined)?.candidate?.candidate;
  if (typeof text !== 'string') return undefined;
  const match = /^candidate:(\d+) /.exec(text);
  return match ? Number(match[1]) : undefined;
}

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await withDeadline(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    10_000,
    `connect to ${url}`,
  );
  // A socket the server drops mid-run must not throw out of the bench.
  ws.on('error', () => {});
  return ws;
}

/** The next JSON message on `ws` that `match` accepts (its non-undefined result). */
export function nextMessage<T>(
  ws: WebSocket,
  match: (message: Record<string, unknown>) => T | undefined,
  what: string,
): Promise<T> {
  let onMessage: ((data: WebSocket.RawData) => void) | undefined;
  return withDeadline(
    new Promise<T>((resolve, reject) => {
      onMessage = (data) => {
        try {
          const result = match(JSON.parse(data.toString()) as Record<string, unknown>);
          if (result !== undefined) resolve(result);
        } catch (error) {
          reject(error);
        }
      };
      ws.on('message', onMessage);
    }),
    10_000,
    what,
  ).finally(() => ws.off('message', onMessage!));
}

/** Calls `peer.onSignal` for every message that `seqOf` recognises as a relayed signal. */
export function listenForSignals(
  peer: Peer,
  seqOf: (message: Record<string, unknown>) => number | undefined,
): void {
  peer.ws.on('message', (data) => {
    // Stamped before parsing: the client's JSON.parse is the same for both servers.
    const at = performance.now();
    if (!peer.onSignal) return;
    const seq = seqOf(JSON.parse(data.toString()) as Record<string, unknown>);
    if (seq !== undefined) peer.onSignal(seq, at);
  });
}
