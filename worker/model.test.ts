import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_MODELS, builtinTask, type Task, taskForModel } from '../core';
import {
  buildModel,
  disposeModel,
  fans,
  initParams,
  ModelError,
  modelSpec,
  readAllWeights,
  readParams,
  type TaskModel,
  writeAllWeights,
  writeParams,
} from './model';
import { loadModel, readModelJson } from './model-files';
import { installConvFilterGradient } from './ops';

const LIMITS = { maxParams: 4_000_000 };
const FIXTURE = readFileSync(new URL('./fixtures/keras-cnn.model.json', import.meta.url), 'utf8');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The Keras fixture's topology as a task on MNIST. */
async function kerasTask(): Promise<Task> {
  const read = await readModelJson(FIXTURE, async () => undefined).catch(() => undefined);
  // Without its weight file the manifest does not match: read the topology alone.
  const topology = read?.topology ?? JSON.parse(FIXTURE).modelTopology.model_config;
  return taskForModel('keras-fixture', topology, [28, 28, 1], 'mnist', false);
}

describe('built-in models', () => {
  it('have the documented sizes and distinct, stable fingerprints', () => {
    expect(modelSpec('mlp').paramCount).toBe(784 * 128 + 128 + 128 * 10 + 10);
    // LeNet-5 on 28 x 28 with a 'same' first convolution: 61 706, as before they were Layers.
    expect(modelSpec('cnn').paramCount).toBe(61_706);
    const large = modelSpec('cnn-large').paramCount;
    expect(large).toBeGreaterThan(900_000);
    expect(large).toBeLessThan(1_100_000);
    const prints = new Set(BUILTIN_MODELS.map((m) => modelSpec(m).fingerprint));
    expect(prints.size).toBe(BUILTIN_MODELS.length);
    for (const m of BUILTIN_MODELS) {
      const spec = modelSpec(m);
      expect(modelSpec(m).fingerprint).toBe(spec.fingerprint);
      const last = spec.weights.at(-1)!;
      expect(last.offset + last.size).toBe(spec.paramCount);
      expect(spec.classes).toBe(10);
      // The softmax is its own layer: training sees logits.
      expect(spec.trainOutput).toBe('logits');
    }
  });

  it('cnn-res has normalisation whose moving statistics are not exchanged', async () => {
    const m = await buildModel(builtinTask('cnn-res', 'mnist'), LIMITS);
    const nonTrainable = m.model.nonTrainableWeights.map((w) => w.originalName);
    expect(nonTrainable.some((n) => n.endsWith('moving_mean'))).toBe(true);
    expect(m.spec.weights.some((w) => w.name.includes('moving'))).toBe(false);
    expect(m.spec.weights.some((w) => w.name.includes('depthwise_kernel'))).toBe(true);
    disposeModel(m);
  });
});

describe('the flat vector', () => {
  const models = async (): Promise<[string, TaskModel][]> => [
    ...(await Promise.all(
      BUILTIN_MODELS.map(
        async (n) => [n, await buildModel(builtinTask(n, 'mnist'), LIMITS)] as [string, TaskModel],
      ),
    )),
    ['keras fixture', await buildModel(await kerasTask(), LIMITS)],
  ];

  it('weights -> flat -> weights is the identity, for every built-in and a converted Keras model', async () => {
    for (const [name, m] of await models()) {
      const p = await initParams(m, 3);
      for (let i = 0; i < p.length; i += 97) p[i] = i / 1e5; // distinct values in every tensor
      writeParams(m, p);
      expect(bits(await readParams(m)).equals(bits(p)), name).toBe(true);
      const all = await readAllWeights(m);
      const other = await buildModel(
        name === 'keras fixture' ? await kerasTask() : builtinTask(name as 'mlp', 'mnist'),
        LIMITS,
      );
      writeAllWeights(other, all);
      expect(bits(await readParams(other)).equals(bits(p)), name).toBe(true);
      disposeModel(m);
      disposeModel(other);
    }
  });

  it('initialises identically on every peer from the seed; constants stay constants', async () => {
    for (const [name, m] of await models()) {
      const again = await buildModel(
        name === 'keras fixture' ? await kerasTask() : builtinTask(name as 'mlp', 'mnist'),
        LIMITS,
      );
      const a = await initParams(m, 7);
      expect(bits(await initParams(again, 7)).equals(bits(a)), name).toBe(true);
      expect(bits(await initParams(m, 8)).equals(bits(a)), name).toBe(false);
      for (const w of m.spec.weights) {
        const slice = a.subarray(w.offset, w.offset + w.size);
        if (w.name.endsWith('bias') || w.name.endsWith('beta'))
          expect(slice.every((x) => x === 0)).toBe(true);
        else if (w.name.endsWith('gamma')) expect(slice.every((x) => x === 1)).toBe(true);
        else {
          const [fi, fo] = fans(w.shape);
          const max = slice.reduce((acc, x) => Math.max(acc, Math.abs(x)), 0);
          expect(max).toBeGreaterThan(0);
          expect(max).toBeLessThanOrEqual(Math.sqrt(6 / (fi + fo)));
        }
      }
      disposeModel(m);
      disposeModel(again);
    }
  });
});

describe('models a task cannot train are refused, naming the field', () => {
  const refused = async (task: Task, limits = LIMITS) => {
    try {
      const m = await buildModel(task, limits);
      disposeModel(m);
    } catch (e) {
      expect(e).toBeInstanceOf(ModelError);
      return e as ModelError;
    }
    throw new Error('the model was built');
  };

  it('over the parameter limit', async () => {
    const e = await refused(builtinTask('cnn-large', 'mnist'), { maxParams: 100_000 });
    expect(e.code).toBe('too-large');
    expect(e.message).toMatch(/maxParams of 100000/);
  });

  it('a layer tfjs does not know', async () => {
    const task = await kerasTask();
    const topology = JSON.parse(
      JSON.stringify(task.model.kind === 'layers' ? task.model.topology : {}),
    );
    topology.config.layers[2].class_name = 'FancyAttention';
    const e = await refused({ ...task, model: { kind: 'layers', topology } });
    expect(e.code).toBe('unsupported-layer');
    expect(e.field).toBe('model.topology');
  });

  it('an input the task does not describe, or outputs that are not its labels', async () => {
    const task = await kerasTask();
    const e1 = await refused({ ...task, input: { kind: 'features', count: 100 } });
    expect(e1.code).toBe('input-mismatch');
    expect(e1.field).toBe('input');
    const e2 = await refused({ ...task, labels: ['a', 'b', 'c'] });
    expect(e2.code).toBe('output-mismatch');
    expect(e2.field).toBe('labels');
  });

  it('an output activation that is not a classifier', async () => {
    const task = await kerasTask();
    const topology = JSON.parse(
      JSON.stringify(task.model.kind === 'layers' ? task.model.topology : {}),
    );
    topology.config.layers[4].config.activation = 'sigmoid';
    const e = await refused({ ...task, model: { kind: 'layers', topology } });
    expect(e.code).toBe('output-mismatch');
    expect(e.message).toMatch(/softmax or linear/);
  });
});

describe('the registered Conv2DBackpropFilter kernel', () => {
  it("matches tfjs' own kernel on the cpu backend, through conv2d and fused conv2d gradients", () => {
    type Shape4 = [number, number, number, number];
    const cases: { x: Shape4; w: Shape4; pad: 'valid' | 'same' }[] = [
      { x: [2, 9, 9, 1], w: [5, 5, 1, 3], pad: 'valid' },
      { x: [3, 7, 6, 4], w: [3, 2, 4, 5], pad: 'valid' },
      { x: [2, 8, 8, 2], w: [5, 5, 2, 3], pad: 'same' },
      { x: [2, 7, 6, 3], w: [2, 4, 3, 2], pad: 'same' },
    ];
    const gradients = (
      c: (typeof cases)[number],
      dy: tf.Tensor,
      x: tf.Tensor4D,
      w: tf.Tensor4D,
    ) => {
      const plain = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad), dy)),
      )([x, w])[1]!;
      const fused = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.fused.conv2d({
              x: a as tf.Tensor4D,
              filter: b as tf.Tensor4D,
              strides: 1,
              pad: c.pad,
            }),
            dy,
          ),
        ),
      )([x, w])[1]!;
      return [plain, fused];
    };
    const rel = (p: tf.Tensor, q: tf.Tensor) =>
      tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]! /
      Math.max(1e-6, tf.max(tf.abs(p)).dataSync()[0]!);
    const seen = cases.map((c) =>
      tf.tidy(() => {
        const x = tf.randomNormal(c.x, 0, 1, 'float32', 3) as tf.Tensor4D;
        const w = tf.randomNormal(c.w, 0, 1, 'float32', 4) as tf.Tensor4D;
        const dy = tf.randomNormal(tf.conv2d(x, w, 1, c.pad).shape, 0, 1, 'float32', 5);
        return { c, x, w, dy, before: gradients(c, dy, x, w) };
      }),
    );
    installConvFilterGradient();
    const profiled: string[] = [];
    for (const { c, x, w, dy, before } of seen) {
      tf.tidy(() => {
        const after = gradients(c, dy, x, w);
        expect(rel(before[0]!, after[0]!)).toBeLessThan(1e-5);
        expect(rel(before[1]!, after[1]!)).toBeLessThan(1e-5);
      });
      profiled.push(c.pad);
    }
    expect(profiled).toHaveLength(cases.length);
    tf.dispose(seen.flatMap((s) => [s.x, s.w, s.dy, ...s.before]));
  });
});

describe('model files', () => {
  const weightsFor = (count: number) => {
    const f = new Float32Array(count);
    for (let i = 0; i < count; i++) f[i] = Math.sin(i) * 0.1;
    return new Uint8Array(f.buffer);
  };
  const fixtureValues = 3 * 3 * 4 + 4 + 676 * 10 + 10;

  it('reads a converted Keras model.json with its weights, into the same values', async () => {
    const bin = weightsFor(fixtureValues);
    const read = await readModelJson(FIXTURE, async (p) =>
      p === 'group1-shard1of1.bin' ? bin : undefined,
    );
    expect(read.weights?.specs.map((s) => s.name)).toEqual([
      'conv2d/kernel',
      'conv2d/bias',
      'dense/kernel',
      'dense/bias',
    ]);
    const loaded = await loadModel(read);
    const m = await buildModel(
      taskForModel('k', read.topology, [28, 28, 1], 'mnist', true),
      LIMITS,
    );
    writeAllWeights(m, new Float32Array(read.weights!.data));
    const a = await readAllWeights(m);
    const b = new Float32Array(
      loaded.weights.flatMap((w) => [...(w.read().dataSync() as Float32Array)]),
    );
    expect(bits(a).equals(bits(b))).toBe(true);
    loaded.dispose();
    disposeModel(m);
  });

  it('refuses a missing file, a size mismatch, non-float weights and graph models', async () => {
    await expect(readModelJson(FIXTURE, async () => undefined)).rejects.toThrow(
      /group1-shard1of1.bin: the file is missing/,
    );
    await expect(readModelJson(FIXTURE, async () => weightsFor(10))).rejects.toThrow(
      `need ${fixtureValues * 4}`,
    );
    const int = FIXTURE.replace(
      '"dense/bias", "shape": [10], "dtype": "float32"',
      '"dense/bias", "shape": [10], "dtype": "int32"',
    );
    await expect(readModelJson(int, async () => weightsFor(fixtureValues))).rejects.toThrow(
      /dense\/bias: is int32/,
    );
    const graph = FIXTURE.replace('"layers-model"', '"graph-model"');
    await expect(readModelJson(graph, async () => undefined)).rejects.toThrow(
      /only Layers models train/,
    );
    await expect(readModelJson('{"modelTopology": [1]}', async () => undefined)).rejects.toThrow(
      ModelError,
    );
    await expect(readModelJson('not json', async () => undefined)).rejects.toThrow(/not JSON/);
    const nan = new Float32Array(fixtureValues);
    nan[5] = Number.NaN;
    await expect(readModelJson(FIXTURE, async () => new Uint8Array(nan.buffer))).rejects.toThrow(
      /not finite/,
    );
  });
});

describe('the export', () => {
  it('is what tf.loadLayersModel loads: the same outputs, local state included', async () => {
    const { exportModel } = await import('./model-files');
    for (const name of ['cnn-res', 'mlp'] as const) {
      const task = builtinTask(name, 'mnist');
      const m = await buildModel(task, LIMITS);
      writeParams(m, await initParams(m, 5));
      const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 9);
      // A training pass moves BatchNorm's moving statistics off their initial values.
      tf.tidy(() => {
        m.model.apply(x, { training: true });
      });
      const files = await exportModel(m.model, task);
      expect(JSON.parse(files['task.json'])).toEqual(task);
      const json = JSON.parse(files['model.json']) as tf.io.ModelJSON;
      const w = files['weights.bin'];
      const loaded = await tf.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest[0]!.weights,
          weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
        }),
      );
      const a = (m.model.predict(x) as tf.Tensor).dataSync() as Float32Array;
      const b = (loaded.predict(x) as tf.Tensor).dataSync() as Float32Array;
      expect(Array.from(b)).toEqual(Array.from(a));
      // The exported model outputs probabilities: each row sums to 1.
      expect(Math.abs(Array.from(b.slice(0, 10)).reduce((s, v) => s + v, 0) - 1)).toBeLessThan(
        1e-5,
      );
      loaded.dispose();
      disposeModel(m);
      x.dispose();
    }
  });
});
