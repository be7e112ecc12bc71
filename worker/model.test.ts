import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { forward, initParams, MODEL_NAMES, modelSpec, paramTensors } from './model';
import { conv2dValid } from './ops';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('model layouts', () => {
  it('have the documented sizes and distinct fingerprints', () => {
    expect(modelSpec('mlp').paramCount).toBe(784 * 128 + 128 + 128 * 10 + 10);
    // LeNet-5 on 28 x 28 with a 'same' first convolution, as in tf.layers: 61 706.
    expect(modelSpec('cnn').paramCount).toBe(61_706);
    const large = modelSpec('cnn-large').paramCount;
    expect(large).toBeGreaterThan(900_000);
    expect(large).toBeLessThan(1_100_000);
    const prints = new Set(MODEL_NAMES.map((m) => modelSpec(m).fingerprint));
    expect(prints.size).toBe(MODEL_NAMES.length);
    for (const m of MODEL_NAMES) {
      const spec = modelSpec(m);
      const last = spec.params.at(-1)!;
      expect(last.offset + last.size).toBe(spec.paramCount);
    }
  });

  it('initialise deterministically: equal seeds give identical bits, biases start at zero', () => {
    for (const m of MODEL_NAMES) {
      const spec = modelSpec(m);
      const a = initParams(spec, 7);
      const b = initParams(spec, 7);
      const c = initParams(spec, 8);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
      for (const p of spec.params) {
        const slice = a.subarray(p.offset, p.offset + p.size);
        const max = slice.reduce((acc, v) => Math.max(acc, Math.abs(v)), 0);
        if (p.fanIn === 0) expect(max).toBe(0);
        else {
          expect(max).toBeGreaterThan(0);
          expect(max).toBeLessThanOrEqual(Math.sqrt(6 / (p.fanIn + p.fanOut)));
        }
      }
    }
  });

  it('run forward to [b, 10] logits without leaking tensors', () => {
    for (const m of MODEL_NAMES) {
      const spec = modelSpec(m);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const params = paramTensors(spec, initParams(spec, 1));
        const x = spec.imageInput ? tf.randomUniform([3, 28, 28, 1]) : tf.randomUniform([3, 784]);
        const logits = forward(spec, params, x);
        expect(logits.shape).toEqual([3, 10]);
        expect(Number.isFinite(logits.sum().dataSync()[0])).toBe(true);
      });
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

describe('conv2dValid', () => {
  it('has the same value and gradients as tfjs conv2d', () => {
    type Shape4 = [number, number, number, number];
    const cases: { x: Shape4; w: Shape4 }[] = [
      { x: [2, 9, 9, 1], w: [5, 5, 1, 3] },
      { x: [3, 7, 6, 4], w: [3, 2, 4, 5] },
    ];
    for (const c of cases) {
      tf.tidy(() => {
        const x = tf.randomNormal(c.x, 0, 1, 'float32', 3) as tf.Tensor4D;
        const w = tf.randomNormal(c.w, 0, 1, 'float32', 4) as tf.Tensor4D;
        const dyShape = [c.x[0]!, c.x[1]! - c.w[0]! + 1, c.x[2]! - c.w[1]! + 1, c.w[3]!];
        const probe = tf.randomNormal(dyShape, 0, 1, 'float32', 5);
        const ref = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'), probe)),
        )([x, w]);
        const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(conv2dValid(a as tf.Tensor4D, b as tf.Tensor4D), probe)),
        )([x, w]);
        const close = (p: tf.Tensor, q: tf.Tensor) =>
          tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]! /
          Math.max(1e-6, tf.max(tf.abs(p)).dataSync()[0]!);
        expect(close(tf.conv2d(x, w, 1, 'valid'), conv2dValid(x, w))).toBeLessThan(1e-5);
        expect(close(ref[0]!, ours[0]!)).toBeLessThan(1e-5);
        expect(close(ref[1]!, ours[1]!)).toBeLessThan(1e-5);
      });
    }
  });
});
