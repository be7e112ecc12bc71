/**
 * Speed fixes registered with tfjs itself (DESIGN.md 9): no private layer language, so any
 * Layers model, built-in or brought by a person, gets them.
 *
 * The cpu backend's Conv2DBackpropFilter kernel is a plain loop: about 150 ns per
 * multiply-add here, 3.6 s of a 4 s LeNet step at batch 64 (measured with tf.profile), 22 s of
 * a step of the residual CNN at batch 32. The filter gradient of a stride-1 convolution is
 * itself a valid convolution, of the (padded) input with channels and batch swapped, by the
 * output gradient used as the filter:
 *   dW[i, j, c, o] = sum_{b, y, x} Xp[b, y + i, x + j, c] * dY[b, y, x, o]
 *                  = conv2d(Xp^T as [c, H, W, b], dY^T as [Ho, Wo, b, o])[c, i, j, o]
 * which runs through the cpu backend's fast forward Conv2D kernel.
 *
 * `installConvFilterGradient` registers that as the cpu backend's Conv2DBackpropFilter kernel
 * (for stride 1, dilation 1, NHWC, 'valid' or 'same' padding; anything else goes to the kernel
 * tfjs registered). A kernel, not a gradient: tfjs reaches it from the Conv2D gradient and
 * from fused convolutions' own gradients (a Layers Conv2D without an activation is fused even
 * while training), so every path gets it.
 */

import * as tf from '@tensorflow/tfjs';

type Info = tf.TensorInfo;
type KernelFunc = tf.KernelConfig['kernelFunc'];

interface BackpropFilterAttrs {
  readonly strides: number | readonly number[];
  readonly pad: unknown;
  readonly dataFormat: string;
  readonly dimRoundingMode?: string;
  readonly filterShape: readonly [number, number, number, number];
}

const ones = (v: number | readonly number[]): boolean =>
  typeof v === 'number' ? v === 1 : v.every((x) => x === 1);

/** The padding tfjs' 'same' uses at stride 1: k - 1 in total, the smaller half before. */
const samePads = (k: number): [number, number] => [
  Math.floor((k - 1) / 2),
  k - 1 - Math.floor((k - 1) / 2),
];

let installed = false;

/** Registers the fast Conv2DBackpropFilter for the cpu backend (idempotent). */
export function installConvFilterGradient(): void {
  if (installed) return;
  const original = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  if (!original) return; // no cpu backend in this runtime
  const kernel = (name: string): KernelFunc => {
    const k = tf.getKernel(name, 'cpu');
    if (!k) throw new Error(`the cpu backend has no ${name} kernel`);
    return k.kernelFunc;
  };
  const [conv, transpose, pad] = [kernel('Conv2D'), kernel('Transpose'), kernel('PadV2')];
  installed = true;
  tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'cpu',
    kernelFunc: (args) => {
      const a = args.attrs as unknown as BackpropFilterAttrs;
      const fast =
        ones(a.strides) && a.dataFormat === 'NHWC' && (a.pad === 'valid' || a.pad === 'same');
      if (!fast) return original.kernelFunc(args);
      const backend = args.backend as tf.KernelBackend & {
        disposeIntermediateTensorInfo(t: Info): void;
      };
      const { x, dy } = args.inputs as { x: Info; dy: Info };
      const call = (f: KernelFunc, inputs: Record<string, Info>, attrs: object): Info =>
        f({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as Info;
      const temps: Info[] = [];
      let input = x;
      if (a.pad === 'same') {
        const [kh, kw] = a.filterShape;
        input = call(
          pad,
          { x },
          { paddings: [[0, 0], samePads(kh), samePads(kw), [0, 0]], constantValue: 0 },
        );
        temps.push(input);
      }
      const xT = call(transpose, { x: input }, { perm: [3, 1, 2, 0] });
      const dyT = call(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const product = call(
        conv,
        { x: xT, filter: dyT },
        {
          strides: 1,
          pad: 'valid',
          dataFormat: 'NHWC',
          dilations: 1,
        },
      );
      temps.push(xT, dyT, product);
      const out = call(transpose, { x: product }, { perm: [1, 2, 0, 3] });
      for (const t of temps) backend.disposeIntermediateTensorInfo(t);
      return out;
    },
  });
}
