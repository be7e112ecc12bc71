/**
 * The strategy table of DESIGN.md 3.6 as data: which batching, exchange, gate and knowledge
 * transfer each strategy runs, so the one runtime can play DLion, its ablations and the baselines.
 */

import { PolicyError } from './errors';
import { err, ok, type Result } from './result';
import { STRATEGIES, type StrategyName } from './strategy-names';

/** How the global batch is split: WDB (3.1) or B / N each. */
export type Batching = 'wdb' | 'equal';

/**
 * What a peer sends each step. 'prioritized': per-link top-k of the residual (3.2). 'dense':
 * the whole weighted gradient to every peer. 'ako': one partition of the sliding sum.
 * 'gaia': the significant entries of the update accumulator.
 */
export type Exchange = 'prioritized' | 'dense' | 'ako' | 'gaia';

export interface StrategyTraits {
  readonly batching: Batching;
  readonly exchange: Exchange;
  /** Staleness bound s of the gate (3.4): 0 is lock-step. */
  readonly staleness: number;
  /** Direct knowledge transfer (3.5) on. */
  readonly dkt: boolean;
  /** Hop's b: the gate proceeds after hearing from all live peers but this many. */
  readonly backupPeers: number;
  /** Hop's iteration skipping: a peer far behind the mesh jumps ahead (baselines/hop.ts). */
  readonly skipIterations: boolean;
}

/** DLion's staleness bound: small, so fast peers run a little ahead but not away (3.4). */
export const DLION_STALENESS = 2;

/**
 * Staleness bound of the asynchronous baselines. Ako, Gaia and Hop all run with a bounded
 * delay; 4 gives them twice DLion's slack, so a comparison never blames DLion's wins on a
 * baseline that was held to a tighter gate.
 */
export const BASELINE_STALENESS = 4;

const DLION: StrategyTraits = {
  batching: 'wdb',
  exchange: 'prioritized',
  staleness: DLION_STALENESS,
  dkt: true,
  backupPeers: 0,
  skipIterations: false,
};

const BASELINE: StrategyTraits = {
  batching: 'equal',
  exchange: 'dense',
  staleness: BASELINE_STALENESS,
  dkt: false,
  backupPeers: 0,
  skipIterations: false,
};

const TABLE: { readonly [S in StrategyName]: StrategyTraits } = {
  dlion: DLION,
  // Dense weighted updates that receivers add: with equal batches the sum is the average.
  bsp: { ...BASELINE, staleness: 0 },
  ako: { ...BASELINE, exchange: 'ako' },
  gaia: { ...BASELINE, exchange: 'gaia' },
  hop: { ...BASELINE, backupPeers: 1, skipIterations: true },
  // Each ablation switches off exactly one of DLion's three techniques.
  'dlion-no-wdb': { ...DLION, batching: 'equal' },
  'dlion-no-prio': { ...DLION, exchange: 'dense' },
  'dlion-no-dkt': { ...DLION, dkt: false },
};

for (const traits of Object.values(TABLE)) Object.freeze(traits);
Object.freeze(TABLE);

/** The policies a strategy runs (DESIGN.md 3.6); the returned object is frozen and shared. */
export const strategyTraits = (name: StrategyName): StrategyTraits => TABLE[name];

/** True when `value` is one of the known strategy names (exact spelling). */
export const isStrategyName = (value: unknown): value is StrategyName =>
  typeof value === 'string' && (STRATEGIES as readonly string[]).includes(value);

/** Reads a strategy name from outside data (URL, config, message); no trimming or case folding. */
export function parseStrategyName(value: unknown): Result<StrategyName, PolicyError> {
  if (isStrategyName(value)) return ok(value);
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
  return err(
    new PolicyError(
      'bad-input',
      `unknown strategy ${shown}; expected one of ${STRATEGIES.join(', ')}`,
    ),
  );
}
