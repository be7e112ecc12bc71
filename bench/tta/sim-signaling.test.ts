import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type SignalingClientMessageOf } from '../../core';
import type { SignalingEvent } from '../../mesh';
import { createVirtualClock } from '../../mesh/node';
import { createSimSignaling } from './sim-signaling';

const hello = (name: string, config?: Record<string, unknown>) => () =>
  ({
    type: 'sig/hello',
    protocol: PROTOCOL_VERSION,
    room: 'r',
    name,
    kind: 'kiosk',
    ...(config === undefined ? {} : { config }),
  }) as SignalingClientMessageOf<'sig/hello'>;

describe('createSimSignaling', () => {
  it('welcomes peers with the lowest free slot, announces them, relays signals and leaves', async () => {
    const clock = createVirtualClock();
    const hub = createSimSignaling(clock);
    const seen: Record<string, SignalingEvent[]> = { a: [], b: [] };
    const a = hub.connect(hello('a', { strategy: 'bsp', maxPeers: 4 }));
    a.subscribe((e) => seen.a!.push(e));
    const b = hub.connect(hello('b', { strategy: 'dlion' }));
    b.subscribe((e) => seen.b!.push(e));
    await clock.runUntil(100);

    const welcome = (name: string) =>
      seen[name]!.flatMap((e) =>
        e.type === 'message' && e.message.type === 'sig/welcome' ? [e.message] : [],
      )[0]!;
    expect(seen.a![0]).toEqual({ type: 'open' });
    // The first hello creates the room; a later hello's config is ignored, as on the server.
    expect(welcome('a')).toMatchObject({
      slot: 0,
      peers: [],
      config: { strategy: 'bsp', maxPeers: 4 },
    });
    expect(welcome('b')).toMatchObject({ slot: 1, config: { strategy: 'bsp' } });
    expect(welcome('b').peers.map((p) => p.name)).toEqual(['a']);
    expect(seen.a!.some((e) => e.type === 'message' && e.message.type === 'sig/peer-joined')).toBe(
      true,
    );

    const bId = welcome('b').peerId;
    a.send({ type: 'sig/signal', to: bId, data: { type: 'offer', sdp: 'memory:1' } });
    await clock.runUntil(200);
    expect(seen.b!.at(-1)).toEqual({
      type: 'message',
      message: {
        type: 'sig/signal',
        from: welcome('a').peerId,
        data: { type: 'offer', sdp: 'memory:1' },
      },
    });

    a.close();
    a.close();
    await clock.runUntil(300);
    expect(seen.b!.at(-1)).toEqual({
      type: 'message',
      message: { type: 'sig/peer-left', peerId: welcome('a').peerId, reason: 'left' },
    });
    expect(a.send({ type: 'sig/heartbeat' })).toBe(false);
    // The freed slot goes to the next peer.
    const c = hub.connect(hello('c'));
    const cSeen: SignalingEvent[] = [];
    c.subscribe((e) => cSeen.push(e));
    await clock.runUntil(400);
    expect(cSeen.find((e) => e.type === 'message')).toMatchObject({ message: { slot: 0 } });
  });

  it('refuses a room config the server would refuse, fatally', async () => {
    const clock = createVirtualClock();
    const hub = createSimSignaling(clock);
    const seen: SignalingEvent[] = [];
    hub.connect(hello('a', { learningRate: -1 })).subscribe((e) => seen.push(e));
    await clock.runUntil(100);
    expect(seen.at(-1)).toMatchObject({
      type: 'message',
      message: { type: 'sig/error', code: 'config-invalid', fatal: true },
    });
    expect(hub.config()).toBeUndefined();
  });
});
