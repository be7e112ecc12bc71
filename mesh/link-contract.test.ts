/**
 * The RtcLink contract, checked against both implementations: the in-memory link the mesh's
 * tests run on and the real one (simple-peer over @roamhq/wrtc). Whatever passes here may be
 * swapped for the other without the peer runtime noticing.
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../core';
import { createMemoryNetwork } from './memory-link';
import { nodeClock } from './node/clock';
import { nodeRtcConnector } from './node/rtc';
import { parseSignalData } from './signal-data';
import type { RtcConnector, RtcLink } from './types';

interface Side {
  link: RtcLink | undefined;
  opened: number;
  closes: string[];
  received: Uint8Array[];
  /** Signals from the other side that arrived before this side's link existed. */
  inbox: SignalData[];
}

interface Pair {
  readonly a: Side;
  readonly b: Side;
  /** Signals that did not survive the JSON round trip and the schema (must stay 0). */
  invalidSignals: number;
}

const WAIT = { timeout: 10_000, interval: 5 };

const implementations: readonly (readonly [string, () => RtcConnector])[] = [
  ['in-memory', () => createMemoryNetwork({ clock: nodeClock(), latencyMs: 2 }).connector()],
  ['simple-peer + @roamhq/wrtc', () => nodeRtcConnector()],
];

const newSide = (): Side => ({ link: undefined, opened: 0, closes: [], received: [], inbox: [] });

/** Deterministic, position-dependent bytes, so a reordered or corrupted frame is caught. */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

/** Index of the first frame that differs (length or bytes), or -1 when all are identical. */
function firstDifference(got: readonly Uint8Array[], want: readonly Uint8Array[]): number {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (g === undefined || w === undefined || !Buffer.from(g).equals(Buffer.from(w))) return i;
  }
  return -1;
}

describe.each(implementations)('RtcLink contract: %s', (_name, makeConnector) => {
  const pairs: Pair[] = [];

  afterEach(() => {
    for (const p of pairs.splice(0)) {
      p.a.link?.close();
      p.b.link?.close();
    }
  });

  /**
   * Two links whose signals are relayed to each other as signaling would: through JSON and
   * the schema the server checks.
   */
  function connectPair(): Pair {
    const connect = makeConnector();
    const pair: Pair = { a: newSide(), b: newSide(), invalidSignals: 0 };
    const relay = (to: Side) => (data: SignalData) => {
      const parsed = parseSignalData(JSON.parse(JSON.stringify(data)));
      if (parsed === undefined) {
        pair.invalidSignals++;
        return;
      }
      if (to.link === undefined) to.inbox.push(parsed);
      else to.link.signal(parsed);
    };
    const handlers = (self: Side, other: Side) => ({
      onSignal: relay(other),
      onOpen: () => {
        self.opened++;
      },
      onData: (bytes: Uint8Array) => {
        self.received.push(bytes);
      },
      onClose: (reason: string) => {
        self.closes.push(reason);
      },
    });
    for (const [self, other, initiator] of [
      [pair.a, pair.b, true],
      [pair.b, pair.a, false],
    ] as const) {
      const link = connect({ initiator, iceServers: [], handlers: handlers(self, other) });
      self.link = link;
      for (const s of self.inbox.splice(0)) link.signal(s);
    }
    pairs.push(pair);
    return pair;
  }

  const links = (p: Pair) => ({ a: p.a.link!, b: p.b.link! });

  async function openPair(): Promise<Pair> {
    const p = connectPair();
    await vi.waitFor(() => {
      expect(p.a.opened).toBe(1);
      expect(p.b.opened).toBe(1);
    }, WAIT);
    expect(p.invalidSignals).toBe(0);
    return p;
  }

  it('opens both sides once signals are relayed both ways; send before open is refused', async () => {
    const p = connectPair();
    const { a, b } = links(p);
    expect(a.send(pattern(1, 1))).toBe(false);
    expect(b.send(pattern(1, 2))).toBe(false);
    await vi.waitFor(() => {
      expect(p.a.opened).toBe(1);
      expect(p.b.opened).toBe(1);
    }, WAIT);
    expect(p.invalidSignals).toBe(0);
    expect(p.a.closes).toEqual([]);
    expect(p.b.closes).toEqual([]);
    // Nothing sent before open may surface afterwards.
    expect(p.a.received).toEqual([]);
    expect(p.b.received).toEqual([]);
  });

  it('carries 1 B and 64 KiB frames both ways, complete and byte-identical', async () => {
    const p = await openPair();
    const { a, b } = links(p);
    const one = pattern(1, 3);
    const big = pattern(64 * 1024, 4);
    expect(a.send(one)).toBe(true);
    expect(a.send(big)).toBe(true);
    expect(b.send(big)).toBe(true);
    expect(b.send(one)).toBe(true);
    await vi.waitFor(() => {
      expect(p.b.received).toHaveLength(2);
      expect(p.a.received).toHaveLength(2);
    }, WAIT);
    expect(firstDifference(p.b.received, [one, big])).toBe(-1);
    expect(firstDifference(p.a.received, [big, one])).toBe(-1);
  });

  it('delivers many frames in order, unaffected by the sender reusing its buffer', async () => {
    const p = await openPair();
    const { a, b } = links(p);
    const sizes = Array.from({ length: 300 }, (_, i) => 1 + ((i * 7919) % 16_384));
    const sent: Uint8Array[] = [];
    const scratch = new Uint8Array(16_384);
    for (const [i, size] of sizes.entries()) {
      const frame = pattern(size, i);
      sent.push(frame);
      scratch.set(frame);
      expect(a.send(scratch.subarray(0, size))).toBe(true);
      // Overwritten at once: the link must have taken its own copy.
      scratch.fill(0xee);
      const buffered = a.bufferedAmount();
      expect(typeof buffered).toBe('number');
      expect(buffered).toBeGreaterThanOrEqual(0);
    }
    expect(b.send(pattern(5, 99))).toBe(true);
    await vi.waitFor(() => expect(p.b.received).toHaveLength(sizes.length), WAIT);
    expect(p.b.received.map((f) => f.length)).toEqual(sizes);
    expect(firstDifference(p.b.received, sent)).toBe(-1);
    await vi.waitFor(() => expect(p.a.received).toHaveLength(1), WAIT);
    await vi.waitFor(() => expect(a.bufferedAmount()).toBe(0), WAIT);
    expect(b.bufferedAmount()).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ['the initiator', 'a'],
    ['the answerer', 'b'],
  ] as const)(
    'close() by %s closes both sides exactly once; close twice and send after close are safe',
    async (_who, closer) => {
      const p = await openPair();
      const { a, b } = links(p);
      const [local, remote] = closer === 'a' ? [p.a, p.b] : [p.b, p.a];
      local.link!.close();
      expect(local.closes).toHaveLength(1);
      await vi.waitFor(() => expect(remote.closes).toHaveLength(1), WAIT);
      a.close();
      b.close();
      a.close();
      expect(p.a.closes).toHaveLength(1);
      expect(p.b.closes).toHaveLength(1);
      expect(a.send(pattern(3, 5))).toBe(false);
      expect(b.send(pattern(3, 6))).toBe(false);
      expect(a.bufferedAmount()).toBeGreaterThanOrEqual(0);
      expect(b.bufferedAmount()).toBeGreaterThanOrEqual(0);
      expect(p.a.opened).toBe(1);
      expect(p.b.opened).toBe(1);
    },
  );
});
