/**
 * The shapes the time-to-accuracy benchmark passes around: a scenario (who trains, with what
 * capacity and uplink, and what changes when), one strategy's run (its accuracy curve and
 * bytes), and the output file (`--out`). The sim and live runners produce StrategyRun; the
 * metrics and the report only read them.
 */

import type { DatasetName, ModelName, Sharding, StrategyName } from '../../core';
import type { SiteLinks } from '../../mesh';

/** One peer of a scenario: its emulated compute slowdown and uplink cap. */
export interface PeerProfile {
  /** Shown in tables and logs; defaults to p1, p2, ... */
  readonly name: string;
  /** Compute slowdown factor, >= 1 (DESIGN.md 5). */
  readonly slowdown: number;
  /** Cap on each outgoing link, Mbit/s; undefined: no cap. */
  readonly uplinkMbps?: number | undefined;
  /** Latency added to each outgoing frame, ms. */
  readonly latencyMs?: number | undefined;
  /** The micro-cloud (site) the peer is in. */
  readonly site?: string | undefined;
}

/** A change at a point of the run (dynamic scenarios): new knobs for one peer. */
export interface TimelineChange {
  /** Seconds from the start of the run (virtual seconds in sim mode). */
  readonly atS: number;
  /** Index into Scenario.peers. */
  readonly peer: number;
  readonly slowdown?: number | undefined;
  readonly uplinkMbps?: number | undefined;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly model: ModelName;
  readonly dataset: DatasetName;
  readonly sharding: Sharding;
  readonly peers: readonly PeerProfile[];
  /** Extra room config fields (globalBatch, learningRate, staleness, ...). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Mean test accuracy over the peers that counts as "reached". */
  readonly targetAccuracy: number;
  /** The fixed time budget, seconds: accuracy is read here and the run stops. */
  readonly budgetS: number;
  /** Seconds between accuracy samples. */
  readonly evalEveryS: number;
  /** Test images each accuracy sample uses. */
  readonly testSamples: number;
  readonly timeline: readonly TimelineChange[];
  /** Caps and latency by site pair, on top of the peers' own. */
  readonly siteLinks?: SiteLinks | undefined;
}

/** One accuracy sample: mean (and lowest) test accuracy over the live peers at time t. */
export interface CurvePoint {
  readonly t: number;
  readonly accuracy: number;
  readonly minAccuracy: number;
  /** Mean step index over the peers. */
  readonly step: number;
}

/** Bytes one peer sent to another over the whole run, with its share of the gradient. */
export interface LinkBytes {
  readonly from: string;
  readonly to: string;
  readonly bytesSent: number;
  /** Cumulative share of the gradient's L1 mass sent on this link, 0..1. */
  readonly sentFraction: number;
  /** The sender's bandwidth estimate for the link at the end, Mbit/s, where known. */
  readonly estimatedMbps?: number;
  /** The emulated cap on the link (live mode), or the kernel rate (--netns), Mbit/s. */
  readonly capMbps?: number;
}

/** Where one peer's time went (sim mode): the measurements that say why a strategy won. */
export interface PeerDetail {
  readonly name: string;
  readonly steps: number;
  readonly meanBatch: number;
  /** Share of the run's time the peer spent computing steps (the rest: gate, network, DKT). */
  readonly computeShare: number;
}

/** What one strategy did in one scenario. */
export interface StrategyRun {
  readonly strategy: StrategyName;
  readonly curve: readonly CurvePoint[];
  /** Bytes sent on every link, summed. */
  readonly bytesSent: number;
  readonly links: readonly LinkBytes[];
  /** Steps each peer computed, by profile name. */
  readonly steps: Readonly<Record<string, number>>;
  /** Knowledge-transfer merges kept / rolled back. */
  readonly merges: { readonly kept: number; readonly rolledBack: number };
  /** Wall-clock seconds the run took on this machine. */
  readonly wallS: number;
  /** Per-peer steps, batch and compute share, where the runner measures them. */
  readonly peers?: readonly PeerDetail[];
  /** Set when adversaries replaced some peers (`--attack`): what the honest peers saw. */
  readonly attack?: AttackOutcome;
}

/** A speed-up ratio; `atLeast` when the slower side never reached the target (a lower bound). */
export interface Ratio {
  readonly value: number;
  readonly atLeast: boolean;
}

/** One row of the output file. */
export interface StrategyResult {
  readonly strategy: StrategyName;
  readonly timeToTargetS: number | null;
  readonly accuracyAtBudget: number;
  readonly bytesSent: number;
  /** bsp's time to target over this one's; null when neither reached it or bsp did not run. */
  readonly speedupOverBsp: Ratio | null;
  /** The best (fastest) of ako, gaia and hop over this one; null when none ran or none reached. */
  readonly speedupOverBestBaseline: Ratio | null;
}

/** What `--out FILE` holds. */
export interface BenchOutput {
  readonly scenario: string;
  readonly mode: 'sim' | 'live' | 'live-browsers' | 'live-netns';
  readonly targetAccuracy: number;
  readonly budgetS: number;
  readonly results: readonly StrategyResult[];
  /** The command line that made this file. */
  readonly command: string;
  readonly startedAt: string;
  /** The scenario as it ran (after name resolution and overrides). */
  readonly scenarioSpec: Scenario;
  /** The compute costs the sim charged (sim mode only). */
  readonly calibration?: unknown;
  readonly runs: readonly StrategyRun[];
}

/** An attack run (`npm run bench -- --attack KIND`): adversaries in place of some peers. */
export interface AttackOutcome {
  readonly kind: string;
  /** The scenario's peers the adversaries replaced. */
  readonly replaced: readonly string[];
  /** Whether the defences were off (`--undefended`: clipFactor 0, shareCap 1000). */
  readonly undefended: boolean;
  /** Refused (and clipped) inputs counted by the honest peers, by kind, summed. */
  readonly refusals: Readonly<Record<string, number>>;
  /** The adversaries' mean share of the global batch in the honest peers' rebalances. */
  readonly adversaryShare: number;
}
