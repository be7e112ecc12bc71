/**
 * Time-to-accuracy metrics: when a strategy's accuracy curve first reaches the target, what it
 * reads at the budget, and how much faster one strategy got there than another (bsp, and the
 * best of the decentralized baselines ako, gaia and hop). Pure: runs in, numbers out.
 */

import type { StrategyName } from '../../core';
import type {
  CurvePoint,
  LinkBytes,
  PeerProfile,
  Ratio,
  StrategyResult,
  StrategyRun,
} from './types';

/** The decentralized baselines of the paper that DLion is compared against as a group. */
export const BASELINES = ['ako', 'gaia', 'hop'] as const satisfies readonly StrategyName[];
export type BaselineName = (typeof BASELINES)[number];

/** Samples with a finite time and accuracy; a failed evaluation (NaN) must not count as reached. */
function finitePoints(curve: readonly CurvePoint[]): CurvePoint[] {
  return curve.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.accuracy));
}

/**
 * The first time the mean accuracy reaches `target`, interpolated linearly between the last
 * sample below it and the first sample at or above it; the first sample's own time when it
 * already reaches the target; null when no sample does. Non-finite samples are skipped.
 *
 * @example
 * timeToTarget([{ t: 0, accuracy: 0.5, ... }, { t: 10, accuracy: 0.9, ... }], 0.8) // 7.5
 */
export function timeToTarget(curve: readonly CurvePoint[], target: number): number | null {
  let below: CurvePoint | undefined;
  for (const point of finitePoints(curve)) {
    if (point.accuracy >= target) {
      if (below === undefined) return point.t;
      // below.accuracy < target <= point.accuracy, so the denominator is positive.
      const share = (target - below.accuracy) / (point.accuracy - below.accuracy);
      return below.t + share * (point.t - below.t);
    }
    below = point;
  }
  return null;
}

/**
 * The accuracy of the last (finite) sample taken at or before `tS`: what an observer would have
 * read at that moment. NaN when there is none.
 */
export function accuracyAt(curve: readonly CurvePoint[], tS: number): number {
  let accuracy = Number.NaN;
  for (const point of finitePoints(curve)) {
    if (point.t > tS) break;
    accuracy = point.accuracy;
  }
  return accuracy;
}

/**
 * How many times faster `mine` reached the target than `base` (times in seconds). Null when
 * `mine` never reached it. When only `mine` did, the base would have needed more than the
 * whole budget, so `budgetS / mine` is a lower bound (`atLeast`).
 *
 * @example
 * speedup(20, 10, 60)   // { value: 2, atLeast: false }
 * speedup(null, 10, 60) // { value: 6, atLeast: true }
 */
export function speedup(base: number | null, mine: number | null, budgetS: number): Ratio | null {
  if (mine === null) return null;
  const numerator = base ?? budgetS;
  // Both at t = 0 (already above the target before training): equally fast, not 0/0.
  const value = numerator === mine ? 1 : numerator / mine;
  return { value, atLeast: base === null };
}

/** The baseline that reached the target first (or, when none did, read highest at the budget). */
export interface BaselinePick {
  readonly strategy: BaselineName;
  readonly timeToTargetS: number | null;
  readonly accuracyAtBudget: number;
}

function isBaseline(strategy: StrategyName): strategy is BaselineName {
  return (BASELINES as readonly StrategyName[]).includes(strategy);
}

/** Orders picks: reached before not reached, earlier first, then higher accuracy, then name order. */
function betterPick(a: BaselinePick, b: BaselinePick): boolean {
  if (a.timeToTargetS !== null && b.timeToTargetS === null) return true;
  if (a.timeToTargetS === null && b.timeToTargetS !== null) return false;
  if (a.timeToTargetS !== null && b.timeToTargetS !== null && a.timeToTargetS !== b.timeToTargetS)
    return a.timeToTargetS < b.timeToTargetS;
  const accA = Number.isNaN(a.accuracyAtBudget) ? -1 : a.accuracyAtBudget;
  const accB = Number.isNaN(b.accuracyAtBudget) ? -1 : b.accuracyAtBudget;
  if (accA !== accB) return accA > accB;
  return BASELINES.indexOf(a.strategy) < BASELINES.indexOf(b.strategy);
}

/**
 * Which of ako, gaia and hop (those present in `runs`, less `except`) did best: the lowest time
 * to target; when none reached it, the highest accuracy at the budget (its timeToTargetS is then
 * null). Null when none of them ran. A strategy that ran twice counts with its first run.
 *
 * @example
 * bestBaseline(runs, 0.9, 300)         // { strategy: 'gaia', timeToTargetS: 212.5, ... }
 * bestBaseline(runs, 0.9, 300, 'gaia') // the best of ako and hop, for gaia's own row
 */
export function bestBaseline(
  runs: readonly StrategyRun[],
  targetAccuracy: number,
  budgetS: number,
  except?: StrategyName,
): BaselinePick | null {
  let best: BaselinePick | null = null;
  const seen = new Set<StrategyName>();
  for (const run of runs) {
    const strategy = run.strategy;
    if (!isBaseline(strategy) || strategy === except || seen.has(strategy)) continue;
    seen.add(strategy);
    const pick: BaselinePick = {
      strategy,
      timeToTargetS: timeToTarget(run.curve, targetAccuracy),
      accuracyAtBudget: accuracyAt(run.curve, budgetS),
    };
    if (best === null || betterPick(pick, best)) best = pick;
  }
  return best;
}

/**
 * One result row per run, in run order: time to target, accuracy at the budget, bytes, and the
 * speed-ups over bsp and over the best of ako/gaia/hop (for those three, over the best of the
 * other two). See StrategyResult for when a ratio is null.
 */
export function summarize(
  runs: readonly StrategyRun[],
  targetAccuracy: number,
  budgetS: number,
): StrategyResult[] {
  const bsp = runs.find((run) => run.strategy === 'bsp');
  const bspTime = bsp === undefined ? null : timeToTarget(bsp.curve, targetAccuracy);
  return runs.map((run) => {
    const mine = timeToTarget(run.curve, targetAccuracy);
    const best = bestBaseline(
      runs,
      targetAccuracy,
      budgetS,
      isBaseline(run.strategy) ? run.strategy : undefined,
    );
    return {
      strategy: run.strategy,
      timeToTargetS: mine,
      accuracyAtBudget: accuracyAt(run.curve, budgetS),
      bytesSent: run.bytesSent,
      speedupOverBsp:
        bsp === undefined || run.strategy === 'bsp' ? null : speedup(bspTime, mine, budgetS),
      speedupOverBestBaseline: best === null ? null : speedup(best.timeToTargetS, mine, budgetS),
    };
  });
}

/** Traffic on one kind of link (inside sites or between them). */
export interface LinkKindTraffic {
  readonly links: number;
  readonly bytes: number;
  /** Mean over these links of the share of the gradient sent; null when there are none. */
  readonly meanSentFraction: number | null;
}

/**
 * Splits a run's links into those inside a site and those between sites, by the sites of the
 * scenario's peers (links with a peer of unknown site count nowhere).
 */
export function siteTraffic(
  links: readonly LinkBytes[],
  peers: readonly PeerProfile[],
): { intra: LinkKindTraffic; inter: LinkKindTraffic } {
  const site = new Map(peers.map((p) => [p.name, p.site]));
  const sum = { intra: { n: 0, bytes: 0, f: 0 }, inter: { n: 0, bytes: 0, f: 0 } };
  for (const l of links) {
    const a = site.get(l.from);
    const b = site.get(l.to);
    if (a === undefined || b === undefined) continue;
    const k = a === b ? sum.intra : sum.inter;
    k.n++;
    k.bytes += l.bytesSent;
    k.f += l.sentFraction;
  }
  const out = (k: { n: number; bytes: number; f: number }): LinkKindTraffic => ({
    links: k.n,
    bytes: k.bytes,
    meanSentFraction: k.n === 0 ? null : k.f / k.n,
  });
  return { intra: out(sum.intra), inter: out(sum.inter) };
}

/** One strategy over several seeds of one scenario (`--seeds`). */
export interface SeedSummary {
  readonly strategy: StrategyName;
  readonly seeds: number;
  /** Accuracy at the budget: mean, lowest and highest over the seeds. */
  readonly accuracyAtBudget: { readonly mean: number; readonly min: number; readonly max: number };
  /** Mean of the accuracy samples in the last quarter of the budget, averaged over the seeds. */
  readonly lateAccuracy: number;
  /** Seeds on which the target was reached, and the median time of those. */
  readonly reached: number;
  readonly medianTimeToTargetS: number | null;
  /** Seeds on which this strategy's accuracy at the budget beat every other strategy's. */
  readonly bestAtBudget: number;
}

/**
 * The mean accuracy of `curve`'s samples from `fromS` to `toS`; the last sample at or before
 * `toS` if none is that late.
 */
export function lateAccuracy(
  curve: readonly CurvePoint[],
  fromS: number,
  toS = Number.POSITIVE_INFINITY,
): number {
  const late = curve.filter((p) => p.t >= fromS - 1e-9 && p.t <= toS + 1e-9);
  if (late.length === 0) return curve.at(-1)?.accuracy ?? 0;
  return late.reduce((a, p) => a + p.accuracy, 0) / late.length;
}

/**
 * Per strategy, its figures over the seeds: each element of `perSeed` is one seed's runs (the
 * same strategies in each). Throws when the seeds did not run the same strategies.
 */
export function summarizeSeeds(
  perSeed: readonly (readonly StrategyRun[])[],
  target: number,
  budgetS: number,
): SeedSummary[] {
  if (perSeed.length === 0) return [];
  const names = perSeed[0]!.map((r) => r.strategy);
  for (const runs of perSeed) {
    const these = runs.map((r) => r.strategy);
    if (these.length !== names.length || these.some((n, i) => n !== names[i])) {
      throw new Error(`every seed must run the same strategies: ${names} vs ${these}`);
    }
  }
  const atBudget = perSeed.map((runs) => runs.map((r) => accuracyAt(r.curve, budgetS)));
  return names.map((strategy, k) => {
    const acc = atBudget.map((row) => row[k]!);
    const times = perSeed
      .map((runs) => timeToTarget(runs[k]!.curve, target))
      .filter((t): t is number => t !== null)
      .sort((x, y) => x - y);
    const mid = times.length >> 1;
    const median =
      times.length === 0
        ? null
        : times.length % 2 === 1
          ? times[mid]!
          : (times[mid - 1]! + times[mid]!) / 2;
    return {
      strategy,
      seeds: perSeed.length,
      accuracyAtBudget: {
        mean: acc.reduce((a, x) => a + x, 0) / acc.length,
        min: Math.min(...acc),
        max: Math.max(...acc),
      },
      lateAccuracy:
        perSeed.reduce((a, runs) => a + lateAccuracy(runs[k]!.curve, budgetS * 0.75, budgetS), 0) /
        perSeed.length,
      reached: times.length,
      medianTimeToTargetS: median,
      bestAtBudget: atBudget.filter((row) => row.every((x, j) => j === k || row[k]! > x)).length,
    };
  });
}
