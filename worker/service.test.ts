import { describe, expect, it } from 'vitest';
import { builtinTask, DEFAULT_ROOM_CONFIG } from '../core';
import { TrainerServiceError, trainerClient } from './client';
import { type NodeSource, nodeHost } from './node/host';
import { createTrainerService, optimizerFor, type ServiceInit } from './service';

describe('optimizerFor', () => {
  it('maps the room config to SGD with momentum', () => {
    expect(optimizerFor({ ...DEFAULT_ROOM_CONFIG, learningRate: 0.1, momentum: 0.8 })).toEqual({
      kind: 'sgd',
      learningRate: 0.1,
      momentum: 0.8,
    });
  });

  it('maps it to Adam, leaving momentum out (Adam keeps its default betas)', () => {
    expect(
      optimizerFor({ ...DEFAULT_ROOM_CONFIG, optimizer: 'adam', learningRate: 0.001 }),
    ).toEqual({ kind: 'adam', learningRate: 0.001 });
  });
});

describe('the trainer service and its client, in process on the cpu backend', () => {
  const config = { ...DEFAULT_ROOM_CONFIG, model: 'mlp' as const, maxPeers: 20 };
  const init = (over: Partial<ServiceInit<NodeSource>> = {}): ServiceInit<NodeSource> => ({
    config,
    slot: 0,
    room: 'lab',
    testSamples: 100,
    backend: 'cpu',
    source: {},
    ...over,
  });

  it('answers every call with one convention: a value, or { name, code, message }', async () => {
    const service = createTrainerService(nodeHost());
    const early = await service.step(8);
    expect(early).toEqual({
      ok: false,
      error: { name: 'TrainerError', code: 'not-initialised', message: 'call init() first' },
    });
    const badBackend = await service.init(init({ backend: 'tpu' }));
    expect(badBackend.ok).toBe(false);
    if (!badBackend.ok)
      expect(badBackend.error).toMatchObject({ code: 'bad-config', name: 'TrainerError' });
    const started = await service.init(init());
    expect(started.ok).toBe(true);
    const badBatch = await service.step(0);
    expect(badBatch.ok).toBe(false);
    if (!badBatch.ok) expect(badBatch.error.code).toBe('bad-input');
    const badSplit = await service.evaluate('nope' as never);
    expect(!badSplit.ok && badSplit.error.code).toBe('bad-input');
    const short = await service.apply(new Float32Array(3));
    expect(!short.ok && short.error.code).toBe('bad-input');
    service.dispose();
  });

  it('the client turns errors into TrainerServiceError values and keeps the mesh contract', async () => {
    const service = createTrainerService(nodeHost());
    const started = await service.init(init());
    if (!started.ok) throw new Error(started.error.message);
    const t = trainerClient(service, started.value);
    const step = await t.step(16);
    if (step instanceof Error) throw step;
    expect(step.gradient).toHaveLength(t.info.paramCount);
    expect(await t.apply(step.gradient)).toBeUndefined();
    const refused = await t.setParams(new Float32Array(2));
    expect(refused).toBeInstanceOf(TrainerServiceError);
    expect((refused as TrainerServiceError).code).toBe('bad-input');
    const nan = new Float32Array(t.info.paramCount).fill(Number.NaN);
    expect(await t.mergeParams(nan, 0.5)).toBeInstanceOf(TrainerServiceError);
    // The model never takes the refused values.
    const params = await t.getParams();
    expect(params.every(Number.isFinite)).toBe(true);
    expect(await t.restoreCheckpoint()).toEqual({ restored: false, reason: 'no checkpoint store' });
    const files = await t.exportModel();
    if (files instanceof Error) throw files;
    expect(Object.keys(files).sort()).toEqual(['model.json', 'task.json', 'weights.bin']);
    expect(files['weights.bin'].byteLength).toBe(4 * t.info.paramCount);
    await t.dispose();
    await t.dispose();
    expect(await t.step(8)).toBeInstanceOf(TrainerServiceError);
  });

  it('uses a pretrained start only for the room that trains that very model', async () => {
    const values = new Float32Array(101_770).fill(0.01);
    const pretrained = {
      task: builtinTask('mlp', 'mnist'),
      weights: {
        specs: [
          { name: 'dense1/kernel', shape: [784, 128], dtype: 'float32' as const },
          { name: 'dense1/bias', shape: [128], dtype: 'float32' as const },
          { name: 'head_logits/kernel', shape: [128, 10], dtype: 'float32' as const },
          { name: 'head_logits/bias', shape: [10], dtype: 'float32' as const },
        ],
        data: values.buffer,
      },
    };
    const same = createTrainerService(nodeHost());
    const a = await same.init(init({ pretrained }));
    if (!a.ok) throw new Error(a.error.message);
    const pa = await same.getParams();
    expect(pa.ok && pa.value.every((x) => Math.abs(x - 0.01) < 1e-7)).toBe(true);
    same.dispose();
    const other = createTrainerService(nodeHost());
    const b = await other.init(
      init({ pretrained: { ...pretrained, task: builtinTask('cnn', 'mnist') } }),
    );
    if (!b.ok) throw new Error(b.error.message);
    const pb = await other.getParams();
    expect(pb.ok && pb.value.some((x) => Math.abs(x - 0.01) > 1e-3)).toBe(true);
    other.dispose();
  });
});
