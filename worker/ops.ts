/**
 * Speed fixes registered with tfjs itself (DESIGN.md 9): no private layer language, so any
 * Layers model, built-in or brought by a person, gets them.
 *
 * The cpu backend's Conv2DBackpropFilter takes about 3.6 s for LeNet's two convolutions at
 * batch 64 (measured with tf.profile), over 90% of a training step. The filter gradient of a
 * stride-1 convolution is itself a valid convolution, of the (padded) input with channels and
 * batch swapped by the output gradient used as the filter:
 *   dW[i, j, c, o] = sum_{b, y, x} Xp[b, y + i, x + j, c] * dY[b, y, x, o]
 *                  = conv2d(Xp^T as [c, H, W, b], dY^T as [Ho, Wo, b, o])[c, i, j, o]
 * which runs through the fast forward kernel (about 11x faster per step on cpu).
 * `installConvFilterGradient` registers that as the gradient of tfjs's Conv2D kernel, for the
 * cpu backend and stride 1, dilation 1, NHWC, 'valid' or 'same' padding; every other case, and
 * the input gradient always, goes to the gradient tfjs registered.
 */

import * as tf from '@tensorflow/tfjs';

interface Conv2DAttrs {
  readonly strides: number | readonly number[];
  readonly pad: unknown;
  readonly dataFormat: string;
  readonly dilations: number | readonly number[];
}

const ones = (v: number | readonly number[]): boolean =>
  typeof v === 'number' ? v === 1 : v.every((x) => x === 1);

/** The filter gradient of a stride-1 'valid' or 'same' convolution, through conv2d. */
export function convFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: readonly [number, number, number, number],
  pad: 'valid' | 'same',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filterShape;
    let input = x;
    if (pad === 'same') {
      // tfjs' 'same' for stride 1: k - 1 in total, the smaller half before.
      const top = Math.floor((kh - 1) / 2);
      const left = Math.floor((kw - 1) / 2);
      input = tf.pad(x, [
        [0, 0],
        [top, kh - 1 - top],
        [left, kw - 1 - left],
        [0, 0],
      ]);
    }
    const xT = tf.transpose(input, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    return tf.transpose(tf.conv2d(xT, dyT, 1, 'valid'), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

let installed = false;

/** Registers the fast filter gradient for Conv2D (idempotent). */
export function installConvFilterGradient(): void {
  if (installed) return;
  const original = tf.getGradient('Conv2D');
  if (!original) throw new Error('tfjs registered no gradient for Conv2D');
  installed = true;
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const base = original.gradFunc(dy, saved, attrs);
      const a = attrs as unknown as Conv2DAttrs;
      const fast =
        tf.getBackend() === 'cpu' &&
        ones(a.strides) &&
        ones(a.dilations) &&
        a.dataFormat === 'NHWC' &&
        (a.pad === 'valid' || a.pad === 'same');
      if (!fast) return base;
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const shape = filter.shape as [number, number, number, number];
      return {
        x: base.x!,
        filter: () => convFilterGradient(x, dy as tf.Tensor4D, shape, a.pad as 'valid' | 'same'),
      };
    },
  });
}
