/**
 * The link session's send backlog (queuedMessages, onDequeued), which the queueing strategies'
 * gate waits on: two sessions over an in-memory link, with the emulation shaper capping one
 * side's uplink so that messages really wait in its queue.
 */

import { describe, expect, it } from 'vitest';
import { asPeerId, encodeUpdate, maxMessageBytes } from '../core';
import { createLinkSession, type LinkMessage, type LinkSession } from './link-session';
import { createMemoryNetwork } from './memory-link';
import { nodeClock } from './node/clock';
import { waitFor } from './node/test-peers';
import { createVirtualClock } from './node/virtual-clock';
import { type MeshClock, silentLogger } from './types';

const update = (step: number, n: number) =>
  encodeUpdate(
    { step, batchSize: 8, capacity: 100, weight: 0.5, paramCount: n, valueType: 'f32' },
    { encoding: 'dense', values: new Float32Array(n).fill(0.01) },
  );

describe('link session send backlog', () => {
  it('counts queued messages until their last frame leaves, and says so each time', async () => {
    const clock = nodeClock();
    const network = createMemoryNetwork({ clock });
    const connector = network.connector();
    const got: LinkMessage[] = [];
    let dequeued = 0;
    let a: LinkSession | undefined;
    let b: LinkSession | undefined;
    const make = (self: string, other: string, initiator: boolean, capBps: number | undefined) =>
      createLinkSession({
        remote: asPeerId(other),
        clock,
        log: silentLogger,
        connect: (handlers) => connector({ initiator, iceServers: [], handlers }),
        onSignal: (data) => (self === 'a' ? b : a)?.signal(data),
        shaping: () => ({ capBps, latencyMs: 0 }),
        onOpen: () => {},
        onMessage: (m) => {
          if (self === 'b') got.push(m);
        },
        onRefused: () => {},
        onClose: () => {},
        ...(self === 'a' ? { onDequeued: () => dequeued++ } : {}),
      });
    // 4 Mbit/s: a 100 kB message takes 0.2 s to leave a's queue.
    a = make('a', 'b', true, 4e6);
    b = make('b', 'a', false, undefined);
    await waitFor('the link opens', () => (a!.isOpen() && b!.isOpen() ? true : undefined), 5000);
    expect(a.queuedMessages()).toBe(0);

    for (let step = 0; step < 3; step++) a.send(update(step, 25_000), false);
    expect(a.queuedMessages()).toBe(3);
    expect(a.drained()).toBe(false);
    await waitFor(
      'the first message leaves the queue',
      () => (dequeued >= 1 ? true : undefined),
      5000,
      5,
    );
    expect(a.queuedMessages()).toBe(3 - dequeued);
    await waitFor('all three are delivered', () => (got.length === 3 ? true : undefined), 5000);
    expect(a.queuedMessages()).toBe(0);
    expect(dequeued).toBe(3);
    a.close('done');
    b.close('done');
    expect(a.queuedMessages()).toBe(0);
  });
});

describe('the emulation shaper on a late clock', () => {
  it('catches up at most 20 ms of its schedule: no burst beyond it, most of the rate kept', async () => {
    const clock = createVirtualClock();
    // The sender's timers fire 30 ms late, as on a busy tab; the network itself is punctual.
    const late: MeshClock = {
      now: () => clock.now(),
      wallNow: () => clock.wallNow(),
      setTimer: (ms, fn) => clock.setTimer(ms + 30, fn),
    };
    const network = createMemoryNetwork({ clock });
    const connector = network.connector();
    const handed: { at: number; bytes: number }[] = [];
    const sessions: { a?: LinkSession; b?: LinkSession } = {};
    const capBps = 4e6;
    const make = (self: 'a' | 'b') =>
      createLinkSession({
        remote: asPeerId(self === 'a' ? 'b' : 'a'),
        clock: self === 'a' ? late : clock,
        log: silentLogger,
        connect: (handlers) => {
          const link = connector({ initiator: self === 'a', iceServers: [], handlers });
          if (self === 'b') return link;
          return {
            ...link,
            send: (bytes: Uint8Array) => {
              if (bytes.length > 100) handed.push({ at: clock.now(), bytes: bytes.length });
              return link.send(bytes);
            },
          };
        },
        onSignal: (data) => sessions[self === 'a' ? 'b' : 'a']?.signal(data),
        shaping: () => ({ capBps: self === 'a' ? capBps : undefined, latencyMs: 0 }),
        onOpen: () => {},
        onMessage: () => {},
        onRefused: () => {},
        onClose: () => {},
      });
    sessions.a = make('a');
    sessions.b = make('b');
    await clock.runUntil(500);
    expect(sessions.a.isOpen()).toBe(true);
    const start = clock.now();
    // 2 s of the cap in one go: 1 MB.
    sessions.a.send(update(1, 250_000), false);
    await clock.runUntil(start + 2000);
    const bytes = handed.reduce((sum, h) => sum + h.bytes, 0);
    const rate = (bytes * 8) / 2; // bits per second over the 2 s
    expect(rate).toBeGreaterThan(0.5 * capBps);
    expect(rate).toBeLessThanOrEqual(capBps * 1.01);
    // Frames handed over at one instant: never more than 20 ms of the cap plus one frame.
    const atOnce = new Map<number, number>();
    for (const h of handed) atOnce.set(h.at, (atOnce.get(h.at) ?? 0) + h.bytes);
    const burst = Math.max(...atOnce.values());
    const frame = Math.max(...handed.map((h) => h.bytes));
    expect(burst).toBeLessThanOrEqual((capBps / 8) * 0.02 + frame);
    expect(burst).toBeGreaterThan(frame); // it does catch up, rather than fall behind
    sessions.a.close('done');
    sessions.b.close('done');
  });
});

describe('the longest message a link accepts', () => {
  it('refuses a message beyond its model’s bound at every chunk, and takes one within it', async () => {
    const clock = nodeClock();
    const network = createMemoryNetwork({ clock });
    const connector = network.connector();
    const got: LinkMessage[] = [];
    const refused: string[] = [];
    const sessions: { a?: LinkSession; b?: LinkSession } = {};
    // b's model has 2 000 parameters; the probe (4 MiB) is the largest message it needs.
    const limit = maxMessageBytes(2000);
    const make = (self: 'a' | 'b') =>
      createLinkSession({
        remote: asPeerId(self === 'a' ? 'b' : 'a'),
        clock,
        log: silentLogger,
        ...(self === 'b' ? { maxMessageBytes: limit } : {}),
        connect: (handlers) => connector({ initiator: self === 'a', iceServers: [], handlers }),
        onSignal: (data) => sessions[self === 'a' ? 'b' : 'a']?.signal(data),
        shaping: () => ({ capBps: undefined, latencyMs: 0 }),
        onOpen: () => {},
        onMessage: (m) => {
          if (self === 'b') got.push(m);
        },
        onRefused: (kind, message) => {
          if (self === 'b') refused.push(`${kind}: ${message}`);
        },
        onClose: () => {},
      });
    sessions.a = make('a');
    sessions.b = make('b');
    const { a, b } = sessions as Required<typeof sessions>;
    await waitFor('the link opens', () => (a.isOpen() && b.isOpen() ? true : undefined), 5000);
    // 1.1M parameters (4.4 MB): more than the bound; every one of its chunks is refused.
    const big = update(1, 1_100_000);
    expect(big.length).toBeGreaterThan(limit);
    a.send(big, false);
    a.send(update(2, 2000), false);
    await waitFor('the small update arrives', () => (got.length === 1 ? true : undefined), 5000);
    expect(got[0]?.kind).toBe('update');
    // However the sender cut it (its chunk size follows the link's rate), one refusal per chunk.
    expect(refused.length).toBeGreaterThanOrEqual(Math.ceil(big.length / 65_508));
    expect(refused.every((r) => r.startsWith('bad-frame') && r.includes('exceeds'))).toBe(true);
    a.close('done');
    b.close('done');
  });
});
