import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignalingServer, startSignalingServer } from './server';
import { TestClient, withDeadline } from './test-support';

// TLS with a real certificate: a self-signed one made by openssl (Debian's openssl package,
// installed by .ci/run) for localhost, trusted by the clients through `ca`.
let dir: string;
let cert: string;
let key: string;
let server: SignalingServer | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlion-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  key = readFileSync(join(dir, 'key.pem'), 'utf8');
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const httpsJson = (url: string, ca: string) =>
  withDeadline(
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      get(url, { ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      }).on('error', reject);
    }),
    `GET ${url}`,
  );

describe('TLS', () => {
  it('serves https and wss on one port with the configured certificate', async () => {
    server = await startSignalingServer({
      port: 0,
      host: '127.0.0.1',
      tls: { cert, key },
      log: () => {},
    });
    expect(server.url.startsWith('https://')).toBe(true);
    expect(server.wsUrl.startsWith('wss://')).toBe(true);
    const health = await httpsJson(`${server.url}/healthz`, cert);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true });
    const client = await TestClient.connect(server.wsUrl, { ca: cert });
    try {
      const welcome = await client.join('tls-room');
      expect(welcome.room).toBe('tls-room');
    } finally {
      client.close();
    }
    // A client that does not trust the certificate is refused by TLS itself.
    await expect(TestClient.connect(server.wsUrl)).rejects.toThrow(/self[- ]signed|certificate/i);
  });
});
