import { describe, expect, it } from 'vitest';
import { runCli } from './cli';
import { describeServerArgs, parseServerArgs } from './config';
import { DEFAULT_LIMITS } from './server';
import { verifyToken } from './tokens';

describe('parseServerArgs', () => {
  it('takes the defaults with no flags and no environment', () => {
    const r = parseServerArgs([], {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.port).toBe(8080);
    expect(r.value.host).toBe('0.0.0.0');
    expect(r.value.iceServers).toEqual([]);
    expect(r.value.secret).toBeUndefined();
    expect(r.value.limits).toEqual(DEFAULT_LIMITS);
    expect(r.value.staticDir).toBe('dist/app');
  });

  it('reads the environment, and flags win over it', () => {
    const env = {
      PORT: '9000',
      HOST: '127.0.0.1',
      DLION_SECRET: 'from-env',
      DLION_ICE_SERVERS: '[{"urls":"turn:edge.local:3478","username":"u","credential":"p"}]',
    };
    const r = parseServerArgs(
      ['--port', '9100', '--max-rooms=7', '--max-peers-per-room', '8'],
      env,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.port).toBe(9100);
    expect(r.value.host).toBe('127.0.0.1');
    expect(r.value.secret).toBe('from-env');
    expect(r.value.iceServers).toEqual([
      { urls: 'turn:edge.local:3478', username: 'u', credential: 'p' },
    ]);
    expect(r.value.limits.maxRooms).toBe(7);
    expect(r.value.limits.peersPerRoom).toBe(8);
  });

  it('refuses bad values, unknown flags and a lone TLS file', () => {
    const refused = (argv: string[], env: Record<string, string> = {}) => {
      const r = parseServerArgs(argv, env);
      return r.ok ? undefined : r.error;
    };
    expect(refused(['--port', 'eighty'])).toMatch(/--port/);
    expect(refused(['--port', '70000'])).toMatch(/0\.\.65535/);
    expect(refused([], { PORT: '-1' })).toMatch(/PORT/);
    expect(refused(['--bogus', '1'])).toMatch(/bogus/);
    expect(refused(['--tls-cert', 'cert.pem'])).toMatch(/both or neither/);
    expect(refused(['--ice-servers', 'not json'])).toMatch(/not JSON/);
    expect(refused(['--ice-servers', '[{"urls":"http://x"}]'])).toMatch(/stun:/);
    expect(refused(['--max-rooms', '0'])).toMatch(/--max-rooms/);
    expect(refused(['--heartbeat-ms', '5000', '--evict-after-ms', '1000'])).toMatch(/exceed/);
    expect(refused(['positional'])).toBeDefined();
  });

  it('never prints the secret', () => {
    const r = parseServerArgs(['--secret', 'hunter2-very-secret'], {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const text = describeServerArgs(r.value).join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('required');
  });
});

describe('dlion command line', () => {
  const capture = () => {
    const out: string[] = [];
    const error: string[] = [];
    return {
      io: { out: (l: string) => out.push(l), error: (l: string) => error.push(l) },
      out,
      error,
    };
  };

  it('prints a token that the server would accept', async () => {
    const c = capture();
    expect(await runCli(['token', 'lab', '--ttl', '120'], { DLION_SECRET: 'k' }, c.io)).toBe(0);
    expect(c.out).toHaveLength(1);
    expect(verifyToken('k', 'lab', c.out[0] ?? '', Date.now()).ok).toBe(true);
  });

  it('refuses a token without a secret, a bad room or a bad ttl', async () => {
    for (const argv of [
      ['token', 'lab'],
      ['token', 'bad room', '--secret', 'k'],
      ['token', 'lab', '--secret', 'k', '--ttl', 'x'],
      ['token'],
    ]) {
      const c = capture();
      expect(await runCli(argv, {}, c.io)).toBe(2);
      expect(c.error.join('\n')).toMatch(/dlion token/);
    }
  });

  it('prints help and refuses unknown commands', async () => {
    const help = capture();
    expect(await runCli(['--help'], {}, help.io)).toBe(0);
    expect(help.out.join('\n')).toContain('--max-rooms');
    const bad = capture();
    expect(await runCli(['frobnicate'], {}, bad.io)).toBe(2);
    const badFlag = capture();
    expect(await runCli(['serve', '--port', 'x'], {}, badFlag.io)).toBe(2);
  });
});
