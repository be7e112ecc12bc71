import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../core';
import { createFixture, fetchMetrics, hello, TestClient, withDeadline } from './test-support';

const fx = createFixture();
afterEach(() => fx.cleanup());

const reject = (metrics: Map<string, number>, reason: string) =>
  metrics.get(`dlion_rejects_total{reason="${reason}"}`);

describe('bad input', () => {
  it('answers each kind with its code, counts it, and keeps serving others', async () => {
    const server = await fx.start({
      limits: { maxMessageBytes: 4096, violationsBeforeClose: 100 },
    });
    const bystanderA = await fx.client(server);
    const bystanderB = await fx.client(server);
    await bystanderA.join('calm');
    const wb = await bystanderB.join('calm');

    const bad = await fx.client(server);
    await bad.join('noisy');
    const cases: [string, () => void, string][] = [
      ['invalid JSON', () => bad.send('{"type": "sig/hea'), 'invalid-message'],
      ['wrong types', () => bad.send({ type: 'sig/signal', to: 42, data: 'x' }), 'invalid-message'],
      ['unknown type', () => bad.send({ type: 'sig/teleport' }), 'invalid-message'],
      ['not an object', () => bad.send('[1,2,3]'), 'invalid-message'],
      ['oversized', () => bad.send({ type: 'sig/heartbeat', pad: 'x'.repeat(5000) }), 'too-large'],
      ['binary', () => bad.ws.send(Buffer.from([1, 2, 3])), 'invalid-message'],
      ['second hello', () => bad.send(hello('noisy')), 'invalid-message'],
      [
        'status of another peer',
        () =>
          bad.send({
            type: 'sig/status',
            status: {
              id: wb.peerId,
              name: 'x',
              kind: 'browser',
              backend: 'cpu',
              strategy: 'dlion',
              step: 0,
              batchSize: 0,
              weight: 0,
              capacity: 0,
              loss: null,
              valAccuracy: null,
              links: [],
              merges: [],
            },
          }),
        'invalid-message',
      ],
    ];
    for (const [what, act, code] of cases) {
      const before = reject(await fetchMetrics(server.url), code) ?? 0;
      act();
      const e = await bad.nextOf('sig/error');
      expect({ what, code: e.code, fatal: e.fatal }).toEqual({ what, code, fatal: false });
      expect(reject(await fetchMetrics(server.url), code)).toBe(before + 1);
      // Other clients are still served: a relay inside the calm room goes through.
      bystanderA.send({
        type: 'sig/signal',
        to: wb.peerId,
        data: { type: 'renegotiate', renegotiate: true },
      });
      await bystanderB.nextOf('sig/signal');
    }
    const schemaError = bad.received.find((m) => m.type === 'sig/error' && m.issues);
    expect(schemaError).toBeDefined();
  });

  it('closes a socket after repeated violations', async () => {
    const server = await fx.start({ limits: { violationsBeforeClose: 3 } });
    const c = await fx.client(server);
    await c.join('lab');
    for (let i = 0; i < 3; i++) c.send('not json');
    const errors = [
      await c.nextOf('sig/error'),
      await c.nextOf('sig/error'),
      await c.nextOf('sig/error'),
    ];
    expect(errors.map((e) => e.fatal)).toEqual([false, false, true]);
    expect((await c.closed).code).toBe(1008);
    const other = await fx.client(server);
    await other.join('lab');
  });

  it('rate-limits a flood per socket', async () => {
    const server = await fx.start({
      limits: { messagesPerSecond: 5, burst: 10, violationsBeforeClose: 1000 },
    });
    const flooder = await fx.client(server);
    await flooder.join('lab');
    for (let i = 0; i < 50; i++) flooder.send({ type: 'sig/heartbeat' });
    const e = await flooder.nextOf('sig/error');
    expect(e.code).toBe('rate-limited');
    expect(reject(await fetchMetrics(server.url), 'rate-limited')).toBeGreaterThanOrEqual(30);
    // Another socket has its own bucket.
    const calm = await fx.client(server);
    await calm.join('lab');
  });

  it('closes a flooding socket once it passes the violation limit', async () => {
    const server = await fx.start({
      limits: { messagesPerSecond: 5, burst: 5, violationsBeforeClose: 5 },
    });
    const flooder = await fx.client(server);
    await flooder.join('lab');
    for (let i = 0; i < 100; i++) flooder.send({ type: 'sig/heartbeat' });
    expect((await withDeadline(flooder.closed, 'the flooder to be closed')).code).toBe(1008);
    const errors = flooder.received.filter((m) => m.type === 'sig/error');
    expect(errors).toHaveLength(5);
    expect(errors.at(-1)).toMatchObject({ code: 'rate-limited', fatal: true });
  });

  it('cuts off a frame far above the limit without reading it into a message', async () => {
    const server = await fx.start({ limits: { maxMessageBytes: 2048 } });
    const c = await fx.client(server);
    await c.join('lab');
    c.send('x'.repeat(2048 * 4 + 1));
    expect((await c.closed).code).toBe(1009);
    expect(reject(await fetchMetrics(server.url), 'too-large')).toBe(1);
  });
});

describe('capacity limits', () => {
  it('refuses sockets beyond the per-address limit', async () => {
    const server = await fx.start({ limits: { socketsPerAddress: 2 } });
    await fx.client(server);
    await fx.client(server);
    const third = await fx.client(server);
    expect(await third.nextOf('sig/error')).toMatchObject({
      code: 'too-many-sockets',
      fatal: true,
    });
    await third.closed;
  });

  it("refuses a peer beyond the room's maxPeers and rooms beyond maxRooms", async () => {
    const server = await fx.start({ limits: { maxRooms: 1 } });
    const a = await fx.client(server);
    await a.join('lab', { config: { maxPeers: 2 } });
    await (await fx.client(server)).join('lab');
    const third = await fx.client(server);
    third.send(hello('lab'));
    expect(await third.nextOf('sig/error')).toMatchObject({ code: 'room-full', fatal: true });
    const another = await fx.client(server);
    another.send(hello('second'));
    expect(await another.nextOf('sig/error')).toMatchObject({
      code: 'too-many-rooms',
      fatal: true,
    });
  });

  it('applies the server-wide peers-per-room cap below the config', async () => {
    const server = await fx.start({ limits: { peersPerRoom: 1 } });
    await (await fx.client(server)).join('lab');
    const second = await fx.client(server);
    second.send(hello('lab'));
    expect(await second.nextOf('sig/error')).toMatchObject({ code: 'room-full' });
  });

  it('serves 500 concurrent clients on loopback', async () => {
    const n = 500;
    const server = await fx.start({ limits: { socketsPerAddress: n + 10 } });
    const clients = await Promise.all(
      Array.from({ length: n }, () => TestClient.connect(server.wsUrl)),
    );
    try {
      const welcomes = await Promise.all(
        clients.map((c, i) =>
          c.join(`room-${i % 50}`, { name: `peer ${i}`, protocol: PROTOCOL_VERSION }),
        ),
      );
      expect(new Set(welcomes.map((w) => w.peerId)).size).toBe(n);
      const m = await fetchMetrics(server.url);
      expect(m.get('dlion_peers')).toBe(n);
      expect(m.get('dlion_rooms')).toBe(50);
      expect(clients.every((c) => c.malformed.length === 0)).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('fuzz', () => {
  it('survives arbitrary frames without an internal error', async () => {
    const server = await fx.start({
      limits: { messagesPerSecond: 100_000, burst: 100_000, violationsBeforeClose: 100_000 },
    });
    const c = await fx.client(server);
    await c.join('lab');
    const types = ['sig/hello', 'sig/signal', 'sig/heartbeat', 'sig/status', 'sig/leave-not'];
    const frames = fc.sample(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.record({ type: fc.constantFrom(...types), to: fc.anything(), data: fc.anything() }),
        fc.record({ type: fc.constant('sig/status'), status: fc.anything() }),
        fc.record({
          type: fc.constant('sig/hello'),
          protocol: fc.anything(),
          config: fc.anything(),
        }),
      ),
      { numRuns: 300, seed: 4 },
    );
    for (const f of frames) c.send(typeof f === 'string' ? f : JSON.stringify(f));
    // Every frame was answered (an error, or nothing for a valid heartbeat) before this one.
    c.send({ type: 'sig/signal', to: 'marker', data: { type: 'renegotiate', renegotiate: true } });
    await c.next((m) => m.type === 'sig/error' && m.message.includes("'marker'"), 'the marker');
    const m = await fetchMetrics(server.url);
    expect(reject(m, 'internal')).toBe(0);
    expect(c.malformed).toEqual([]);
    await (await fx.client(server)).join('lab');
  });
});
