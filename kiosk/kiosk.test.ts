/**
 * The kiosk as an operator runs it: `node bin/dlion.mjs kiosk ...` in its own process, against
 * the real signaling server, with its exit codes, its state directory and its own data.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ApiRoom, waitFor } from '../mesh/node/test-peers';
import { nodeCheckpointKey } from '../mesh/node/trainer';
import { createToken, type SignalingServer, startSignalingServer } from '../signaling';
import { encodeCheckpoint } from '../worker/checkpoint';
import { encodeIdx } from '../worker/data';
import { IDENTITY_FILE } from './identity';
import { type KioskProcess, spawnKiosk } from './test-support';

type Kiosk = KioskProcess;

const running: Kiosk[] = [];
const dirs: string[] = [];
let server: SignalingServer | undefined;

afterEach(async () => {
  for (const k of running) if (k.process.exitCode === null) k.process.kill('SIGKILL');
  await Promise.all(running.map((k) => k.exited));
  running.length = 0;
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function kiosk(args: string[], env: Record<string, string> = {}): Kiosk {
  const k = spawnKiosk(args, env);
  running.push(k);
  return k;
}

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

const room = () => `k${Math.random().toString(36).slice(2, 10)}`;
const startServer = async (secret?: string) => {
  server = await startSignalingServer({
    port: 0,
    host: '127.0.0.1',
    log: () => {},
    ...(secret === undefined ? {} : { secret }),
  });
  return `http://127.0.0.1:${server.port}`;
};
const errorLine = (k: Kiosk) => k.lines.find((l) => l.type === 'error')?.message as string;

/** A whole, sound checkpoint written by another model (fingerprint 7) at step 42. */
const checkpointOfAnotherModel = (room: string, params: number) =>
  encodeCheckpoint({
    model: 'mlp',
    fingerprint: 7,
    room,
    dataset: 'mnist',
    step: 42,
    params: new Float32Array(params).fill(0.5),
    optimizer: {
      kind: 'sgd',
      hyper: { learningRate: 0.05, momentum: 0.9 },
      step: 42,
      buffers: [new Float32Array(params)],
    },
  });

/** A small valid IDX pair: n 28 x 28 images with a bright stripe at the label's row. */
function writeIdxData(dir: string, n: number, prefix = 'train'): void {
  const images = new Uint8Array(n * 28 * 28);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let x = 0; x < 28; x++) images[i * 784 + (2 + 2 * (i % 10)) * 28 + x] = 255;
  }
  const base = prefix === 'train' ? 'train' : 't10k';
  writeFileSync(
    join(dir, `${base}-images-idx3-ubyte`),
    encodeIdx({ type: 'u8', dims: [n, 28, 28], data: images }),
  );
  writeFileSync(
    join(dir, `${base}-labels-idx1-ubyte`),
    encodeIdx({ type: 'u8', dims: [n], data: labels }),
  );
}

describe('dlion kiosk', () => {
  it('bad flags: usage on stderr and exit 2', async () => {
    const k = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--slowdown', 'fast']);
    expect(await k.exited).toBe(2);
    expect(k.stderr.join('\n')).toMatch(/--slowdown \(DLION_SLOWDOWN\) must be a number >= 1/);
    expect(k.stderr.join('\n')).toMatch(/usage: dlion kiosk/);
    const unknown = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--colour', 'red']);
    expect(await unknown.exited).toBe(2);
    // Environment variables stand in for flags, and are checked the same way.
    const env = kiosk([], { DLION_SERVER: 'http://127.0.0.1:1', DLION_ROOM: 'no room!' });
    expect(await env.exited).toBe(2);
    expect(env.stderr.join('\n')).toMatch(/--room \(DLION_ROOM\) 'no room!' is not a room name/);
  });

  it('a truncated checkpoint: a clear message, exit 5, and the file left as it was', async () => {
    const stateDir = tempDir('dlion-kiosk-');
    const r = room();
    const bytes = checkpointOfAnotherModel(r, 1000);
    const file = join(stateDir, `${nodeCheckpointKey(r, 'box')}.dlck`);
    const truncated = bytes.subarray(0, bytes.length - 100);
    writeFileSync(file, truncated);
    const k = kiosk(['--server', 'http://127.0.0.1:1', '--room', r, '--name', 'box'], {
      DLION_STATE_DIR: stateDir,
    });
    expect(await k.exited).toBe(5);
    expect(errorLine(k)).toMatch(/checkpoint .*\.dlck is unusable \(truncated/);
    expect(errorLine(k)).toMatch(/move it away/);
    expect(Buffer.compare(readFileSync(file), Buffer.from(truncated))).toBe(0);
  });

  it('a state dir that cannot be written: exit 5 before joining', async () => {
    const parent = tempDir('dlion-kiosk-');
    const notADir = join(parent, 'file');
    writeFileSync(notADir, 'not a directory');
    const k = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--state-dir', notADir]);
    expect(await k.exited).toBe(5);
    expect(errorLine(k)).toMatch(/cannot be written/);
    expect(readFileSync(notADir, 'utf8')).toBe('not a directory');
  });

  it("another model's checkpoint under its name is kept aside, not overwritten", async () => {
    const base = await startServer();
    const stateDir = tempDir('dlion-kiosk-');
    const r = room();
    // Whole and sound, but written by another model (fingerprint 7): the trainer refuses it.
    const bytes = checkpointOfAnotherModel(r, 10);
    writeFileSync(join(stateDir, `${nodeCheckpointKey(r, 'box')}.dlck`), bytes);
    const k = kiosk([
      '--server',
      base,
      '--room',
      r,
      '--name',
      'box',
      '--backend',
      'cpu',
      '--state-dir',
      stateDir,
      '--max-steps',
      '3',
    ]);
    expect(await k.exited).toBe(0);
    const kept = k.lines.find((l) => l.message === 'refused checkpoint kept aside');
    expect(kept?.file).toMatch(/\.dlck\.refused-/);
    expect(Buffer.compare(readFileSync(String(kept?.file)), Buffer.from(bytes))).toBe(0);
  }, 60_000);

  it('a damaged identity file: exit 5, the file untouched', async () => {
    const stateDir = tempDir('dlion-kiosk-');
    writeFileSync(join(stateDir, IDENTITY_FILE), '{"version":1,"room":"lab","na');
    const k = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--state-dir', stateDir]);
    expect(await k.exited).toBe(5);
    expect(errorLine(k)).toMatch(/identity\.json is not JSON/);
    expect(readFileSync(join(stateDir, IDENTITY_FILE), 'utf8')).toBe(
      '{"version":1,"room":"lab","na',
    );
  });

  it('--data files that are not valid IDX: the file named, exit 5', async () => {
    const dataDir = tempDir('dlion-data-');
    writeIdxData(dataDir, 20);
    writeFileSync(join(dataDir, 'train-images-idx3-ubyte'), Buffer.from('not an idx file at all'));
    const k = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--data', dataDir]);
    expect(await k.exited).toBe(5);
    expect(errorLine(k)).toMatch(/train-images-idx3-ubyte/);
    const missing = tempDir('dlion-data-');
    const m = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--data', missing]);
    expect(await m.exited).toBe(5);
    expect(errorLine(m)).toMatch(/holds no label subfolders, no table and no IDX files/);
    // Loose images without label folders, and a table whose header has one column.
    const loose = tempDir('dlion-data-');
    writeFileSync(join(loose, 'a.png'), Buffer.from('x'));
    writeFileSync(join(loose, 'notes.txt'), 'x');
    mkdirSync(join(loose, 'empty'));
    const l = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--data', loose]);
    expect(await l.exited).toBe(5);
    expect(errorLine(l)).toContain(loose);
    const oneColumn = join(tempDir('dlion-data-'), 'one.csv');
    writeFileSync(oneColumn, 'label\na\nb\n');
    const t = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--data', oneColumn]);
    expect(await t.exited).toBe(5);
    expect(errorLine(t)).toMatch(/one\.csv.*1 column\(s\)/);
    const wrongSize = tempDir('dlion-data-');
    writeFileSync(
      join(wrongSize, 'train-images-idx3-ubyte'),
      encodeIdx({ type: 'u8', dims: [4, 8, 8], data: new Uint8Array(256) }),
    );
    writeFileSync(
      join(wrongSize, 'train-labels-idx1-ubyte'),
      encodeIdx({ type: 'u8', dims: [4], data: new Uint8Array(4) }),
    );
    const w = kiosk(['--server', 'http://127.0.0.1:1', '--room', 'lab', '--data', wrongSize]);
    expect(await w.exited).toBe(5);
    expect(errorLine(w)).toMatch(/images are 8 x 8, the models take 28 x 28/);
  });

  it('a refused token exits 3; an unreachable server exits 4 after --connect-timeout', async () => {
    const base = await startServer('s3cret');
    const r = room();
    const refused = kiosk(['--server', base, '--room', r, '--token', 'forged.token']);
    expect(await refused.exited).toBe(3);
    expect(refused.lines.some((l) => l.type === 'phase' && l.phase === 'failed')).toBe(true);
    // The same kiosk with a real token joins.
    const ok = kiosk([
      '--server',
      base,
      '--room',
      r,
      '--token',
      createToken('s3cret', r, 600),
      '--backend',
      'cpu',
      '--max-steps',
      '3',
    ]);
    expect(await ok.exited).toBe(0);
    expect(ok.lines.some((l) => l.type === 'joined')).toBe(true);

    const nobody = kiosk(['--server', 'http://127.0.0.1:9', '--room', r, '--connect-timeout', '2']);
    expect(await nobody.exited).toBe(4);
    expect(errorLine(nobody)).toMatch(/was not reached within 2 s/);
  }, 90_000);

  it('--backend auto says which backend it took and why; --backend webgpu never falls back', async () => {
    const base = await startServer();
    const auto = kiosk(['--server', base, '--room', room(), '--max-steps', '3']);
    expect(await auto.exited).toBe(0);
    const chosen = auto.lines.find((l) => l.type === 'backend')!;
    expect(chosen.requested).toBe('auto');
    expect(['webgpu', 'cpu']).toContain(chosen.backend);
    const forced = kiosk([
      '--server',
      base,
      '--room',
      room(),
      '--max-steps',
      '3',
      '--backend',
      'webgpu',
    ]);
    const code = await forced.exited;
    if (code === 0) {
      // An adapter exists (a Vulkan driver: a GPU's, or Mesa's lavapipe): forced works, and
      // auto took WebGPU on a GPU, or timed a software adapter against cpu and said so.
      expect(forced.lines.find((l) => l.type === 'backend')?.backend).toBe('webgpu');
      if (chosen.why === 'WebGPU adapter found through Dawn') expect(chosen.backend).toBe('webgpu');
      else {
        expect(chosen.why).toMatch(/adapter is software .*timed a training probe: .*the fastest/);
        expect(chosen.why).toContain(`took ${chosen.backend}`);
      }
    } else {
      // No adapter: auto fell back and said why; forced fails and says why.
      expect(chosen.backend).toBe('cpu');
      expect(chosen.why).toMatch(/^webgpu: /);
      expect(code).toBe(1);
      expect(JSON.stringify(forced.lines)).toMatch(/webgpu was asked for but cannot start/);
    }
  }, 120_000);

  it("trains on the box's own IDX files and reports on its own test files", async () => {
    const base = await startServer();
    const dataDir = tempDir('dlion-data-');
    writeIdxData(dataDir, 300);
    writeIdxData(dataDir, 100, 't10k');
    const k = kiosk([
      '--server',
      base,
      '--room',
      room(),
      '--data',
      dataDir,
      '--backend',
      'cpu',
      '--max-steps',
      '60',
      '--progress-every',
      '10',
    ]);
    expect(await k.exited).toBe(0);
    expect(k.lines.find((l) => l.type === 'data')).toMatchObject({
      trainImages: 300,
      testImages: 100,
    });
    expect(k.lines.find((l) => l.type === 'backend')).toMatchObject({
      backend: 'cpu',
      why: 'cpu was asked for',
    });
    // The stripes are trivially separable: the loss must fall well below chance (ln 10 = 2.3).
    const losses = k.lines.filter((l) => l.type === 'progress').map((l) => l.loss as number);
    expect(losses.length).toBeGreaterThanOrEqual(5);
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
  }, 90_000);

  it('SIGTERM leaves cleanly (exit 0); restarted with the state dir it is the same peer at its step', async () => {
    const base = await startServer();
    const stateDir = tempDir('dlion-kiosk-');
    const r = room();
    const args = ['--server', base, '--room', r, '--name', 'box', '--site', 'north'];
    args.push('--backend', 'cpu', '--state-dir', stateDir, '--progress-every', '5');
    const first = kiosk(args);
    const joined = await waitFor(
      'joined',
      () => first.lines.find((l) => l.type === 'joined'),
      60_000,
    );
    await waitFor(
      'step 30',
      () => first.lines.some((l) => l.type === 'progress' && (l.step as number) >= 30) || undefined,
      90_000,
    );
    const api = (await (await fetch(`${base}/api/rooms/${r}`)).json()) as ApiRoom;
    expect(api.peers[0]).toMatchObject({ kind: 'kiosk', site: 'north', backend: 'cpu' });
    first.process.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const exit = first.lines.find((l) => l.type === 'exit')!;
    expect(exit.code).toBe(0);
    const stoppedAt = exit.step as number;
    expect(stoppedAt).toBeGreaterThanOrEqual(30);
    // The identity keeps the id's resume key, readable by the owner only.
    const identityFile = join(stateDir, IDENTITY_FILE);
    const identity = JSON.parse(readFileSync(identityFile, 'utf8')) as Record<string, unknown>;
    expect(identity).toMatchObject({
      peerId: joined.peerId,
      resumeKey: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(statSync(identityFile).mode & 0o077).toBe(0);

    const again = kiosk(args);
    const rejoined = await waitFor(
      'joined',
      () => again.lines.find((l) => l.type === 'joined'),
      60_000,
    );
    expect(rejoined.peerId).toBe(joined.peerId);
    expect(rejoined.resumed).toBe(true);
    expect(again.lines.find((l) => l.type === 'state')).toMatchObject({ peerId: joined.peerId });
    // Alone in the room, a step that carries on can only come from the checkpoint.
    const resumed = await waitFor(
      'the resume line',
      () => again.lines.find((l) => l.message === 'resumed from checkpoint'),
      60_000,
    );
    expect(resumed.step as number).toBeGreaterThanOrEqual(stoppedAt);
    expect(resumed.step as number).toBeLessThanOrEqual(stoppedAt + 2);
    again.process.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, 180_000);
});
