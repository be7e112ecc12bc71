/**
 * Edge servers federated through a real Redis (Debian's redis-server, started here on an
 * ephemeral port and stopped here): one room across servers, config created once, capacity
 * and slots federation-wide, relay across servers, Redis going away and coming back, a
 * server dying, and hostile input on Redis.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asPeerId, PROTOCOL_VERSION, type SignalingServerMessageOf } from '../core';
import { startRedis, type TestRedis } from './redis-test-support';
import type { SignalingServer } from './server';
import { createFixture, fetchMetrics, TestClient } from './test-support';
import { createToken, resumeKey } from './tokens';

const fx = createFixture();
let redis: TestRedis;
const raw: Redis[] = [];
const children: ChildProcess[] = [];
const TTL_MS = 1500;

beforeEach(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await fx.cleanup();
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  for (const r of raw.splice(0)) r.disconnect();
  await redis.stop();
});

const room = () => `fed-${Math.random().toString(36).slice(2, 9)}`;
/** Federated servers share the secret that signs resume keys. */
const RESUME_SECRET = 'federation-test-resume';
const federated = (serverId: string, extra: Parameters<typeof fx.start>[0] = {}) =>
  fx.start({
    redisUrl: redis.url,
    serverId,
    memberTtlMs: TTL_MS,
    resumeSecret: RESUME_SECRET,
    ...extra,
  });
/** The resume of `id` in `room`, with its key, as a peer that held it asks for it. */
const resumeOf = (room: string, id: string) => ({
  resume: { peerId: asPeerId(id), key: resumeKey(RESUME_SECRET, room, id) },
});

/** A Redis connection of the test's own (closed after it), to write behind the servers' backs. */
const rawRedis = (): Redis => {
  const c = new Redis(redis.url);
  raw.push(c);
  return c;
};

/** Server edge-a with one peer joined to a fresh room, and a raw Redis connection beside it. */
async function onePeerOnA() {
  const A = await federated('edge-a');
  const r = room();
  const a = await fx.client(A);
  const wa = await a.join(r);
  return { A, r, a, wa, evil: rawRedis() };
}

/** Polls `probe` until it returns something other than undefined, or fails after `ms`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ApiRoom {
  config: { strategy: string };
  peers: { id: string; server?: string; step?: number }[];
}
const api = async (s: SignalingServer, r: string): Promise<ApiRoom | undefined> => {
  const res = await fetch(`${s.url}/api/rooms/${r}`);
  return res.status === 200 ? ((await res.json()) as ApiRoom) : undefined;
};
const health = async (s: SignalingServer) =>
  (await (await fetch(`${s.url}/healthz`)).json()) as { status: string; redis: string };

const offer = { type: 'offer', sdp: 'v=0 fake offer' } as const;

describe('federation through Redis', () => {
  it('a room spans two servers: welcome, joins, relay both ways, and both APIs list both', async () => {
    const A = await federated('edge-a');
    const B = await federated('edge-b');
    const r = room();
    const a = await fx.client(A);
    const welcomeA = await a.join(r, { name: 'on-a' });
    const b = await fx.client(B);
    const welcomeB = await b.join(r, { name: 'on-b', site: 'south' });
    expect(welcomeB.peers.map((p) => p.id)).toEqual([welcomeA.peerId]);
    expect(welcomeB.slot).not.toBe(welcomeA.slot);
    const joined = await a.nextOf('sig/peer-joined');
    expect(joined.peer).toMatchObject({ id: welcomeB.peerId, name: 'on-b', site: 'south' });

    b.send({ type: 'sig/signal', to: welcomeA.peerId, data: offer });
    const atA = await a.nextOf('sig/signal');
    expect(atA).toEqual({ type: 'sig/signal', from: welcomeB.peerId, data: offer });
    a.send({ type: 'sig/signal', to: welcomeB.peerId, data: { type: 'answer', sdp: 'v=0 fake' } });
    expect((await b.nextOf('sig/signal')).from).toBe(welcomeA.peerId);

    for (const s of [A, B]) {
      const listed = await eventually('both peers listed', async () => {
        const body = await api(s, r);
        return body?.peers.length === 2 ? body : undefined;
      });
      const servers = Object.fromEntries(listed.peers.map((p) => [p.id, p.server]));
      expect(servers).toEqual({ [welcomeA.peerId]: 'edge-a', [welcomeB.peerId]: 'edge-b' });
      const rooms = (await (await fetch(`${s.url}/api/rooms`)).json()) as {
        rooms: { room: string; peers: number }[];
      };
      expect(rooms.rooms.find((x) => x.room === r)?.peers).toBe(2);
      expect(await health(s)).toMatchObject({ status: 'ok', redis: 'up' });
    }
    const m = await fetchMetrics(A.url);
    expect(m.get('dlion_redis_up')).toBe(1);
    expect(m.get('dlion_federation_signals_total{direction="received"}')).toBe(1);
    expect(m.get('dlion_federation_signals_total{direction="sent"}')).toBe(1);

    // Leaving on B reaches A's peer at once.
    b.send({ type: 'sig/leave' });
    const left = await a.nextOf('sig/peer-left');
    expect(left).toMatchObject({ peerId: welcomeB.peerId, reason: 'left' });
  });

  it("a resumed id is given back after this server's crash, never taken from another server", async () => {
    const A = await federated('edge-a');
    const r = room();
    const evil = rawRedis();
    // What a crash of edge-a (or of edge-b) leaves behind: a member key that has not expired.
    const stale = (id: string, server: string) =>
      evil.set(
        `dlion:v1:room:${r}:peer:${id}`,
        JSON.stringify({ v: 1, server, slot: 0, info: { id, name: 'old', kind: 'kiosk' } }),
        'PX',
        60_000,
      );
    await stale('1111111111111111', 'edge-a');
    await stale('2222222222222222', 'edge-b');
    const mine = await fx.client(A);
    expect((await mine.join(r, resumeOf(r, '1111111111111111'))).peerId).toBe('1111111111111111');
    const theirs = await fx.client(A);
    const w = await theirs.join(r, resumeOf(r, '2222222222222222'));
    expect(w.peerId).not.toBe('2222222222222222');
  });

  it('a member key that vanishes while Redis stays up is put back by its server', async () => {
    const { r, wa, evil } = await onePeerOnA();
    const key = `dlion:v1:room:${r}:peer:${wa.peerId}`;
    expect(await evil.exists(key)).toBe(1);
    await evil.del(key);
    await eventually('the key back', async () =>
      (await evil.exists(key)) === 1 ? true : undefined,
    );
    expect(JSON.parse((await evil.get(key)) ?? '{}')).toMatchObject({ server: 'edge-a' });
  });

  it('a hello whose socket closes while Redis is down leaves no ghost behind', async () => {
    const A = await federated('edge-a');
    const r = room();
    await redis.kill();
    await eventually('degraded', async () =>
      (await health(A)).status === 'degraded' ? true : undefined,
    );
    const gone = await fx.client(A);
    gone.send({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION,
      room: r,
      name: 'ghost',
      kind: 'browser',
    });
    gone.close();
    await gone.closed;
    const b = await fx.client(A);
    const wb = await b.join(r);
    expect(wb.peers).toEqual([]);
    expect((await api(A, r))?.peers.map((p) => p.id)).toEqual([wb.peerId]);
  }, 20_000);

  it('keeps rooms apart across servers', async () => {
    const A = await federated('edge-a');
    const B = await federated('edge-b');
    const a = await fx.client(A);
    await a.join(room());
    const b = await fx.client(B);
    const welcomeB = await b.join(room());
    expect(welcomeB.peers).toEqual([]);
    a.send({ type: 'sig/signal', to: welcomeB.peerId, data: offer });
    const e = await a.nextOf('sig/error');
    expect(e.code).toBe('unknown-peer');
    await expect(b.nextOf('sig/signal', 500)).rejects.toThrow(/timed out/);
    expect(b.received.some((m) => m.type === 'sig/peer-joined')).toBe(false);
  });

  it('two servers creating one room at the same moment agree on one config', async () => {
    const A = await federated('edge-a');
    const B = await federated('edge-b');
    for (let i = 0; i < 5; i++) {
      const r = room();
      const [a, b] = await Promise.all([fx.client(A), fx.client(B)]);
      const [wa, wb] = await Promise.all([
        a.join(r, { config: { strategy: 'bsp' } }),
        b.join(r, { config: { strategy: 'gaia' } }),
      ]);
      expect(wa.config).toEqual(wb.config);
      expect(['bsp', 'gaia']).toContain(wa.config.strategy);
      expect(wa.slot).not.toBe(wb.slot);
    }
  });

  it('the room capacity holds across servers; tokens signed with the shared secret work on both', async () => {
    const A = await federated('edge-a', { secret: 's3cret' });
    const B = await federated('edge-b', { secret: 's3cret' });
    const r = room();
    const token = createToken('s3cret', r, 600);
    const a = await fx.client(A);
    await a.join(r, { token, config: { maxPeers: 2 } });
    const b = await fx.client(B);
    const wb = await b.join(r, { token });
    expect(wb.config.maxPeers).toBe(2);
    const c = await fx.client(A);
    c.send({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION,
      room: r,
      name: 'third',
      kind: 'browser',
      token,
    });
    const refused = await c.nextOf('sig/error');
    expect(refused.code).toBe('room-full');
    const d = await fx.client(B);
    d.send({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION,
      room: r,
      name: 'forged',
      kind: 'browser',
      token: 'x.y',
    });
    expect((await d.nextOf('sig/error')).code).toBe('bad-token');
  });

  it('Redis down: each server serves its own peers, says degraded, and the federation recovers', async () => {
    const A = await federated('edge-a');
    const B = await federated('edge-b');
    const r = room();
    const a = await fx.client(A);
    const wa = await a.join(r);
    await redis.kill();
    for (const s of [A, B]) {
      await eventually('degraded', async () =>
        (await health(s)).status === 'degraded' ? true : undefined,
      );
    }
    expect((await fetchMetrics(A.url)).get('dlion_redis_up')).toBe(0);
    // Still serving: a second peer of A's joins the room on A and meets the first.
    const a2 = await fx.client(A);
    const wa2 = await a2.join(r);
    expect(wa2.peers.map((p) => p.id)).toEqual([wa.peerId]);
    a2.send({ type: 'sig/signal', to: wa.peerId, data: offer });
    expect((await a.nextOf('sig/signal')).from).toBe(wa2.peerId);

    await redis.restart();
    for (const s of [A, B]) {
      await eventually(
        'recovered',
        async () => ((await health(s)).status === 'ok' ? true : undefined),
        15_000,
      );
    }
    // A put its peers back in the fresh Redis: a newcomer on B meets both.
    const b = await fx.client(B);
    const wb = await eventually("a welcome that lists A's peers", async () => {
      const w = await b.join(r).catch(() => undefined);
      return w;
    });
    expect(wb.peers.map((p) => p.id).sort()).toEqual([wa.peerId, wa2.peerId].sort());
    b.send({ type: 'sig/signal', to: wa.peerId, data: offer });
    const relayed = await a.next(
      (m) => m.type === 'sig/signal' && m.from === wb.peerId,
      "the newcomer's offer, relayed through the restarted Redis",
    );
    expect(relayed).toMatchObject({ type: 'sig/signal', data: offer });
  }, 40_000);

  it("a killed server's peers leave the others' view within the TTL", async () => {
    const A = await federated('edge-a');
    const r = room();
    const a = await fx.client(A);
    const wa = await a.join(r);
    // Server B in its own process, so that it can die without a word.
    const child = spawn(
      process.execPath,
      ['bin/dlion.mjs', 'serve', '--port', '0', '--host', '127.0.0.1', '--static', '/nonexistent'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          REDIS_URL: redis.url,
          DLION_SERVER_ID: 'edge-b',
          DLION_MEMBER_TTL_MS: String(TTL_MS),
        },
      },
    );
    children.push(child);
    const wsUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server B did not start')), 20_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /websocket\s+(ws:\/\/\S+)/.exec(line);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const b = await TestClient.connect(wsUrl);
    const wb = await b.join(r);
    expect(wb.peers.map((p) => p.id)).toEqual([wa.peerId]);
    await a.nextOf('sig/peer-joined');
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const left = (await a.next(
      (m) => m.type === 'sig/peer-left',
      "peer-left for the dead server's peer",
      TTL_MS * 4,
    )) as SignalingServerMessageOf<'sig/peer-left'>;
    expect(left).toMatchObject({ peerId: wb.peerId, reason: 'timeout' });
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS * 2);
    expect((await api(A, r))?.peers.map((p) => p.id)).toEqual([wa.peerId]);
    b.close();
  }, 40_000);

  it('refuses and counts malformed or lying messages and values on Redis, and never crashes', async () => {
    const { A, r, a, wa, evil } = await onePeerOnA();
    const channel = `dlion:v1:room:${r}`;
    const own = 'dlion:v1:server:edge-a';
    const hostile = [
      [channel, 'not json {'],
      [channel, JSON.stringify({ v: 1, kind: 'joined', server: 'x', peer: { id: 'zz' } })],
      [channel, 'x'.repeat(100_000)],
      // A server that claims A's own peer.
      [
        channel,
        JSON.stringify({
          v: 1,
          kind: 'joined',
          server: 'evil',
          slot: 0,
          peer: { id: wa.peerId, name: 'me', kind: 'browser' },
        }),
      ],
      // A signal from a peer that is nobody's, and one on the room channel.
      [
        own,
        JSON.stringify({
          v: 1,
          kind: 'signal',
          server: 'evil',
          room: r,
          from: 'ffffffffffffffff',
          to: wa.peerId,
          data: offer,
        }),
      ],
      [
        channel,
        JSON.stringify({
          v: 1,
          kind: 'signal',
          server: 'evil',
          room: r,
          from: 'ffffffffffffffff',
          to: wa.peerId,
          data: offer,
        }),
      ],
      // A signal whose data would not pass a socket's check either.
      [
        own,
        JSON.stringify({
          v: 1,
          kind: 'signal',
          server: 'evil',
          room: r,
          from: 'ffffffffffffffff',
          to: wa.peerId,
          data: { type: 'offer', sdp: 5 },
        }),
      ],
    ] as const;
    for (const [ch, msg] of hostile) await evil.publish(ch, msg);
    // A stored member that is garbage, and one whose key names another id.
    await evil.sadd(`dlion:v1:room:${r}:ids`, 'aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb');
    await evil.set(`dlion:v1:room:${r}:peer:aaaaaaaaaaaaaaaa`, '{"v":1,"server":');
    await evil.set(
      `dlion:v1:room:${r}:peer:bbbbbbbbbbbbbbbb`,
      JSON.stringify({
        v: 1,
        server: 'evil',
        slot: 1,
        info: { id: 'cccccccccccccccc', name: 'x', kind: 'browser' },
      }),
    );
    const m = await eventually('the refusals counted', async () => {
      const metrics = await fetchMetrics(A.url);
      return (metrics.get('dlion_federation_rejected_total') ?? 0) >= hostile.length
        ? metrics
        : undefined;
    });
    expect(m.get('dlion_federation_signals_total{direction="received"}')).toBe(0);
    expect(
      a.received.filter((x) => x.type === 'sig/signal' || x.type === 'sig/peer-joined'),
    ).toEqual([]);
    const listed = await api(A, r);
    expect(listed?.peers.map((p) => p.id)).toEqual([wa.peerId]);
    // Still serving.
    expect(await health(A)).toMatchObject({ status: 'ok' });
    const a2 = await fx.client(A);
    expect((await a2.join(r)).peers.map((p) => p.id)).toEqual([wa.peerId]);
  });
});
