import { describe, expect, it } from 'vitest';
import { EXIT, KIOSK_FLAGS, kioskHelp, parseKioskArgs } from './options';

const base = ['--server', 'http://edge:8080', '--room', 'lab'];

describe('parseKioskArgs', () => {
  it('fills the defaults', () => {
    const r = parseKioskArgs(base, {});
    expect(r.kind).toBe('run');
    if (r.kind !== 'run') return;
    expect(r.options).toMatchObject({
      server: 'http://edge:8080',
      room: 'lab',
      backend: 'auto',
      slowdown: 1,
      connectTimeoutS: 60,
      progressEvery: 20,
      checkpointEvery: 50,
    });
    expect(r.options.name).toBeUndefined();
  });

  it('reads every flag from its environment variable, and flags win', () => {
    const r = parseKioskArgs(['--site', 'flag-site'], {
      DLION_SERVER: 'https://edge-2',
      DLION_ROOM: 'lab2',
      DLION_SITE: 'env-site',
      DLION_BACKEND: 'cpu',
      DLION_UPLINK_MBPS: '2.5',
      DLION_SITE_LINKS: '{"inter":{"mbps":5,"latencyMs":40}}',
      DLION_STATE_DIR: '/var/lib/dlion',
      DLION_NAME: '',
    });
    if (r.kind !== 'run') throw new Error(JSON.stringify(r));
    expect(r.options).toMatchObject({
      server: 'https://edge-2',
      room: 'lab2',
      site: 'flag-site',
      backend: 'cpu',
      uplinkMbps: 2.5,
      stateDir: '/var/lib/dlion',
      siteLinks: { inter: { bps: 5e6, latencyMs: 40 } },
    });
    // An empty variable counts as unset.
    expect(r.options.name).toBeUndefined();
    expect(KIOSK_FLAGS.every((f) => f.env.startsWith('DLION_'))).toBe(true);
  });

  it.each([
    [[], /--server \(DLION_SERVER\) is required/],
    [['--server', 'http://e'], /--room \(DLION_ROOM\) is required/],
    [[...base, '--backend', 'tpu'], /must be auto, webgpu or cpu/],
    [[...base, '--slowdown', '0.5'], /--slowdown .* >= 1/],
    [[...base, '--progress-every', '2.5'], /must be an integer/],
    [[...base, '--site', 'a b'], /not a site name/],
    [[...base, '--site-links', '{"inter":{"mbps":-1}}'], /site-links .* invalid: inter.mbps/],
    [[...base, '--config', '[1]'], /must be a JSON object/],
    [[...base, '--config', '{'], /must be JSON/],
    [[...base, '--config', '{"strategy":"sgd"}'], /not a valid room config/],
    [[...base, '--connect-timeout', '1e9'], /in 1\.\.86400/],
    [[...base, '--site-links', '{"inter":{"mbps":0.0001}}'], /inter\.mbps/],
    [['--server', 'ftp://e', '--room', 'lab'], /http\(s\):\/\/ or ws\(s\):\/\//],
    [[...base, '--unknown', 'x'], /Unknown option '--unknown'/],
    [[...base, 'extra'], /positional/],
  ])('%j is a usage error', (argv, message) => {
    const r = parseKioskArgs(argv, {});
    expect(r.kind).toBe('usage');
    if (r.kind === 'usage') expect(r.message).toMatch(message);
  });

  it('--help, and the help lists every flag, its variable and every exit code', () => {
    expect(parseKioskArgs(['--help'], {}).kind).toBe('help');
    const help = kioskHelp().join('\n');
    for (const f of KIOSK_FLAGS) {
      expect(help).toContain(`--${f.name}`);
      expect(help).toContain(f.env);
    }
    for (const code of Object.values(EXIT)) expect(help).toMatch(new RegExp(`^  ${code}  `, 'm'));
  });
});
