/**
 * The link session's send backlog (queuedMessages, onDequeued), which the queueing strategies'
 * gate waits on: two sessions over an in-memory link, with the emulation shaper capping one
 * side's uplink so that messages really wait in its queue.
 */

import { describe, expect, it } from 'vitest';
import { asPeerId, encodeUpdate } from '../core';
import { createLinkSession, type LinkMessage, type LinkSession } from './link-session';
import { createMemoryNetwork } from './memory-link';
import { nodeClock } from './node/clock';
import { waitFor } from './node/test-peers';
import { silentLogger } from './types';

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
