/**
 * The models (DESIGN.md 6) as small layer programs over ONE flat parameter vector: the mesh
 * exchanges Float32Arrays of P entries, so the layout of every parameter in that vector is
 * fixed here, and the same program runs forward on any tfjs backend.
 */

import * as tf from '@tensorflow/tfjs';
import { checksum, mulberry32 } from '../core';
import { conv2dValid } from './ops';

export const MODEL_NAMES = ['mlp', 'cnn', 'cnn-large'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Images are 28 x 28 grey (MNIST, Fashion-MNIST), 10 classes. */
export const IMAGE_SIZE = 28;
export const CLASSES = 10;

export type Layer =
  | {
      readonly kind: 'conv';
      readonly size: number;
      readonly filters: number;
      readonly pad: 'same' | 'valid';
    }
  | { readonly kind: 'pool' }
  | { readonly kind: 'flatten' }
  | { readonly kind: 'dense'; readonly units: number; readonly relu: boolean };

/** One parameter tensor's place in the flat vector. */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
  /** Glorot fan-in and fan-out (biases: 0, they start at zero). */
  readonly fanIn: number;
  readonly fanOut: number;
}

export interface ModelSpec {
  readonly name: ModelName;
  readonly layers: readonly Layer[];
  readonly params: readonly ParamSpec[];
  readonly paramCount: number;
  /** u32 hash of the layout: refuses parameters or checkpoints of another architecture. */
  readonly fingerprint: number;
  /** Whether the input is an image [b, 28, 28, 1] (conv models) or a vector [b, 784]. */
  readonly imageInput: boolean;
}

const PROGRAMS: Record<ModelName, readonly Layer[]> = {
  mlp: [
    { kind: 'dense', units: 128, relu: true },
    { kind: 'dense', units: CLASSES, relu: false },
  ],
  // LeNet-5 style: about 62k parameters.
  cnn: [
    { kind: 'conv', size: 5, filters: 6, pad: 'same' },
    { kind: 'pool' },
    { kind: 'conv', size: 5, filters: 16, pad: 'valid' },
    { kind: 'pool' },
    { kind: 'flatten' },
    { kind: 'dense', units: 120, relu: true },
    { kind: 'dense', units: 84, relu: true },
    { kind: 'dense', units: CLASSES, relu: false },
  ],
  // About 1M parameters, most of them in the first dense layer: the model where bandwidth,
  // not compute, should dominate.
  'cnn-large': [
    { kind: 'conv', size: 3, filters: 32, pad: 'same' },
    { kind: 'conv', size: 3, filters: 32, pad: 'same' },
    { kind: 'pool' },
    { kind: 'conv', size: 3, filters: 64, pad: 'same' },
    { kind: 'pool' },
    { kind: 'flatten' },
    { kind: 'dense', units: 300, relu: true },
    { kind: 'dense', units: CLASSES, relu: false },
  ],
};

/** The layout of a model's parameters (shapes, offsets, fingerprint). */
export function modelSpec(name: ModelName): ModelSpec {
  const layers = PROGRAMS[name];
  const imageInput = layers[0]?.kind === 'conv';
  let h = IMAGE_SIZE;
  let w = IMAGE_SIZE;
  let channels = imageInput ? 1 : IMAGE_SIZE * IMAGE_SIZE;
  const params: ParamSpec[] = [];
  let offset = 0;
  const add = (pname: string, shape: number[], fanIn: number, fanOut: number) => {
    const size = shape.reduce((a, b) => a * b, 1);
    params.push({ name: pname, shape, offset, size, fanIn, fanOut });
    offset += size;
  };
  layers.forEach((layer, i) => {
    if (layer.kind === 'conv') {
      const k = layer.size;
      add(`l${i}.kernel`, [k, k, channels, layer.filters], k * k * channels, k * k * layer.filters);
      add(`l${i}.bias`, [layer.filters], 0, 0);
      if (layer.pad === 'valid') {
        h -= k - 1;
        w -= k - 1;
      }
      channels = layer.filters;
    } else if (layer.kind === 'pool') {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    } else if (layer.kind === 'flatten') {
      channels = h * w * channels;
    } else {
      add(`l${i}.kernel`, [channels, layer.units], channels, layer.units);
      add(`l${i}.bias`, [layer.units], 0, 0);
      channels = layer.units;
    }
  });
  const layout = JSON.stringify({ name, params: params.map((p) => [p.name, p.shape]) });
  const bytes = Uint8Array.from(layout, (c) => c.charCodeAt(0));
  return { name, layers, params, paramCount: offset, fingerprint: checksum(bytes), imageInput };
}

/**
 * Initial parameters from a seed: Glorot-uniform kernels, zero biases. Every peer of a room
 * starts from the same vector, and equal seeds give bit-identical models on any backend.
 */
export function initParams(spec: ModelSpec, seed: number): Float32Array {
  const rand = mulberry32(seed ^ spec.fingerprint);
  const out = new Float32Array(spec.paramCount);
  for (const p of spec.params) {
    if (p.fanIn === 0) continue;
    const limit = Math.sqrt(6 / (p.fanIn + p.fanOut));
    for (let i = p.offset; i < p.offset + p.size; i++) out[i] = (rand() * 2 - 1) * limit;
  }
  return out;
}

/** The parameter tensors for a flat vector, in layout order (the caller disposes them). */
export function paramTensors(spec: ModelSpec, flat: Float32Array): tf.Tensor[] {
  return spec.params.map((p) =>
    tf.tensor(flat.subarray(p.offset, p.offset + p.size), [...p.shape]),
  );
}

/** Logits [b, 10] for a batch x ([b, 784] or [b, 28, 28, 1], by spec.imageInput). */
export function forward(spec: ModelSpec, params: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D {
  let a: tf.Tensor = x;
  let next = 0;
  const take = () => {
    const t = params[next++];
    if (!t) throw new Error(`model ${spec.name}: missing parameter ${next - 1}`);
    return t;
  };
  for (const layer of spec.layers) {
    if (layer.kind === 'conv') {
      const kernel = take() as tf.Tensor4D;
      const bias = take();
      const p = layer.pad === 'same' ? (layer.size - 1) / 2 : 0;
      const input =
        p > 0
          ? tf.pad(a as tf.Tensor4D, [
              [0, 0],
              [p, p],
              [p, p],
              [0, 0],
            ])
          : (a as tf.Tensor4D);
      a = tf.relu(tf.add(conv2dValid(input, kernel), bias));
    } else if (layer.kind === 'pool') {
      a = tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid');
    } else if (layer.kind === 'flatten') {
      a = tf.reshape(a, [a.shape[0] ?? -1, -1]);
    } else {
      const kernel = take() as tf.Tensor2D;
      const bias = take();
      const z = tf.add(tf.matMul(a as tf.Tensor2D, kernel), bias);
      a = layer.relu ? tf.relu(z) : z;
    }
  }
  return a as tf.Tensor2D;
}
