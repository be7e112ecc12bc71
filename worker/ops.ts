/**
 * tfjs ops we implement ourselves because a backend's own kernel is unusable for training.
 */

import * as tf from '@tensorflow/tfjs';

/**
 * A valid, stride-1 2-D convolution whose gradients avoid tfjs' Conv2DBackpropFilter: on the
 * cpu backend that kernel takes about 3.6 s for LeNet's two convolutions at batch 64 (measured
 * with tf.profile), over 90% of a training step. The filter gradient of a valid stride-1
 * convolution is itself a valid convolution, of the input with channels and batch swapped by
 * the output gradient used as the filter:
 *   dW[i, j, c, o] = sum_{b, y, x} X[b, y + i, x + j, c] * dY[b, y, x, o]
 *                  = conv2d(X^T as [c, H, W, b], dY^T as [Ho, Wo, b, o])[c, i, j, o]
 * which runs through the fast forward kernel (about 11x faster per step on cpu). The input
 * gradient uses conv2dTranspose, as tfjs does.
 */
export const conv2dValid = tf.customGrad(
  // customGrad hands inputs as a rest array plus a save function (typed loosely by tfjs).
  (...args: unknown[]) => {
    const [x, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: tf.conv2d(x, w, 1, 'valid'),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor4D;
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dx = tf.conv2dTranspose(g, ws, xs.shape, 1, 'valid');
        const xT = tf.transpose(xs, [3, 1, 2, 0]);
        const dyT = tf.transpose(g, [1, 2, 0, 3]);
        const dw = tf.transpose(tf.conv2d(xT, dyT, 1, 'valid'), [1, 2, 0, 3]);
        return [dx, dw];
      },
    };
  },
) as unknown as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;
