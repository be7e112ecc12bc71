import { afterEach, describe, expect, it } from 'vitest';
import { asPeerId, PROTOCOL_VERSION, type SignalData } from '../core';
import { createFixture, TestClient, withDeadline } from './test-support';
import { createToken } from './tokens';

const fx = createFixture();
afterEach(() => fx.cleanup());

const OFFER: SignalData = { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' };

describe('rooms', () => {
  it('welcomes a peer with the room config, the live peers and the ICE servers', async () => {
    const iceServers = [{ urls: 'stun:stun.edge.local:3478' }];
    const server = await fx.start({ iceServers, heartbeatMs: 1234 });
    const a = await fx.client(server);
    const wa = await a.join('lab', { name: 'alice', site: 'siteA' });
    expect(wa.protocol).toBe(PROTOCOL_VERSION);
    expect(wa.peerId).toMatch(/^[0-9a-f]{16}$/);
    expect(wa.room).toBe('lab');
    expect(wa.peers).toEqual([]);
    expect(wa.iceServers).toEqual(iceServers);
    expect(wa.heartbeatMs).toBe(1234);
    expect(wa.config.strategy).toBe('dlion');

    const b = await fx.client(server);
    const wb = await b.join('lab', { name: 'bob', kind: 'kiosk' });
    expect(wb.peerId).not.toBe(wa.peerId);
    expect(wb.peers).toEqual([{ id: wa.peerId, name: 'alice', kind: 'browser', site: 'siteA' }]);
    const joined = await a.nextOf('sig/peer-joined');
    expect(joined.peer).toEqual({ id: wb.peerId, name: 'bob', kind: 'kiosk' });
    expect(a.malformed).toEqual([]);
    expect(b.malformed).toEqual([]);
  });

  it("gives each peer the lowest free shard slot, and reuses a leaver's slot", async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const b = await fx.client(server);
    const c = await fx.client(server);
    expect((await a.join('lab')).slot).toBe(0);
    const wb = await b.join('lab');
    expect(wb.slot).toBe(1);
    expect((await c.join('lab')).slot).toBe(2);
    // Slots are per room: another room starts again at 0.
    const other = await fx.client(server);
    expect((await other.join('elsewhere')).slot).toBe(0);

    b.send({ type: 'sig/leave' });
    expect((await a.nextOf('sig/peer-left')).peerId).toBe(wb.peerId);
    const d = await fx.client(server);
    expect((await d.join('lab')).slot).toBe(1);
    // Every slot is taken again: the next joiner gets the first one above them.
    const e = await fx.client(server);
    expect((await e.join('lab')).slot).toBe(3);
  });

  it('relays signals between peers of a room, with the sender as `from`', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const b = await fx.client(server);
    const wa = await a.join('lab');
    const wb = await b.join('lab');
    a.send({ type: 'sig/signal', to: wb.peerId, data: OFFER });
    const got = await b.nextOf('sig/signal');
    expect(got).toEqual({ type: 'sig/signal', from: wa.peerId, data: OFFER });
    const candidate: SignalData = {
      type: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0' },
    };
    b.send({ type: 'sig/signal', to: wa.peerId, data: candidate });
    expect((await a.nextOf('sig/signal')).data).toEqual(candidate);
  });

  it('announces a leave and a closed socket, and deletes the empty room', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const b = await fx.client(server);
    const c = await fx.client(server);
    await a.join('lab');
    const wb = await b.join('lab');
    const wc = await c.join('lab');
    b.send({ type: 'sig/leave' });
    expect(await a.nextOf('sig/peer-left')).toEqual({
      type: 'sig/peer-left',
      peerId: wb.peerId,
      reason: 'left',
    });
    expect((await b.closed).code).toBe(1000);
    c.close();
    expect((await a.nextOf('sig/peer-left')).peerId).toBe(wc.peerId);
    a.send({ type: 'sig/leave' });
    await a.closed;
    const rooms = await withDeadline(
      (async () => {
        for (;;) {
          const body = (await (await fetch(`${server.url}/api/rooms`)).json()) as {
            rooms: unknown[];
          };
          if (body.rooms.length === 0) return body.rooms;
        }
      })(),
      'the empty room to be deleted',
    );
    expect(rooms).toEqual([]);
  });

  it('evicts a peer whose heartbeats stop and whose socket answers no ping, and keeps one that sends them', async () => {
    const server = await fx.start({ heartbeatMs: 100, evictAfterMs: 300 });
    const silent = await fx.client(server, { autoPong: false });
    const alive = await fx.client(server);
    const ws = await silent.join('lab');
    await alive.join('lab');
    const beat = setInterval(() => alive.send({ type: 'sig/heartbeat', atMs: Date.now() }), 50);
    try {
      const left = await alive.nextOf('sig/peer-left', 3000);
      expect(left).toEqual({ type: 'sig/peer-left', peerId: ws.peerId, reason: 'timeout' });
      expect((await withDeadline(silent.closed, 'the evicted socket to close')).code).toBe(4000);
      const m = await (await fetch(`${server.url}/metrics`)).text();
      expect(m).toMatch(/^dlion_evictions_total 1$/m);
      expect(m).toMatch(/^dlion_peers 1$/m);
    } finally {
      clearInterval(beat);
    }
  });

  it('keeps a peer whose script is too busy for heartbeats while its socket answers pings', async () => {
    // A busy tab: the browser's network stack answers the server's pings, its page sends
    // nothing. It stays in the room (and in the API) for many eviction periods.
    const server = await fx.start({ heartbeatMs: 100, evictAfterMs: 300 });
    const busy = await fx.client(server);
    const alive = await fx.client(server);
    const wb = await busy.join('lab');
    await alive.join('lab');
    const beat = setInterval(() => alive.send({ type: 'sig/heartbeat', atMs: Date.now() }), 50);
    try {
      const started = Date.now();
      let pongsSeen = 0;
      busy.ws.on('ping', () => pongsSeen++);
      while (Date.now() - started < 2000) {
        const room = (await (await fetch(`${server.url}/api/rooms/lab`)).json()) as {
          peers: { id: string }[];
        };
        expect(room.peers.map((p) => p.id)).toContain(wb.peerId);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(pongsSeen).toBeGreaterThan(5);
      expect(alive.received.filter((m) => m.type === 'sig/peer-left')).toEqual([]);
      const m = await (await fetch(`${server.url}/metrics`)).text();
      expect(m).toMatch(/^dlion_evictions_total 0$/m);
    } finally {
      clearInterval(beat);
    }
  });

  it('never delivers a signal addressed to another room', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const b = await fx.client(server);
    const other = await fx.client(server);
    await a.join('red');
    await b.join('red');
    const wo = await other.join('blue');
    a.send({ type: 'sig/signal', to: wo.peerId, data: OFFER });
    const e = await a.nextOf('sig/error');
    expect(e.code).toBe('unknown-peer');
    expect(e.fatal).toBe(false);
    // The error proves the stray signal was handled. Anything the server sends `other`
    // afterwards (here: a join in its room) arrives after the stray signal would have.
    const marker = await fx.client(server);
    await marker.join('blue');
    await other.nextOf('sig/peer-joined');
    expect(other.received.some((m) => m.type === 'sig/signal')).toBe(false);
    expect(b.received.some((m) => m.type === 'sig/signal')).toBe(false);
  });

  it('fixes the room config at creation; joiners cannot change it', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const wa = await a.join('lab', { config: { strategy: 'bsp', staleness: 0, seed: 7 } });
    expect(wa.config).toMatchObject({ strategy: 'bsp', staleness: 0, seed: 7, model: 'mlp' });
    const b = await fx.client(server);
    const wb = await b.join('lab', { config: { strategy: 'gaia', seed: 9 } });
    expect(wb.config).toEqual(wa.config);
    // A stale or broken config from a joiner is ignored, not refused.
    const c = await fx.client(server);
    const wc = await c.join('lab', { config: { globalBatch: -1 } });
    expect(wc.config).toEqual(wa.config);
    const api = (await (await fetch(`${server.url}/api/rooms/lab`)).json()) as {
      config: unknown;
    };
    expect(api.config).toEqual(wa.config);
  });

  it("refuses a creator's invalid config with its issues", async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    a.send({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION,
      room: 'lab',
      name: 'a',
      kind: 'browser',
      config: { globalBatch: 1, nonsense: true },
    });
    const e = await a.nextOf('sig/error');
    expect(e.code).toBe('config-invalid');
    expect(e.fatal).toBe(true);
    expect(e.issues?.length).toBeGreaterThan(0);
    expect((await a.closed).code).toBe(1008);
    // The room was not created.
    expect((await fetch(`${server.url}/api/rooms/lab`)).status).toBe(404);
  });

  it('refuses an unsupported protocol version and a message before the hello', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    a.send({
      type: 'sig/hello',
      protocol: PROTOCOL_VERSION + 1,
      room: 'lab',
      name: 'a',
      kind: 'browser',
    });
    expect(await a.nextOf('sig/error')).toMatchObject({ code: 'protocol-version', fatal: true });
    const b = await fx.client(server);
    b.send({ type: 'sig/heartbeat' });
    expect(await b.nextOf('sig/error')).toMatchObject({ code: 'not-joined', fatal: true });
    await b.closed;
  });

  it('grants a resumed id only when it is not live: never hijacks', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const wa = await a.join('lab');
    const b = await fx.client(server);
    // Even with the key: the id is live.
    const wb = await b.join('lab', { resume: { peerId: wa.peerId, key: wa.resumeKey! } });
    expect(wb.peerId).not.toBe(wa.peerId);
    a.send({ type: 'sig/leave' });
    await b.nextOf('sig/peer-left');
    const c = await fx.client(server);
    const wc = await c.join('lab', { resume: { peerId: wa.peerId, key: wa.resumeKey! } });
    expect(wc.peerId).toBe(wa.peerId);
    // The same key again with the id: it is the holder's for good, not one use.
    expect(wc.resumeKey).toBe(wa.resumeKey);
  });

  it('resumes an id only with its key: without it, or with a key of another id or room, a new id, counted', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const wa = await a.join('lab');
    const other = await (await fx.client(server)).join('lab');
    const elsewhere = await (await fx.client(server)).join('den');
    a.send({ type: 'sig/leave' });
    await withDeadline(a.closed, 'a to leave');
    const tries = [
      { what: 'no key', resume: { peerId: wa.peerId } },
      { what: "another id's key", resume: { peerId: wa.peerId, key: other.resumeKey! } },
      { what: "another room's key", resume: { peerId: wa.peerId, key: elsewhere.resumeKey! } },
      { what: 'a made-up key', resume: { peerId: wa.peerId, key: 'A'.repeat(43) } },
    ];
    for (const t of tries) {
      const w = await (await fx.client(server)).join('lab', { resume: t.resume });
      expect({ what: t.what, same: w.peerId === wa.peerId }).toEqual({ what: t.what, same: false });
    }
    const m = await (await fetch(`${server.url}/metrics`)).text();
    expect(m).toMatch(/^dlion_resumes_refused_total 4$/m);
    // The holder still gets it back.
    const back = await (await fx.client(server)).join('lab', {
      resume: { peerId: wa.peerId, key: wa.resumeKey! },
    });
    expect(back.peerId).toBe(wa.peerId);
  });

  it('signs resume keys with resumeSecret: a second server with the same one resumes the id', async () => {
    const first = await fx.start({ resumeSecret: 'shared-resume-secret' });
    const w = await (await fx.client(first)).join('lab');
    const second = await fx.start({ resumeSecret: 'shared-resume-secret' });
    const again = await (await fx.client(second)).join('lab', {
      resume: { peerId: w.peerId, key: w.resumeKey! },
    });
    expect(again.peerId).toBe(w.peerId);
    // A server with another resume secret does not take the key.
    const third = await fx.start({ resumeSecret: 'another-resume-secret' });
    const not = await (await fx.client(third)).join('lab', {
      resume: { peerId: w.peerId, key: w.resumeKey! },
    });
    expect(not.peerId).not.toBe(w.peerId);
  });

  it('without a resume secret, grants an id it never handed out (a restart), keyless, but not one it did', async () => {
    const server = await fx.start();
    const stranger = await (await fx.client(server)).join('lab', {
      resume: { peerId: asPeerId('0123456789abcdef') },
    });
    expect(stranger.peerId).toBe('0123456789abcdef');
    const a = await fx.client(server);
    const wa = await a.join('lab');
    a.send({ type: 'sig/leave' });
    await withDeadline(a.closed, 'a to leave');
    const taken = await (await fx.client(server)).join('lab', { resume: { peerId: wa.peerId } });
    expect(taken.peerId).not.toBe(wa.peerId);
  });

  it('tells peers the server is going away on close', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    await a.join('lab');
    await server.close();
    expect((await a.closed).code).toBe(1001);
    await server.close(); // idempotent
    await expect(TestClient.connect(server.wsUrl)).rejects.toThrow();
  });
});

describe('join tokens', () => {
  const secret = 'edge-secret';

  it('admits a valid token and refuses missing, wrong, expired and other-room ones', async () => {
    const server = await fx.start({ secret });
    const ok = await fx.client(server);
    await ok.join('lab', { token: createToken(secret, 'lab') });

    const cases: [string, string | undefined, string][] = [
      ['missing', undefined, 'token-required'],
      ['wrong secret', createToken('other-secret', 'lab'), 'bad-token'],
      ['expired', createToken(secret, 'lab', 1, Date.now() - 10_000), 'bad-token'],
      ['other room', createToken(secret, 'other'), 'bad-token'],
      ['garbage', 'not-a-token', 'bad-token'],
    ];
    for (const [what, token, code] of cases) {
      const c = await fx.client(server);
      c.send({
        type: 'sig/hello',
        protocol: PROTOCOL_VERSION,
        room: 'lab',
        name: 'x',
        kind: 'browser',
        ...(token !== undefined ? { token } : {}),
      });
      const e = await c.nextOf('sig/error');
      expect({ what, code: e.code, fatal: e.fatal }).toEqual({ what, code, fatal: true });
      expect((await c.closed).code).toBe(1008);
    }
    const m = await (await fetch(`${server.url}/metrics`)).text();
    expect(m).toMatch(/^dlion_rejects_total\{reason="bad-token"\} 4$/m);
    expect(m).toMatch(/^dlion_rejects_total\{reason="token-required"\} 1$/m);
    expect(m).toMatch(/^dlion_peers 1$/m);
  });
});
