/**
 * Optimizers (SGD with momentum, Adam) on the flat parameter vector, in plain TypeScript on
 * Float32Arrays: bit-identical on every backend, exactly testable, and easy to checkpoint.
 */

import { err, ok, type Result } from '../core';

/** SGD with heavy-ball momentum in PyTorch's convention (see applyUpdate). */
export interface SgdConfig {
  readonly kind: 'sgd';
  readonly learningRate: number;
  /** mu in [0, 1); 0 is plain SGD. */
  readonly momentum: number;
}

/** Adam (Kingma & Ba 2015); the betas and epsilon default to the paper's values. */
export interface AdamConfig {
  readonly kind: 'adam';
  readonly learningRate: number;
  /** In [0, 1); default 0.9. */
  readonly beta1?: number;
  /** In [0, 1); default 0.999. */
  readonly beta2?: number;
  /** > 0; default 1e-8 (the paper's; tfjs uses 1e-7). */
  readonly epsilon?: number;
}

export type OptimizerConfig = SgdConfig | AdamConfig;

export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** Parameter vectors beyond this many entries are refused: 2^28 floats is 1 GiB per buffer. */
export const MAX_PARAM_COUNT = 2 ** 28;

export type OptimizerErrorCode =
  | 'bad-config'
  | 'bad-state'
  | 'length-mismatch'
  | 'non-finite-gradient'
  | 'non-finite-result';

/** A configuration, gradient or exported state the optimizer will not take. */
export class OptimizerError extends Error {
  override readonly name = 'OptimizerError';
  constructor(
    readonly code: OptimizerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Live SGD state: `velocity` is the momentum buffer v, in gradient units. */
export interface SgdState {
  readonly kind: 'sgd';
  learningRate: number;
  readonly momentum: number;
  /** Successful applies so far. */
  step: number;
  readonly velocity: Float32Array;
}

/** Live Adam state: first and second moment estimates; `step` is Adam's t. */
export interface AdamState {
  readonly kind: 'adam';
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** t: successful applies so far; the next apply uses t + 1 in the bias correction. */
  step: number;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

export type OptimizerState = SgdState | AdamState;

/** A snapshot of an optimizer for a checkpoint: hyperparameters, step and buffers (copies). */
export type ExportedOptimizerState =
  | {
      readonly kind: 'sgd';
      readonly hyper: { readonly learningRate: number; readonly momentum: number };
      readonly step: number;
      /** [velocity] */
      readonly buffers: readonly Float32Array[];
    }
  | {
      readonly kind: 'adam';
      readonly hyper: {
        readonly learningRate: number;
        readonly beta1: number;
        readonly beta2: number;
        readonly epsilon: number;
      };
      readonly step: number;
      /** [m, v] */
      readonly buffers: readonly Float32Array[];
    };

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const checkLearningRate = (lr: unknown): string | undefined =>
  // 0 is allowed: a schedule may warm up from it. The upper bound matches RoomConfig's.
  isNum(lr) && lr >= 0 && lr <= 10 ? undefined : `learningRate must be in [0, 10], got ${lr}`;
const checkUnit = (name: string, x: unknown): string | undefined =>
  isNum(x) && x >= 0 && x < 1 ? undefined : `${name} must be in [0, 1), got ${x}`;
const checkEpsilon = (x: unknown): string | undefined =>
  isNum(x) && x > 0 && x <= 1 ? undefined : `epsilon must be in (0, 1], got ${x}`;
const checkParamCount = (p: unknown): string | undefined =>
  Number.isSafeInteger(p) && (p as number) >= 0 && (p as number) <= MAX_PARAM_COUNT
    ? undefined
    : `paramCount must be an integer in [0, ${MAX_PARAM_COUNT}], got ${p}`;

/** The first problem with a config, or undefined; never throws on odd input (it may be JSON). */
function configProblem(cfg: OptimizerConfig): string | undefined {
  if (cfg === null || typeof cfg !== 'object') return 'config must be an object';
  if (cfg.kind === 'sgd') {
    return checkLearningRate(cfg.learningRate) ?? checkUnit('momentum', cfg.momentum);
  }
  if (cfg.kind === 'adam') {
    return (
      checkLearningRate(cfg.learningRate) ??
      checkUnit('beta1', cfg.beta1 ?? ADAM_DEFAULTS.beta1) ??
      checkUnit('beta2', cfg.beta2 ?? ADAM_DEFAULTS.beta2) ??
      checkEpsilon(cfg.epsilon ?? ADAM_DEFAULTS.epsilon)
    );
  }
  return `unknown optimizer kind ${JSON.stringify((cfg as { kind?: unknown }).kind)}`;
}

/**
 * A fresh optimizer for `paramCount` parameters, its buffers zeroed.
 * Throws OptimizerError('bad-config') for a config it cannot run (a caller bug, not input).
 *
 * @example const opt = createOptimizer({ kind: 'sgd', learningRate: 0.05, momentum: 0.9 }, P);
 */
export function createOptimizer(cfg: OptimizerConfig, paramCount: number): OptimizerState {
  const problem = configProblem(cfg) ?? checkParamCount(paramCount);
  if (problem !== undefined) throw new OptimizerError('bad-config', problem);
  if (cfg.kind === 'sgd') {
    return {
      kind: 'sgd',
      learningRate: cfg.learningRate,
      momentum: cfg.momentum,
      step: 0,
      velocity: new Float32Array(paramCount),
    };
  }
  return {
    kind: 'adam',
    learningRate: cfg.learningRate,
    beta1: cfg.beta1 ?? ADAM_DEFAULTS.beta1,
    beta2: cfg.beta2 ?? ADAM_DEFAULTS.beta2,
    epsilon: cfg.epsilon ?? ADAM_DEFAULTS.epsilon,
    step: 0,
    m: new Float32Array(paramCount),
    v: new Float32Array(paramCount),
  };
}

/** The number of parameters this optimizer was made for. */
export const optimizerParamCount = (state: OptimizerState): number =>
  state.kind === 'sgd' ? state.velocity.length : state.m.length;

/** Sets the learning rate for the next applies (schedules). Throws OptimizerError('bad-config'). */
export function setLearningRate(state: OptimizerState, lr: number): void {
  const problem = checkLearningRate(lr);
  if (problem !== undefined) throw new OptimizerError('bad-config', problem);
  state.learningRate = lr;
}

/** Index of the first non-finite entry; only called on the failure path. */
function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/**
 * Applies one gradient (the merged, batch-weighted mean gradient) to `params` in place.
 *
 * SGD, PyTorch's convention (dampening 0, no Nesterov):  v <- mu v + g;  w <- w - lr v.
 * The velocity is kept in gradient units, so a learning-rate change scales the very next step
 * (in Keras' v <- mu v - lr g; w <- w + v it would fade in over ~1/(1-mu) steps). With mu = 0
 * this is plain SGD.
 *
 * Adam (Kingma & Ba, Algorithm 1): t <- t + 1;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
 * mhat = m / (1 - b1^t);  vhat = v / (1 - b2^t);  w <- w - lr mhat / (sqrt(vhat) + eps).
 *
 * Arithmetic is in float64 per element, rounded to float32 where a value is stored (m, v,
 * velocity, w); the stored (rounded) m and v are the ones the parameter update reads, so a run
 * restored from a checkpoint continues bit-identically.
 *
 * Refused, with params and state untouched: a length mismatch, a non-finite gradient entry,
 * or a step whose result (a parameter or a buffer) would not be finite in float32. The
 * check is a read-only pass that computes every new value; the commit pass then recomputes
 * the same values (same float64 operations in the same order, so bit-identical) and writes
 * them. That costs a second pass of arithmetic but no scratch memory: at P = 10M a scratch
 * copy of params and buffers would be another 80-120 MB per peer.
 */
export function applyUpdate(
  state: OptimizerState,
  params: Float32Array,
  gradient: Float32Array,
): Result<void, OptimizerError> {
  const n = optimizerParamCount(state);
  if (params.length !== n || gradient.length !== n) {
    return err(
      new OptimizerError(
        'length-mismatch',
        `optimizer has ${n} parameters, got params of ${params.length} and gradient of ${gradient.length}`,
      ),
    );
  }
  const verdict =
    state.kind === 'sgd' ? sgd(state, params, gradient) : adam(state, params, gradient);
  if (verdict === 'ok') {
    state.step++;
    return ok(undefined);
  }
  if (verdict === 'gradient') {
    const i = firstNonFinite(gradient);
    return err(
      new OptimizerError('non-finite-gradient', `gradient[${i}] is ${gradient[i]}: refused`),
    );
  }
  return err(
    new OptimizerError(
      'non-finite-result',
      `step ${state.step + 1} (${state.kind}, learningRate ${state.learningRate}) would make a parameter or optimizer buffer non-finite: refused`,
    ),
  );
}

type Verdict = 'ok' | 'gradient' | 'result';

// Finiteness is tracked branch-free: x - x is 0 for a finite x and NaN for +-Inf or NaN, and
// NaN sticks in a sum. One comparison after the loop tells whether anything was non-finite.

function sgd(s: SgdState, w: Float32Array, g: Float32Array): Verdict {
  const n = w.length;
  const vel = s.velocity;
  const mu = s.momentum;
  const lr = s.learningRate;
  let gBad = 0;
  let rBad = 0;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const vi = Math.fround(mu * vel[i]! + gi);
    const wi = Math.fround(w[i]! - lr * vi);
    gBad += gi - gi;
    rBad += vi - vi + (wi - wi);
  }
  if (gBad !== 0) return 'gradient';
  if (rBad !== 0) return 'result';
  for (let i = 0; i < n; i++) {
    const vi = Math.fround(mu * vel[i]! + g[i]!);
    vel[i] = vi;
    w[i] = w[i]! - lr * vi;
  }
  return 'ok';
}

function adam(s: AdamState, w: Float32Array, g: Float32Array): Verdict {
  const n = w.length;
  const { m, v, beta1: b1, beta2: b2, epsilon: eps, learningRate: lr } = s;
  const t = s.step + 1;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  let gBad = 0;
  let rBad = 0;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = Math.fround(b1 * m[i]! + a1 * gi);
    const vi = Math.fround(b2 * v[i]! + a2 * (gi * gi));
    const wi = Math.fround(w[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps));
    gBad += gi - gi;
    rBad += mi - mi + (vi - vi) + (wi - wi);
  }
  if (gBad !== 0) return 'gradient';
  if (rBad !== 0) return 'result';
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = Math.fround(b1 * m[i]! + a1 * gi);
    const vi = Math.fround(b2 * v[i]! + a2 * (gi * gi));
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
  return 'ok';
}

/** A snapshot for a checkpoint. The buffers are copies: later applies do not change them. */
export function exportOptimizerState(state: OptimizerState): ExportedOptimizerState {
  if (state.kind === 'sgd') {
    return {
      kind: 'sgd',
      hyper: { learningRate: state.learningRate, momentum: state.momentum },
      step: state.step,
      buffers: [state.velocity.slice()],
    };
  }
  return {
    kind: 'adam',
    hyper: {
      learningRate: state.learningRate,
      beta1: state.beta1,
      beta2: state.beta2,
      epsilon: state.epsilon,
    },
    step: state.step,
    buffers: [state.m.slice(), state.v.slice()],
  };
}

/**
 * Checks a snapshot without copying anything: the kind, every hyperparameter, the step, the
 * number and lengths of the buffers, and that every entry is finite. Never throws. A snapshot
 * that passes here is one importOptimizerState accepts (checkpoints use it before restoring).
 */
export function checkOptimizerSnapshot(
  exported: ExportedOptimizerState,
  paramCount: number,
): Result<void, OptimizerError> {
  const bad = (message: string) => err(new OptimizerError('bad-state', message));
  try {
    const pc = checkParamCount(paramCount);
    if (pc !== undefined) return bad(pc);
    if (exported === null || typeof exported !== 'object') return bad('state must be an object');
    const { kind, hyper, step, buffers } = exported;
    if (kind !== 'sgd' && kind !== 'adam') return bad(`unknown optimizer kind ${String(kind)}`);
    if (hyper === null || typeof hyper !== 'object') return bad('hyper must be an object');
    const problem = configProblem({ kind, ...hyper } as OptimizerConfig);
    if (problem !== undefined) return bad(problem);
    if (!Number.isSafeInteger(step) || step < 0) {
      return bad(`step must be an integer >= 0, got ${step}`);
    }
    const want = kind === 'sgd' ? 1 : 2;
    if (!Array.isArray(buffers) || buffers.length !== want) {
      const got = Array.isArray(buffers) ? buffers.length : 'none';
      return bad(`${kind} has ${want} buffer(s), got ${got}`);
    }
    for (const [k, b] of buffers.entries()) {
      if (!(b instanceof Float32Array)) return bad(`buffer ${k} is not a Float32Array`);
      if (b.length !== paramCount) {
        return bad(`buffer ${k} has ${b.length} entries, expected ${paramCount}`);
      }
      const i = firstNonFinite(b);
      if (i >= 0) return bad(`buffer ${k}[${i}] is ${b[i]}`);
    }
    return ok(undefined);
  } catch (cause) {
    // Only a hostile object (a throwing getter) gets here; a snapshot from JSON cannot.
    return bad(`unreadable state: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * A live optimizer from a snapshot, for `paramCount` parameters, after checkOptimizerSnapshot;
 * never throws. The buffers are copied, so the snapshot stays independent. The caller still
 * compares `kind` and the hyperparameters with its room's config where it must.
 */
export function importOptimizerState(
  exported: ExportedOptimizerState,
  paramCount: number,
): Result<OptimizerState, OptimizerError> {
  const checked = checkOptimizerSnapshot(exported, paramCount);
  if (!checked.ok) return checked;
  const state = createOptimizer(
    { kind: exported.kind, ...exported.hyper } as OptimizerConfig,
    paramCount,
  );
  state.step = exported.step;
  if (state.kind === 'sgd') state.velocity.set(exported.buffers[0]!);
  else {
    state.m.set(exported.buffers[0]!);
    state.v.set(exported.buffers[1]!);
  }
  return ok(state);
}
