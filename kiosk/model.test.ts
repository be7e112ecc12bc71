/**
 * The kiosk's model files as an operator meets them: `dlion export` turning a kept
 * checkpoint into files plain tfjs loads, and `dlion kiosk --model` refusing model files it
 * cannot train (exit 5, the field named) before it joins anything.
 */

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinTask } from '../core';
import { startSignalingServer } from '../signaling';
import { encodeCheckpoint } from '../worker/checkpoint';
import { loadNodeData } from '../worker/node';
import { createTrainer, type Trainer } from '../worker/trainer';
import { STATE_TASK_FILE } from './model-io';
import { spawnKiosk } from './test-support';

const run = promisify(execFile);
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'dlion-model-cli-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `node bin/dlion.mjs export ...`: exit code, stdout, stderr. */
async function dlionExport(args: string[]) {
  try {
    const r = await run(process.execPath, ['bin/dlion.mjs', 'export', ...args], {
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

const loadExport = async (dir: string) => {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const bytes = readFileSync(join(dir, 'weights.bin'));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0]!.weights,
      weightData: bytes.buffer.slice(
        bytes.byteOffset,
        bytes.byteOffset + bytes.byteLength,
      ) as ArrayBuffer,
    }),
  );
};

describe('dlion export', () => {
  let trainer: Trainer;
  const stateDir = async () => {
    const d = tempDir();
    const snap = await trainer.snapshot();
    writeFileSync(
      join(d, 'lab.box.0000abcd.dlck'),
      encodeCheckpoint({
        model: 'cnn-res',
        fingerprint: trainer.info.fingerprint,
        room: 'lab',
        dataset: 'mnist',
        ...snap,
      }),
    );
    return d;
  };

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const data = await loadNodeData({
      dataset: 'mnist',
      seed: 1,
      peerIndex: 0,
      peerCount: 20,
      sharding: { kind: 'iid' },
      validationFraction: 0.1,
      testSamples: 100,
    });
    trainer = await createTrainer(
      {
        model: 'cnn-res',
        seed: 3,
        peerIndex: 0,
        optimizer: { kind: 'sgd', learningRate: 0.05, momentum: 0.9 },
        backend: 'cpu',
      },
      data,
    );
    for (let i = 0; i < 3; i++) {
      const s = await trainer.step(16);
      if (!s.ok) throw s.error;
      trainer.apply(s.value.gradient);
    }
  });
  afterAll(() => trainer.dispose());

  it("writes what tf.loadLayersModel loads: the checkpoint's model, statistics included", async () => {
    const dir = await stateDir();
    // The kiosk keeps the room's task beside its checkpoints; a built-in one is found without.
    writeFileSync(join(dir, STATE_TASK_FILE), JSON.stringify(builtinTask('cnn-res', 'mnist')));
    const out = join(tempDir(), 'export');
    const r = await dlionExport(['--state-dir', dir, '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/step 3, 1690 parameters/);
    const loaded = await loadExport(out);
    const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 4);
    const expected = (trainer.layersModel().predict(x) as tf.Tensor).dataSync();
    const got = (loaded.predict(x) as tf.Tensor).dataSync();
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i]!, 6);
    expect(JSON.parse(readFileSync(join(out, 'task.json'), 'utf8')).labels).toHaveLength(10);
    loaded.dispose();
    x.dispose();
  });

  it('refuses a checkpoint of another model, and bad flags', async () => {
    const dir = await stateDir();
    const task = join(tempDir(), 'task.json');
    writeFileSync(task, JSON.stringify(builtinTask('mlp', 'mnist')));
    const other = await dlionExport([
      '--checkpoint',
      join(dir, 'lab.box.0000abcd.dlck'),
      '--task',
      task,
      '--out',
      tempDir(),
    ]);
    expect(other.code).toBe(5);
    expect(other.err).toMatch(/a checkpoint of another model/);
    const usage = await dlionExport(['--out', tempDir()]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/exactly one of --state-dir and --checkpoint/);
    const empty = await dlionExport(['--state-dir', tempDir(), '--out', tempDir()]);
    expect(empty.code).toBe(5);
    expect(empty.err).toMatch(/no checkpoint/);
  });
});

describe('dlion kiosk --model', () => {
  const topology = {
    class_name: 'Sequential',
    config: {
      name: 's',
      layers: [
        { class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 28, 28, 1] } },
        { class_name: 'Dense', config: { name: 'd', units: 10, activation: 'softmax' } },
      ],
    },
  };
  const refused = async (files: Record<string, string | Uint8Array>, expected: RegExp) => {
    const dir = tempDir();
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
    // The server is never reached: the model is checked before joining.
    const k = spawnKiosk([
      '--server',
      'http://127.0.0.1:1',
      '--room',
      'lab',
      '--model',
      join(dir, 'model.json'),
    ]);
    expect(await k.exited).toBe(5);
    const line = k.lines.find((l) => l.type === 'error');
    expect(String(line?.message)).toMatch(expected);
  };

  it('refuses, before joining, models it cannot train, naming the field', async () => {
    await refused(
      {
        'model.json': JSON.stringify({
          modelTopology: {
            ...topology,
            config: {
              ...topology.config,
              layers: [{ class_name: 'Lambda', config: { name: 'l' } }],
            },
          },
        }),
      },
      /--model .*model\.json: model\.json: tfjs cannot load it: Unknown layer: Lambda/,
    );
    await refused(
      {
        'model.json': JSON.stringify({
          modelTopology: topology,
          weightsManifest: [
            {
              paths: ['w.bin'],
              weights: [
                { name: 'd/kernel', shape: [784, 10], dtype: 'float32' },
                { name: 'd/bias', shape: [10], dtype: 'float32' },
              ],
            },
          ],
        }),
      },
      /weightsManifest path w\.bin: the file is missing/,
    );
    await refused(
      {
        'model.json': JSON.stringify({
          modelTopology: topology,
          weightsManifest: [
            {
              paths: ['w.bin'],
              weights: [
                { name: 'd/kernel', shape: [784, 10], dtype: 'int32' },
                { name: 'd/bias', shape: [10], dtype: 'float32' },
              ],
            },
          ],
        }),
        'w.bin': new Uint8Array(4 * 7850),
      },
      /weightsManifest d\/kernel: is int32: only float32 weights train/,
    );
    // Twelve features: the room dataset's 784-value images cannot feed it.
    const twelve = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          {
            class_name: 'Dense',
            config: { name: 'd', units: 10, activation: 'softmax', batch_input_shape: [null, 12] },
          },
        ],
      },
    };
    await refused(
      { 'model.json': JSON.stringify({ modelTopology: twelve }) },
      /input: the room datasets' images are 28 x 28 x 1/,
    );
    await refused({ 'model.json': 'not json' }, /model\.json: is not JSON/);
  });

  it("refuses a model whose outputs are not its --data table's labels, with both counts", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: twelveFeatures }));
    const rows = ['f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,label'];
    for (let i = 0; i < 30; i++)
      rows.push(
        `${Array(12)
          .fill(i % 7)
          .join(',')},${'xyz'[i % 3]}`,
      );
    writeFileSync(join(dir, 'table.csv'), rows.join('\n'));
    const k = spawnKiosk([
      '--server',
      'http://127.0.0.1:1',
      '--room',
      'lab',
      '--model',
      join(dir, 'model.json'),
      '--data',
      join(dir, 'table.csv'),
    ]);
    expect(await k.exited).toBe(5);
    expect(k.lines.find((l) => l.type === 'data')).toMatchObject({
      layout: 'table',
      labels: ['x', 'y', 'z'],
      features: 12,
    });
    expect(String(k.lines.find((l) => l.type === 'error')?.message)).toMatch(
      /outputs 10 classes but the task names 3 labels/,
    );
  });
});

/** A model of twelve features and ten outputs. */
const twelveFeatures = {
  class_name: 'Sequential',
  config: {
    name: 's',
    layers: [
      {
        class_name: 'Dense',
        config: { name: 'd', units: 10, activation: 'softmax', batch_input_shape: [null, 12] },
      },
    ],
  },
};

describe('dlion kiosk --model FILE --data DIR', () => {
  it("derives the room's task from the model and the folder (labels from the subfolders, sorted) and trains", async () => {
    const server = await startSignalingServer({ port: 0, host: '127.0.0.1', log: () => {} });
    const dir = tempDir();
    // Three labels as folders of PNG files: a bright band in another third of the image each.
    const data = join(dir, 'photos');
    const labels = ['top', 'middle', 'bottom'];
    for (const [k, label] of labels.entries()) {
      mkdirSync(join(data, label), { recursive: true });
      for (let i = 0; i < 30; i++) {
        const pixels = Buffer.alloc(28 * 28, 20 + i);
        for (let y = k * 9; y < k * 9 + 9; y++) pixels.fill(230 - i, y * 28, y * 28 + 28);
        const png = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toBuffer();
        writeFileSync(join(data, label, `${i}.png`), png);
      }
    }
    const model = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 28, 28, 1] } },
          { class_name: 'Dense', config: { name: 'd', units: 3, activation: 'softmax' } },
        ],
      },
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: model }));
    const k = spawnKiosk([
      ...['--server', `http://127.0.0.1:${server.port}`, '--room', 'photos', '--name', 'box'],
      ...['--model', join(dir, 'model.json'), '--data', data, '--backend', 'cpu'],
      ...['--max-steps', '12', '--progress-every', '4'],
    ]);
    try {
      expect(await k.exited).toBe(0);
      expect(k.lines.find((l) => l.type === 'data')).toMatchObject({
        layout: 'images',
        labels: ['bottom', 'middle', 'top'],
      });
      expect(k.lines.find((l) => l.type === 'model')).toMatchObject({ labels: 3 });
      const progress = k.lines.filter((l) => l.type === 'progress');
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.every((l) => Number.isFinite(l.loss as number))).toBe(true);
      expect(k.lines.find((l) => l.type === 'exit')?.step).toBe(12);
    } finally {
      if (k.process.exitCode === null) k.process.kill('SIGKILL');
      await server.close();
    }
  }, 120_000);
});
