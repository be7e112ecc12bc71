import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTrainer, type TrainerData } from '../trainer';
import { loadNodeData } from './data';

// `npm run test:long`: the runs that cost CI too much (the LeNet-style cnn on the cpu backend
// takes about half a second per step of 64 on this 2-core machine).
let data: TrainerData;
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
});

describe('long training runs', () => {
  it('trains the cnn to >= 97% test accuracy within 3000 steps', async () => {
    const t = await createTrainer(
      {
        model: 'cnn',
        seed: 5,
        peerIndex: 0,
        optimizer: { kind: 'adam', learningRate: 0.001 },
        backend: 'cpu',
      },
      data,
    );
    let accuracy = 0;
    let steps = 0;
    const start = performance.now();
    while (steps < 3000 && accuracy < 0.97) {
      for (let s = 0; s < 250; s++) {
        const r = await t.step(64);
        if (!r.ok) throw r.error;
        const a = t.apply(r.value.gradient);
        if (!a.ok) throw a.error;
      }
      steps += 250;
      accuracy = (await t.evaluate('test')).accuracy;
      console.log(
        `cnn: ${steps} steps, ${(accuracy * 100).toFixed(2)}% test accuracy, ${((performance.now() - start) / 1000).toFixed(0)} s`,
      );
    }
    expect(accuracy).toBeGreaterThanOrEqual(0.97);
    t.dispose();
  }, 3_600_000);
});
