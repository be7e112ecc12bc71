/**
 * The in-memory link's own knobs on a hand-driven clock: latency, the bottleneck rate, what
 * bufferedAmount reports, how close travels, and which signals it refuses. The behaviour it
 * shares with the real link is checked in link-contract.test.ts.
 */

import { describe, expect, it } from 'vitest';
import type { SignalData } from '../core';
import { createMemoryNetwork, type MemoryNetwork } from './memory-link';
import { parseSignalData } from './signal-data';
import type { MeshClock, RtcConnector, RtcLink } from './types';

/** A clock that moves only when told to, firing due timers in time order. */
function manualClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: MeshClock = {
    now: () => now,
    wallNow: () => now,
    setTimer(ms, fn) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return () => {
        timers.delete(id);
      };
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      timers.delete(next[0]);
      now = next[1].at;
      next[1].fn();
    }
    now = end;
  };
  return { clock, advance, pending: () => timers.size };
}

interface Side {
  link: RtcLink;
  opened: number;
  closes: string[];
  received: { at: number; bytes: Uint8Array }[];
  signals: SignalData[];
}

function endpoint(connect: RtcConnector, initiator: boolean, clock?: MeshClock): Side {
  const side = { opened: 0, closes: [], received: [], signals: [] } as unknown as Side;
  side.link = connect({
    initiator,
    iceServers: [],
    handlers: {
      onSignal: (s) => side.signals.push(s),
      onOpen: () => {
        side.opened++;
      },
      onData: (bytes) => side.received.push({ at: clock?.now() ?? 0, bytes }),
      onClose: (reason) => side.closes.push(reason),
    },
  });
  return side;
}

/** Relays every signal emitted so far, both ways, until none are left. */
function relay(a: Side, b: Side): void {
  while (a.signals.length > 0 || b.signals.length > 0) {
    for (const s of a.signals.splice(0)) b.link.signal(s);
    for (const s of b.signals.splice(0)) a.link.signal(s);
  }
}

function openPair(net: MemoryNetwork, advance: (ms: number) => void, clock?: MeshClock) {
  const a = endpoint(net.connector(), true, clock);
  const b = endpoint(net.connector(), false, clock);
  advance(0); // the offer
  relay(a, b);
  advance(0); // the answer
  relay(a, b);
  advance(0); // the initiator opens
  return { a, b };
}

describe('in-memory link', () => {
  it('emits an offer and an answer that pass the signaling schema', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock });
    const a = endpoint(net.connector(), true);
    const b = endpoint(net.connector(), false);
    advance(0);
    expect(a.signals).toHaveLength(1);
    expect(parseSignalData(a.signals[0])).toEqual(a.signals[0]);
    expect(a.signals[0]?.type).toBe('offer');
    relay(a, b);
    expect(b.signals).toHaveLength(0); // the answer is asynchronous, like simple-peer's
    advance(0);
    expect(b.signals[0]?.type).toBe('answer');
    expect(parseSignalData(b.signals[0])).toEqual(b.signals[0]);
    relay(a, b);
    advance(0);
    expect([a.opened, b.opened]).toEqual([1, 1]);
  });

  it('delivers each frame after latencyMs; frames on their way are not in bufferedAmount', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock, latencyMs: 50 });
    const { a, b } = openPair(net, advance, clock);
    // The answerer opens when the initiator's side of the handshake reaches it.
    expect(a.opened).toBe(1);
    expect(b.opened).toBe(0);
    advance(50);
    expect(b.opened).toBe(1);
    const t0 = clock.now();
    expect(a.link.send(new Uint8Array(10))).toBe(true);
    expect(a.link.send(new Uint8Array(5))).toBe(true);
    // No bottleneck: both are transmitted at once, as a data channel's bufferedAmount says.
    expect(a.link.bufferedAmount()).toBe(0);
    advance(49);
    expect(b.received).toHaveLength(0);
    advance(1);
    expect(b.received.map((r) => [r.at - t0, r.bytes.length])).toEqual([
      [50, 10],
      [50, 5],
    ]);
    expect(a.link.bufferedAmount()).toBe(0);
  });

  it('serialises frames at bytesPerSec (a bottleneck), in order', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock });
    const a = endpoint(net.connector({ bytesPerSec: 1000, latencyMs: 10 }), true, clock);
    const b = endpoint(net.connector(), false, clock);
    advance(0);
    relay(a, b);
    advance(0);
    relay(a, b);
    advance(10);
    expect([a.opened, b.opened]).toEqual([1, 1]);
    const t0 = clock.now();
    for (const [i, n] of [100, 200, 100].entries()) a.link.send(new Uint8Array(n).fill(i));
    expect(a.link.bufferedAmount()).toBe(400);
    // The first frame has been serialised after 100 ms, though it arrives only at 110.
    advance(100);
    expect(a.link.bufferedAmount()).toBe(300);
    advance(10);
    expect(a.link.bufferedAmount()).toBe(300);
    advance(1000);
    expect(b.received.map((r) => [r.at - t0, r.bytes.length, r.bytes[0]])).toEqual([
      [110, 100, 0],
      [310, 200, 1],
      [410, 100, 2],
    ]);
    // The other direction has no cap of its own.
    b.link.send(new Uint8Array(1000));
    advance(0);
    expect(a.received).toHaveLength(1);
  });

  it('hands the receiver its own copy of each frame', () => {
    const { clock, advance } = manualClock();
    const { a, b } = openPair(createMemoryNetwork({ clock }), advance);
    const frame = Uint8Array.of(1, 2, 3);
    a.link.send(frame);
    frame.fill(9);
    advance(0);
    expect(Array.from(b.received[0]?.bytes ?? [])).toEqual([1, 2, 3]);
    expect(b.received[0]?.bytes.buffer).not.toBe(frame.buffer);
  });

  it('closes the other side behind the frames already sent, once per side', () => {
    const { clock, advance, pending } = manualClock();
    const net = createMemoryNetwork({ clock, latencyMs: 20 });
    const { a, b } = openPair(net, advance, clock);
    advance(20);
    expect(net.liveLinks()).toBe(2);
    a.link.send(new Uint8Array(4));
    a.link.close();
    a.link.close();
    expect(a.closes).toEqual(['closed locally']);
    expect(a.link.send(new Uint8Array(1))).toBe(false);
    expect(a.link.bufferedAmount()).toBe(0);
    expect(b.closes).toEqual([]);
    advance(20);
    expect(b.received).toHaveLength(1);
    expect(b.closes).toEqual(['closed by remote']);
    b.link.close();
    expect(b.closes).toHaveLength(1);
    expect(net.liveLinks()).toBe(0);
    expect(pending()).toBe(0);
  });

  it('closes the answerer when the initiator goes away before the answer', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock });
    const a = endpoint(net.connector(), true);
    const b = endpoint(net.connector(), false);
    advance(0);
    relay(a, b); // b took the offer; its answer is not yet out
    a.link.close();
    advance(0);
    expect(b.closes).toEqual(['closed by remote']);
    expect(b.opened).toBe(0);
    expect(net.liveLinks()).toBe(0);
  });

  it('refuses foreign or malformed offers and answers by closing, and ignores ICE', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock });
    const other = createMemoryNetwork({ clock });
    const stranger = endpoint(other.connector(), true);
    advance(0);
    const b = endpoint(net.connector(), false);
    b.link.signal({
      type: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 1.2.3.4 1 typ host' },
    });
    expect(b.closes).toEqual([]);
    b.link.signal(stranger.signals[0]!);
    expect(b.closes).toEqual([expect.stringMatching(/^bad signal: no link offered/)]);

    const c = endpoint(net.connector(), false);
    c.link.signal({ type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1' });
    expect(c.closes).toEqual([expect.stringMatching(/^bad signal/)]);

    const d = endpoint(net.connector(), true);
    d.link.signal({ type: 'answer', sdp: 'memory:999.1' });
    expect(d.closes).toEqual([expect.stringMatching(/^bad signal/)]);
    stranger.link.close();
  });

  it('takes a relayed duplicate offer once', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock });
    const a = endpoint(net.connector(), true);
    const b = endpoint(net.connector(), false);
    advance(0);
    const offer = a.signals[0]!;
    relay(a, b);
    b.link.signal(offer);
    advance(0);
    expect(b.signals).toHaveLength(1);
    relay(a, b);
    advance(0);
    expect([a.opened, b.opened, a.closes.length, b.closes.length]).toEqual([1, 1, 0, 0]);
  });

  it('fails the link on a frame larger than maxFrameBytes, as a data channel does', () => {
    const { clock, advance } = manualClock();
    const net = createMemoryNetwork({ clock, maxFrameBytes: 1024 });
    const { a, b } = openPair(net, advance);
    expect(a.link.send(new Uint8Array(1024))).toBe(true);
    expect(a.link.send(new Uint8Array(1025))).toBe(false);
    expect(a.closes).toEqual([expect.stringMatching(/^send failed/)]);
    advance(0);
    expect(b.received).toHaveLength(1);
    expect(b.closes).toEqual(['closed by remote']);
  });

  it('works without a clock (microtasks), and refuses delays it could not time', async () => {
    const net = createMemoryNetwork();
    const a = endpoint(net.connector(), true);
    const b = endpoint(net.connector(), false);
    const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
    await settle();
    relay(a, b);
    await settle();
    relay(a, b);
    await settle();
    expect([a.opened, b.opened]).toEqual([1, 1]);
    a.link.send(Uint8Array.of(7));
    await settle();
    expect(b.received.map((r) => r.bytes[0])).toEqual([7]);
    a.link.close();
    expect(() => createMemoryNetwork({ latencyMs: 5 })).toThrow(RangeError);
    expect(() => createMemoryNetwork({ bytesPerSec: 5 })).toThrow(RangeError);
    expect(() => createMemoryNetwork({ clock: manualClock().clock, latencyMs: -1 })).toThrow(
      RangeError,
    );
  });
});
