/**
 * The Gaia baseline (Hsieh et al., NSDI '17): significance-filtered exchange. Each peer
 * accumulates its updates per parameter and sends only those that would change the
 * parameter by more than a relative threshold theta; the rest wait in the accumulator.
 */

import { PolicyError } from '../errors';
import { err, ok, type Result } from '../result';
import { denseUpdateBytes, sparseUpdateBytesEstimate } from '../wire/sizes';

/** Gaia's initial significance threshold: 1% of the parameter's magnitude. */
export const GAIA_INITIAL_THRESHOLD = 0.01;

/**
 * Floor on |w| in the significance test |acc / w| > theta. A relative change is meaningless
 * for a weight at or near zero (biases start at 0), so below the floor the test becomes the
 * absolute one |acc| > theta * floor. 1e-3 with theta = 1% lets updates above 1e-5 through:
 * near-zero parameters are few and cheap, and holding their updates back would stall them.
 */
export const GAIA_WEIGHT_FLOOR = 1e-3;

/** A peer's Gaia sender state: updates not yet sent to the other peers. */
export interface GaiaState {
  /**
   * Per-parameter sum of the changes this peer's gradients made, -lr * w_i * g (the same sign
   * as the parameter change), since that entry was last sent. P floats.
   */
  readonly acc: Float32Array;
  readonly weightFloor: number;
}

/** Fresh state for a model of `paramCount` parameters. */
export function createGaiaState(
  paramCount: number,
  weightFloor: number = GAIA_WEIGHT_FLOOR,
): GaiaState {
  if (!Number.isInteger(paramCount) || paramCount < 1) {
    throw new PolicyError(
      'bad-config',
      `parameter count must be a positive integer, got ${paramCount}`,
    );
  }
  if (!(Number.isFinite(weightFloor) && weightFloor > 0)) {
    throw new PolicyError(
      'bad-config',
      `weight floor must be positive and finite, got ${weightFloor}`,
    );
  }
  return { acc: new Float32Array(paramCount), weightFloor };
}

/**
 * theta_t = theta_0 * lr_t / lr_0: the threshold decays with the learning rate, so late in
 * training, when every update is small, updates still get through.
 */
export function gaiaThreshold(
  learningRate: number,
  initialLearningRate: number,
  initialThreshold: number = GAIA_INITIAL_THRESHOLD,
): number {
  if (!(initialLearningRate > 0 && Number.isFinite(initialLearningRate))) {
    throw new PolicyError(
      'bad-config',
      `initial learning rate must be positive, got ${initialLearningRate}`,
    );
  }
  if (!(learningRate >= 0 && Number.isFinite(learningRate))) {
    throw new PolicyError('bad-config', `learning rate must be non-negative, got ${learningRate}`);
  }
  if (!(initialThreshold >= 0 && Number.isFinite(initialThreshold))) {
    throw new PolicyError('bad-config', `threshold must be non-negative, got ${initialThreshold}`);
  }
  return (initialThreshold * learningRate) / initialLearningRate;
}

/**
 * acc += -learningRate * weight * gradient: this step's change to the parameters, weighted by
 * the peer's batch share. Refuses non-finite input (or an overflowing sum), state unchanged.
 */
export function gaiaAccumulate(
  state: GaiaState,
  gradient: Float32Array,
  weight: number,
  learningRate: number,
): Result<void, PolicyError> {
  const { acc } = state;
  if (gradient.length !== acc.length) {
    return err(
      new PolicyError('bad-input', `gradient of ${gradient.length}, expected ${acc.length}`),
    );
  }
  const scale = -learningRate * weight;
  if (!Number.isFinite(scale))
    return err(new PolicyError('bad-input', 'non-finite weight or learning rate'));
  // Check before touching the state, so a refused gradient leaves no trace.
  for (let i = 0; i < acc.length; i++) {
    if (!Number.isFinite(Math.fround(acc[i]! + scale * gradient[i]!))) {
      return err(new PolicyError('bad-input', `non-finite gradient or overflow at index ${i}`));
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i]! += scale * gradient[i]!;
  return ok(undefined);
}

/** What Gaia sends this step: nothing, everything, or the significant entries. */
export type GaiaMessage =
  | { readonly kind: 'none' }
  | { readonly kind: 'dense'; readonly values: Float32Array }
  | { readonly kind: 'sparse'; readonly indices: Uint32Array; readonly values: Float32Array };

/**
 * Picks the significant entries (|acc_i| > theta * max(|w_i|, floor)), zeroes them in the
 * accumulator and returns them (indices ascending). Where the sparse message would not be
 * smaller than the dense one (f32 sizes from wire/sizes), the whole accumulator goes dense
 * and is zeroed. Linear time; two passes (count, then fill) instead of a P-sized index
 * scratch, which would cost another 4P bytes per peer. Refuses non-finite or mis-sized
 * parameters and a bad theta with the state unchanged.
 */
export function gaiaSelect(
  state: GaiaState,
  params: Float32Array,
  theta: number,
): Result<GaiaMessage, PolicyError> {
  const { acc, weightFloor } = state;
  const P = acc.length;
  if (params.length !== P) {
    return err(new PolicyError('bad-input', `parameters of ${params.length}, expected ${P}`));
  }
  if (!(theta >= 0 && Number.isFinite(theta))) {
    return err(
      new PolicyError('bad-input', `threshold must be non-negative and finite, got ${theta}`),
    );
  }
  // |acc| > theta * max(|w|, floor) is |acc / w| > theta without a division per entry or 0 / 0.
  let k = 0;
  for (let i = 0; i < P; i++) {
    const w = params[i]!;
    if (!Number.isFinite(w)) {
      return err(new PolicyError('bad-input', `non-finite parameter at index ${i}`));
    }
    if (Math.abs(acc[i]!) > theta * Math.max(Math.abs(w), weightFloor)) k++;
  }
  if (k === 0) return ok({ kind: 'none' });
  if (sparseUpdateBytesEstimate(P, k, 'f32') >= denseUpdateBytes(P, 'f32')) {
    const values = acc.slice();
    acc.fill(0);
    return ok({ kind: 'dense', values });
  }
  const indices = new Uint32Array(k);
  const values = new Float32Array(k);
  let j = 0;
  for (let i = 0; i < P; i++) {
    const a = acc[i]!;
    if (Math.abs(a) > theta * Math.max(Math.abs(params[i]!), weightFloor)) {
      indices[j] = i;
      values[j] = a;
      acc[i] = 0;
      j++;
    }
  }
  return ok({ kind: 'sparse', indices, values });
}
