import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRoomConfig, roomTask } from './room-config';
import {
  BUILTIN_MODELS,
  builtinTask,
  MAX_TASK_BYTES,
  parseTask,
  type Task,
  taskForModel,
  topologyInputShape,
} from './task';

const custom: Task = {
  name: 'tiny',
  input: { kind: 'image', height: 28, width: 28, channels: 1, scale: 'unit' },
  labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  model: { kind: 'layers', topology: { class_name: 'Sequential', config: { layers: [] } } },
  data: { kind: 'dataset', name: 'mnist' },
};

describe('task documents', () => {
  it('accepts the built-in tasks and a custom one, as objects and as JSON text', () => {
    for (const m of BUILTIN_MODELS) {
      const t = builtinTask(m, 'fashion-mnist');
      const r = parseTask(t);
      expect(r.ok && r.value).toEqual(t);
    }
    const r = parseTask(JSON.stringify(custom));
    expect(r.ok && r.value.name).toBe('tiny');
    expect(builtinTask('cnn', 'fashion-mnist').labels[9]).toBe('Ankle boot');
  });

  it('refuses bad documents, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ ...custom, labels: ['a'] }, /labels/],
      [{ ...custom, labels: ['a', 'a'] }, /labels: label names must be distinct/],
      [
        { ...custom, input: { kind: 'image', height: 0, width: 28, channels: 1, scale: 'unit' } },
        /input.height/,
      ],
      [
        { ...custom, input: { kind: 'image', height: 28, width: 28, channels: 2, scale: 'unit' } },
        /input.channels/,
      ],
      [
        { ...custom, input: { kind: 'image', height: 28, width: 28, channels: 1, scale: 'bytes' } },
        /input.scale/,
      ],
      [{ ...custom, model: { kind: 'layers', topology: [] } }, /model.topology/],
      [{ ...custom, model: { kind: 'builtin', name: 'resnet152' } }, /model.name/],
      [{ ...custom, data: { kind: 'dataset', name: 'imagenet' } }, /data.name/],
      [{ ...custom, extra: 1 }, /extra/],
      [{ ...custom, name: '' }, /name/],
      [{ ...custom, optimizer: { learningRate: -1 } }, /optimizer.learningRate/],
      ['{not json', /invalid task/],
      [null, /invalid task/],
    ];
    for (const [doc, why] of bad) {
      const r = parseTask(doc);
      expect(r.ok, JSON.stringify(doc)).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(why);
    }
  });

  it('refuses a task over the size limit before reading it', () => {
    const big = {
      ...custom,
      model: { kind: 'layers', topology: { pad: 'x'.repeat(MAX_TASK_BYTES) } },
    };
    const r = parseTask(big);
    expect(!r.ok && r.error.message).toMatch(/over the limit of 65536/);
  });
});

describe('tasks in room configs', () => {
  it('a built-in model name is an alias of its task', () => {
    const r = parseRoomConfig({ model: 'cnn', dataset: 'fashion-mnist' });
    expect(r.ok).toBe(true);
    if (r.ok) expect(roomTask(r.value)).toEqual(builtinTask('cnn', 'fashion-mnist'));
  });

  it('a custom task travels with the config, its optimizer defaults first', () => {
    const r = parseRoomConfig({
      model: 'custom',
      task: { ...custom, optimizer: { learningRate: 0.01, optimizer: 'adam' } },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.learningRate).toBe(0.01);
    expect(r.value.optimizer).toBe('adam');
    expect(roomTask(r.value).name).toBe('tiny');
    const mine = parseRoomConfig({
      model: 'custom',
      learningRate: 0.2,
      task: { ...custom, optimizer: { learningRate: 0.01 } },
    });
    expect(mine.ok && mine.value.learningRate).toBe(0.2);
  });

  it('refuses a config whose model and task disagree', () => {
    const cases: [unknown, RegExp][] = [
      [{ model: 'custom' }, /model must be 'custom' exactly when/],
      [{ model: 'cnn', task: custom }, /model must be 'custom'/],
      [
        { model: 'custom', task: custom, dataset: 'fashion-mnist' },
        /task: the task's dataset \(or its probe's\) must be the room's dataset/,
      ],
      [{ model: 'custom', task: { ...custom, labels: 3 } }, /task.labels/],
      [{ maxParams: 0 }, /maxParams/],
    ];
    for (const [input, why] of cases) {
      const r = parseRoomConfig(input);
      expect(r.ok, JSON.stringify(input)).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(why);
    }
  });
});

describe('tasks from a model file', () => {
  it('read the input shape of a Sequential and of a functional topology', () => {
    const keras = JSON.parse(
      readFileSync(new URL('../../worker/fixtures/keras-cnn.model.json', import.meta.url), 'utf8'),
    ).modelTopology.model_config;
    expect(topologyInputShape(keras)).toEqual([28, 28, 1]);
    const functional = {
      class_name: 'Functional',
      config: {
        input_layers: [['features', 0, 0]],
        layers: [
          { class_name: 'Dense', config: { name: 'd' } },
          {
            class_name: 'InputLayer',
            config: { name: 'features', batch_input_shape: [null, 784] },
          },
        ],
      },
    };
    expect(topologyInputShape(functional)).toEqual([784]);
    expect(topologyInputShape({ config: { layers: [{ config: {} }] } })).toBeUndefined();
    expect(
      topologyInputShape({ config: { layers: [{ config: { batch_input_shape: [null, -1] } }] } }),
    ).toBeUndefined();
    const t = taskForModel('f', functional, [784], 'mnist', true);
    expect(t.input).toEqual({ kind: 'features', count: 784 });
    expect(t.model).toEqual({ kind: 'layers', topology: functional, pretrained: true });
    expect(parseTask(t).ok).toBe(true);
    // An input the room dataset's 28 x 28 images cannot feed is refused, naming the input.
    const r = parseTask(taskForModel('f', functional, [12], 'mnist', false));
    expect(!r.ok && r.error.message).toMatch(/input: the room datasets' images are 28 x 28 x 1/);
  });
});
