import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PeerStatus } from '../core';
import { createFixture, fetchMetrics, withDeadline } from './test-support';

const fx = createFixture();
afterEach(() => fx.cleanup());

/** GET with the path exactly as given: fetch() would normalise away the dot segments. */
const rawGet = (url: string, path: string) =>
  new Promise<{ status: number; body: string; type: string | undefined }>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }),
      );
    });
    req.on('error', reject);
    req.end();
  });

const statusOf = (id: string, overrides: Partial<PeerStatus> = {}) => ({
  id,
  name: 'alice',
  kind: 'browser',
  site: 'siteA',
  backend: 'webgpu',
  strategy: 'dlion',
  step: 42,
  batchSize: 64,
  weight: 0.5,
  capacity: 900,
  loss: 0.31,
  valAccuracy: 0.91,
  links: [{ to: 'b0b', bandwidthBps: 1_250_000, rttMs: 3, bytesSent: 1000, sentFraction: 0.4 }],
  merges: [],
  ...overrides,
});

describe('HTTP API', () => {
  it('answers /healthz and /metrics in Prometheus text', async () => {
    const server = await fx.start();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, uptimeSec: expect.any(Number) });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await fetchMetrics(server.url);
    for (const name of [
      'dlion_rooms',
      'dlion_peers',
      'dlion_relayed_messages_total',
      'dlion_connections_total',
      'process_resident_memory_bytes',
      'nodejs_heap_used_bytes',
      'dlion_rejects_total{reason="rate-limited"}',
    ]) {
      expect(m.get(name), name).toBeTypeOf('number');
    }
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('lists rooms and describes one with its peers and their posted status', async () => {
    const server = await fx.start();
    const a = await fx.client(server);
    const b = await fx.client(server);
    const wa = await a.join('lab', { name: 'alice', site: 'siteA', config: { strategy: 'hop' } });
    const wb = await b.join('lab', { name: 'bob', kind: 'kiosk' });
    a.send({ type: 'sig/status', status: statusOf(wa.peerId) });
    // A status is stored when the next message from the same socket is answered.
    a.send({ type: 'sig/signal', to: 'nobody', data: { type: 'renegotiate', renegotiate: true } });
    await a.nextOf('sig/error');

    const list = (await (await fetch(`${server.url}/api/rooms`)).json()) as {
      rooms: { room: string; peers: number; strategy: string; createdAt: string }[];
    };
    expect(list.rooms).toEqual([
      { room: 'lab', peers: 2, strategy: 'hop', createdAt: expect.any(String) },
    ]);
    expect(Number.isNaN(Date.parse(list.rooms[0]?.createdAt ?? ''))).toBe(false);

    const res = await fetch(`${server.url}/api/rooms/lab`);
    expect(res.status).toBe(200);
    const room = (await res.json()) as { room: string; config: unknown; peers: unknown[] };
    expect(room.room).toBe('lab');
    expect(room.config).toEqual(wa.config);
    expect(room.peers).toEqual([
      statusOf(wa.peerId),
      { id: wb.peerId, name: 'bob', kind: 'kiosk' },
    ]);
  });

  it('refuses an oversized status and drops a status past its TTL', async () => {
    const server = await fx.start({ statusTtlMs: 200, limits: { maxStatusBytes: 512 } });
    const a = await fx.client(server);
    const wa = await a.join('lab');
    const merges = Array.from({ length: 10 }, () => ({
      from: wa.peerId,
      to: wa.peerId,
      beta: 0.5,
      lossBefore: 1,
      lossAfter: 0.5,
      rolledBack: false,
      atMs: 1,
    }));
    a.send({ type: 'sig/status', status: statusOf(wa.peerId, { merges } as Partial<PeerStatus>) });
    expect(await a.nextOf('sig/error')).toMatchObject({ code: 'too-large', fatal: false });

    a.send({ type: 'sig/status', status: statusOf(wa.peerId) });
    const backendOf = async () => {
      const body = (await (await fetch(`${server.url}/api/rooms/lab`)).json()) as {
        peers: { backend?: string }[];
      };
      return body.peers[0]?.backend;
    };
    await withDeadline(
      (async () => {
        while ((await backendOf()) !== 'webgpu');
      })(),
      'the status to be served',
    );
    await withDeadline(
      (async () => {
        while ((await backendOf()) !== undefined);
      })(),
      'the status to expire',
    );
  });

  it('answers 404 JSON for unknown rooms and API paths, 404 for unknown files, 405, 426', async () => {
    const server = await fx.start();
    const room = await fetch(`${server.url}/api/rooms/nowhere`);
    expect(room.status).toBe(404);
    expect(await room.json()).toMatchObject({ error: 'no such room' });
    expect((await fetch(`${server.url}/api/nothing`)).status).toBe(404);
    expect((await fetch(`${server.url}/no/such/file.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${server.url}/ws`)).status).toBe(426);
    expect((await fetch(`${server.url}/data/shard/bogus.bin`)).status).toBe(404);
  });

  it('says honestly at / that the dashboard is not built', async () => {
    const server = await fx.start();
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/dashboard is not built yet/);
  });
});

describe('static files', () => {
  let dir: string;
  let staticDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dlion-static-'));
    staticDir = join(dir, 'app');
    await mkdir(join(staticDir, 'assets'), { recursive: true });
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>dash</title>');
    await writeFile(join(staticDir, 'assets', 'main.js'), 'console.log(1);');
    await writeFile(join(dir, 'secret.txt'), 'do not serve');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves the built dashboard with content types', async () => {
    const server = await fx.start({ staticDir });
    const index = await rawGet(server.url, '/');
    expect(index).toMatchObject({ status: 200, body: '<!doctype html><title>dash</title>' });
    expect(index.type).toMatch(/^text\/html/);
    const js = await rawGet(server.url, '/assets/main.js?v=1');
    expect(js.status).toBe(200);
    expect(js.type).toMatch(/^text\/javascript/);
  });

  it('refuses path traversal, plain or encoded', async () => {
    const server = await fx.start({ staticDir });
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..\\secret.txt',
      '/%00/index.html',
    ]) {
      const res = await rawGet(server.url, path);
      expect({ path, status: res.status }).not.toMatchObject({ status: 200 });
      expect(res.body).not.toContain('do not serve');
    }
  });
});
