/**
 * In-memory links, the test double of simple-peer: two links of one network find each other
 * through the same offer/answer relay that carries real SDP, then carry frames in order, after
 * a declared latency and at an optional bottleneck rate. Pure: time only through a MeshClock.
 *
 * Signals are fake SDP that SignalDataSchema accepts ({ type: 'offer', sdp: 'memory:<token>' }
 * and the matching answer), so the peer runtime and the signaling server relay them unchanged.
 */

import type { SignalData } from '../core';
import type { MeshClock, RtcConnector, RtcLink, RtcLinkHandlers, RtcLinkOptions } from './types';

/** How the frames a link sends travel to the other side. */
export interface MemoryLinkOptions {
  /** One-way delay of every frame, ms (default 0). */
  readonly latencyMs?: number;
  /** Rate at which the sender's frames are serialised, bytes/s (default: no limit). */
  readonly bytesPerSec?: number;
  /**
   * Largest frame a send takes (default 256 KiB, libwebrtc's max-message-size). A larger one
   * fails the link, as it fails a real data channel, so framing bugs show up in tests.
   */
  readonly maxFrameBytes?: number;
}

export interface MemoryNetworkOptions extends MemoryLinkOptions {
  /**
   * Times latency and the bottleneck. Without one, frames and signals are delivered on a
   * microtask, and latencyMs and bytesPerSec must be left out.
   */
  readonly clock?: MeshClock;
}

export interface MemoryNetwork {
  /** A connector whose links send with `overrides` on top of the network's options. */
  connector(overrides?: MemoryLinkOptions): RtcConnector;
  /** Links of this network not closed yet (a test's check that everything was torn down). */
  liveLinks(): number;
}

export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;
const SDP_PREFIX = 'memory:';

type Item =
  | { readonly kind: 'open'; readonly at: number }
  | { readonly kind: 'data'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'close'; readonly at: number };

interface Shape {
  readonly latencyMs: number;
  /** 0: no limit. */
  readonly bytesPerSec: number;
  readonly maxFrameBytes: number;
}

/** One side of a link and its outgoing queue (what it sent that the other side has not got). */
interface Endpoint {
  readonly initiator: boolean;
  readonly handlers: RtcLinkHandlers;
  readonly shape: Shape;
  /** The offer's token: the initiator's own, or the one the answerer took. */
  token: string;
  /** 'opening': the initiator took the answer and opens on the next tick. */
  state: 'new' | 'opening' | 'open' | 'closed';
  peer: Endpoint | undefined;
  readonly outbox: Item[];
  /**
   * Frames the bottleneck has not finished serialising, oldest first: bufferedAmount, which
   * counts what has not been transmitted (frames on their way, in the latency, are not).
   */
  readonly serialising: { readonly finish: number; readonly bytes: number }[];
  queuedBytes: number;
  /** When the bottleneck finishes serialising the last queued frame. */
  lastFinish: number;
  cancelTimer: (() => void) | undefined;
}

interface Scheduler {
  now(): number;
  later(ms: number, fn: () => void): () => void;
}

const microtasks: Scheduler = {
  now: () => 0,
  later(_ms, fn) {
    let cancelled = false;
    void Promise.resolve().then(() => {
      if (!cancelled) fn();
    });
    return () => {
      cancelled = true;
    };
  },
};

// Tokens carry the network's number so that an offer relayed to another network's link is
// refused instead of pairing with a stranger that happens to hold the same count.
let networks = 0;

function checkShape(o: MemoryLinkOptions, hasClock: boolean): void {
  const { latencyMs, bytesPerSec, maxFrameBytes } = o;
  if (latencyMs !== undefined && !(Number.isFinite(latencyMs) && latencyMs >= 0)) {
    throw new RangeError(`latencyMs must be a finite number >= 0, got ${latencyMs}`);
  }
  if (bytesPerSec !== undefined && !(Number.isFinite(bytesPerSec) && bytesPerSec > 0)) {
    throw new RangeError(`bytesPerSec must be a finite number > 0, got ${bytesPerSec}`);
  }
  if (maxFrameBytes !== undefined && !(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 1)) {
    throw new RangeError(`maxFrameBytes must be an integer >= 1, got ${maxFrameBytes}`);
  }
  if (!hasClock && ((latencyMs ?? 0) > 0 || bytesPerSec !== undefined)) {
    throw new RangeError('latencyMs and bytesPerSec need a clock');
  }
}

/**
 * A network of in-memory links. Connectors of one network pair up by relaying signals, just as
 * simple-peer links do; each link's frames are copied, so a sender may reuse its buffer.
 *
 * @example
 * const net = createMemoryNetwork({ clock, latencyMs: 20, bytesPerSec: 1e6 });
 * createPeer({ ..., rtc: net.connector() });
 */
export function createMemoryNetwork(options: MemoryNetworkOptions = {}): MemoryNetwork {
  const { clock } = options;
  checkShape(options, clock !== undefined);
  const sched: Scheduler =
    clock === undefined
      ? microtasks
      : { now: () => clock.now(), later: (ms, fn) => clock.setTimer(ms, fn) };
  const netId = ++networks;
  let tokens = 0;
  /** Initiators whose offer nobody has taken yet, by token. */
  const waiting = new Map<string, Endpoint>();
  const live = new Set<Endpoint>();

  const finish = (ep: Endpoint, reason: string) => {
    if (ep.state === 'closed') return;
    ep.state = 'closed';
    live.delete(ep);
    waiting.delete(ep.token);
    ep.handlers.onClose(reason);
  };

  /** Delivers what is due from `from`'s queue to its peer, in order. */
  const drain = (from: Endpoint) => {
    from.cancelTimer = undefined;
    const now = sched.now();
    try {
      // The head is due (its timer fired); later items go too once their time has come, so
      // timer granularity can never reorder frames.
      let first = true;
      while (from.outbox.length > 0 && (first || from.outbox[0]!.at <= now)) {
        first = false;
        const item = from.outbox.shift()!;
        const to = from.peer;
        if (to === undefined || to.state === 'closed') continue;
        if (item.kind === 'open') {
          to.state = 'open';
          to.handlers.onOpen();
        } else if (item.kind === 'data') {
          to.handlers.onData(item.bytes);
        } else {
          finish(to, 'closed by remote');
        }
      }
    } finally {
      arm(from);
    }
  };

  const arm = (from: Endpoint) => {
    const head = from.outbox[0];
    if (head === undefined || from.cancelTimer !== undefined) return;
    from.cancelTimer = sched.later(Math.max(0, head.at - sched.now()), () => drain(from));
  };

  /** Queues an item behind everything `from` already sent; `bytes` occupy the bottleneck. */
  const enqueue = (from: Endpoint, item: (at: number) => Item, bytes: number) => {
    const start = Math.max(sched.now(), from.lastFinish);
    const { bytesPerSec, latencyMs } = from.shape;
    from.lastFinish = bytesPerSec > 0 ? start + (bytes * 1000) / bytesPerSec : start;
    from.outbox.push(item(from.lastFinish + latencyMs));
    arm(from);
  };

  /** Closes `ep` here and, behind whatever it already sent, on the other side. */
  const closeLocally = (ep: Endpoint, reason: string) => {
    if (ep.state === 'closed') return;
    const { peer } = ep;
    finish(ep, reason);
    if (peer !== undefined && peer.state !== 'closed')
      enqueue(ep, (at) => ({ kind: 'close', at }), 0);
  };

  const badSignal = (ep: Endpoint, why: string) => closeLocally(ep, `bad signal: ${why}`);

  const takeOffer = (ep: Endpoint, token: string) => {
    if (ep.initiator) return badSignal(ep, 'an offer to the initiating side');
    if (ep.peer !== undefined) {
      // The same offer relayed twice is harmless; a second, different one is not ours to take.
      if (token !== ep.token) badSignal(ep, 'a second offer');
      return;
    }
    const offerer = waiting.get(token);
    if (offerer === undefined) return badSignal(ep, `no link offered ${token}`);
    waiting.delete(token);
    ep.token = token;
    ep.peer = offerer;
    offerer.peer = ep;
    sched.later(0, () => {
      if (ep.state !== 'closed') ep.handlers.onSignal({ type: 'answer', sdp: token });
    });
  };

  const takeAnswer = (ep: Endpoint, token: string) => {
    if (!ep.initiator) return badSignal(ep, 'an answer to the answering side');
    if (token !== ep.token) return badSignal(ep, `an answer for ${token}, not ${ep.token}`);
    if (ep.state !== 'new') return; // a duplicate
    if (ep.peer === undefined) return badSignal(ep, 'an answer nobody sent');
    ep.state = 'opening';
    // The remote side opens when this side's "ICE" reaches it: first in the queue, so it is
    // open before any frame sent from here arrives.
    enqueue(ep, (at) => ({ kind: 'open', at }), 0);
    sched.later(0, () => {
      if (ep.state !== 'opening') return;
      ep.state = 'open';
      ep.handlers.onOpen();
    });
  };

  const connector =
    (overrides: MemoryLinkOptions = {}): RtcConnector =>
    (link: RtcLinkOptions): RtcLink => {
      const shape: Shape = {
        latencyMs: overrides.latencyMs ?? options.latencyMs ?? 0,
        bytesPerSec: overrides.bytesPerSec ?? options.bytesPerSec ?? 0,
        maxFrameBytes: overrides.maxFrameBytes ?? options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      };
      const ep: Endpoint = {
        initiator: link.initiator,
        handlers: link.handlers,
        shape,
        token: '',
        state: 'new',
        peer: undefined,
        outbox: [],
        serialising: [],
        queuedBytes: 0,
        lastFinish: 0,
        cancelTimer: undefined,
      };
      live.add(ep);
      if (link.initiator) {
        ep.token = `${SDP_PREFIX}${netId}.${++tokens}`;
        waiting.set(ep.token, ep);
        // Asynchronous like simple-peer's: the caller holds the link before its first signal.
        sched.later(0, () => {
          if (ep.state === 'new' && ep.peer === undefined) {
            ep.handlers.onSignal({ type: 'offer', sdp: ep.token });
          }
        });
      }
      return {
        signal(data: SignalData) {
          if (ep.state === 'closed') return;
          if (data.type !== 'offer' && data.type !== 'answer') return; // no ICE in memory
          if (!data.sdp.startsWith(SDP_PREFIX)) return badSignal(ep, 'not a memory link SDP');
          if (data.type === 'offer') takeOffer(ep, data.sdp);
          else takeAnswer(ep, data.sdp);
        },
        send(bytes) {
          if (ep.state !== 'open') return false;
          if (bytes.length > shape.maxFrameBytes) {
            closeLocally(
              ep,
              `send failed: a frame of ${bytes.length} bytes exceeds ${shape.maxFrameBytes}`,
            );
            return false;
          }
          // A copy: the receiver must not see the sender reuse its buffer.
          const copy = bytes.slice();
          ep.queuedBytes += copy.length;
          enqueue(ep, (at) => ({ kind: 'data', at, bytes: copy }), copy.length);
          ep.serialising.push({ finish: ep.lastFinish, bytes: copy.length });
          return true;
        },
        bufferedAmount: () => {
          if (ep.state === 'closed') return 0;
          const now = sched.now();
          const q = ep.serialising;
          while (q.length > 0 && q[0]!.finish <= now) ep.queuedBytes -= q.shift()!.bytes;
          return ep.queuedBytes;
        },
        close: () => closeLocally(ep, 'closed locally'),
      };
    };

  return { connector, liveLinks: () => live.size };
}
