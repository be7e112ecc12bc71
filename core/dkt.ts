/**
 * Direct knowledge transfer policy (DESIGN.md 3.5): who is best, whom to ask for parameters,
 * how to merge them, when to roll the merge back, and which sources are no longer trusted.
 * The shell does the evaluating, the asking and the chunked sending.
 *
 * One round, on the receiving peer (rounds: see DktRound):
 *   const d = decideRound(self, round, reports, members, cfg, trust, nowMs);  // or shouldAsk
 *   // d.ask: request params from d.from; when they arrive (own is kept for rollback):
 *   const merged = mergeParams(own, theirs, cfg.beta);          // Result: refuse on error
 *   const lossAfter = evaluate(merged.value);
 *   const { decision, event } = settleMerge(trust, { ...fields, delta: cfg.delta });
 *   // decision 'rollback': keep `own`; publish `event` to the dashboard either way.
 */

import { PolicyError } from './errors';
import { comparePeerIds, type PeerId } from './ids';
import { err, ok, type Result } from './result';

/**
 * A peer's evaluation on the room's DKT split (the common probe, or its own validation
 * split). `atMs` is the LOCAL time at which this peer
 * received (or, for its own report, produced) it: peers' monotonic clocks have different
 * origins, so a sender's timestamp cannot be compared with our clock.
 */
export interface DktReport {
  readonly peer: PeerId;
  readonly loss: number;
  readonly accuracy: number;
  readonly step: number;
  readonly atMs: number;
}

/** DKT policy parameters (room config); check with validateDktConfig. */
export interface DktConfig {
  /** Ask when own loss exceeds the best loss by more than this (absolute, in loss units). */
  readonly epsilon: number;
  /** Merge weight of the best peer's parameters, in (0, 1]. */
  readonly beta: number;
  /** Roll back when the merged loss exceeds the loss before by more than this. */
  readonly delta: number;
  /** Reports older than this are ignored (a peer that stopped reporting is not "best"). */
  readonly maxAgeMs: number;
  /** Consecutive rolled-back transfers after which a source is no longer trusted. */
  readonly maxFailures: number;
}

/** Defaults: beta from DESIGN.md; epsilon, delta and the age picked for cross-entropy losses. */
export const DEFAULT_DKT_CONFIG: DktConfig = {
  epsilon: 0.05,
  beta: 0.5,
  delta: 0.02,
  maxAgeMs: 30_000,
  maxFailures: 3,
};

/** Checks a DKT configuration (e.g. from the room config); PolicyError('bad-config') if unusable. */
export function validateDktConfig(cfg: DktConfig): Result<DktConfig, PolicyError> {
  const nonNegative = (v: number) => Number.isFinite(v) && v >= 0;
  if (!nonNegative(cfg.epsilon)) return err(badConfig('epsilon must be finite and >= 0'));
  if (!validBeta(cfg.beta)) return err(badConfig('beta must be in (0, 1]'));
  if (!nonNegative(cfg.delta)) return err(badConfig('delta must be finite and >= 0'));
  if (!(cfg.maxAgeMs > 0)) return err(badConfig('maxAgeMs must be > 0'));
  if (!(Number.isSafeInteger(cfg.maxFailures) && cfg.maxFailures >= 1)) {
    return err(badConfig('maxFailures must be an integer >= 1'));
  }
  return ok(cfg);
}

const badConfig = (message: string) => new PolicyError('bad-config', `dkt: ${message}`);
const validBeta = (beta: number): boolean => Number.isFinite(beta) && beta > 0 && beta <= 1;

/** Whether a report can be used: finite loss and accuracy, a step and a time. */
export const isValidReport = (r: DktReport): boolean =>
  Number.isFinite(r.loss) &&
  Number.isFinite(r.accuracy) &&
  Number.isSafeInteger(r.step) &&
  r.step >= 0 &&
  Number.isFinite(r.atMs) &&
  r.atMs >= 0;

/**
 * The newest valid report of each peer (by time, then step). With `nowMs` and `maxAgeMs`,
 * reports older than maxAgeMs are left out.
 */
export function latestReports(
  reports: Iterable<DktReport>,
  fresh?: { readonly nowMs: number; readonly maxAgeMs: number },
): Map<PeerId, DktReport> {
  const latest = new Map<PeerId, DktReport>();
  for (const r of reports) {
    if (!isValidReport(r)) continue;
    if (fresh !== undefined && !(fresh.nowMs - r.atMs <= fresh.maxAgeMs)) continue;
    const seen = latest.get(r.peer);
    if (seen === undefined || r.atMs > seen.atMs || (r.atMs === seen.atMs && r.step > seen.step)) {
      latest.set(r.peer, r);
    }
  }
  return latest;
}

/**
 * The peer with the lowest loss in its newest valid report (ties: lowest id), skipping peers
 * no longer trusted as sources; undefined when there is none.
 */
export function selectBest(reports: Iterable<DktReport>, trust: Trust): PeerId | undefined {
  return bestReport(latestReports(reports).values(), trust, undefined)?.peer;
}

function bestReport(
  reports: Iterable<DktReport>,
  trust: Trust,
  self: PeerId | undefined,
): DktReport | undefined {
  let best: DktReport | undefined;
  for (const r of reports) {
    // The peer itself is never a "source" for itself, so distrust does not apply to it.
    if (r.peer !== self && !isTrusted(trust, r.peer)) continue;
    if (
      best === undefined ||
      r.loss < best.loss ||
      (r.loss === best.loss && comparePeerIds(r.peer, best.peer) < 0)
    ) {
      best = r;
    }
  }
  return best;
}

/** shouldAsk's answer: no, or yes and from which peer. */
export type AskDecision = { readonly ask: false } | { readonly ask: true; readonly from: PeerId };

/**
 * Whether `self` should ask for parameters, and from whom: when its own loss is greater than
 * the best trusted peer's loss + epsilon (equal does not ask), and the best is not itself.
 * Only fresh reports count (nowMs - atMs <= maxAgeMs); without a fresh own report, no ask.
 */
export function shouldAsk(
  self: PeerId,
  reports: Iterable<DktReport>,
  cfg: { readonly epsilon: number; readonly maxAgeMs: number },
  trust: Trust,
  nowMs: number,
): AskDecision {
  const fresh = latestReports(reports, { nowMs, maxAgeMs: cfg.maxAgeMs });
  const own = fresh.get(self);
  if (own === undefined) return { ask: false };
  const best = bestReport(fresh.values(), trust, self);
  if (best === undefined || best.peer === self) return { ask: false };
  return own.loss > best.loss + cfg.epsilon ? { ask: true, from: best.peer } : { ask: false };
}

/**
 * DKT rounds. Peers evaluate on timers of their own, so the newest report of one peer and of
 * another can be a whole period apart, and while training moves fast the newer one always
 * looks best: compared that way, most peers never ask. A round compares like with like: the
 * first peer whose period is up evaluates and reports; a peer that hears a report and has
 * not evaluated for half a period joins (evaluates at once); each peer decides once it holds
 * a report of every live peer from this round, or when the round's wait is over, comparing
 * this round's reports only. A report belongs to the round when it arrived at most half a
 * period before the round started here: the previous round's arrived about a period before.
 * Rounds go by local time, not by steps, so they work however few steps a period holds.
 */
export interface DktRound {
  /** Our step when we evaluated for this round (for logs). */
  readonly step: number;
  /** Local time of our evaluation for this round. */
  readonly startedAtMs: number;
  /** Local time after which we decide with the reports we have. */
  readonly decideByMs: number;
  readonly periodMs: number;
  decided: boolean;
}

/** How long a round waits at least for the other peers' reports before deciding without them. */
export const DKT_ROUND_WAIT_MS = 3000;

/**
 * The round's wait: 3 s, or 4 of our steps when steps are slower (a joiner finishes its step
 * before it evaluates), never more than half a period (the next round must find this one
 * decided).
 */
export const roundWaitMs = (periodMs: number, stepMs: number): number =>
  Math.min(periodMs / 2, Math.max(DKT_ROUND_WAIT_MS, 4 * (Number.isFinite(stepMs) ? stepMs : 0)));

/** A round started by our evaluation at our step `step`, at local time `nowMs`. */
export const startRound = (
  step: number,
  nowMs: number,
  periodMs: number,
  stepMs = 0,
): DktRound => ({
  step,
  startedAtMs: nowMs,
  decideByMs: nowMs + roundWaitMs(periodMs, stepMs),
  periodMs,
  decided: false,
});

/** Whether `r` belongs to `round`: it arrived at most half a period before the round started. */
export const inRound = (r: DktReport, round: DktRound): boolean =>
  r.atMs >= round.startedAtMs - round.periodMs / 2;

/**
 * Whether a report that just arrived should make us evaluate now: we have not evaluated for
 * half a period. A later report of a round we joined arrives sooner than that, so a round
 * never makes a peer evaluate twice, and nothing (a hostile peer's stream of reports
 * included) makes it evaluate more often than twice a period.
 */
export function joinsRound(o: {
  readonly lastEvalAtMs: number;
  readonly periodMs: number;
  readonly nowMs: number;
}): boolean {
  return o.nowMs - o.lastEvalAtMs >= o.periodMs / 2;
}

/**
 * The round's decision: 'wait' while some live member has not reported in it and the wait is
 * not over; then, once, shouldAsk on this round's reports of live members (and our own).
 * Marks the round decided.
 */
export function decideRound(
  self: PeerId,
  round: DktRound,
  reports: Iterable<DktReport>,
  members: Iterable<PeerId>,
  cfg: { readonly epsilon: number; readonly maxAgeMs: number },
  trust: Trust,
  nowMs: number,
): AskDecision | 'wait' {
  if (round.decided) return { ask: false };
  const live = new Set(members);
  const current = [...reports].filter(
    (r) => (r.peer === self || live.has(r.peer)) && inRound(r, round),
  );
  const heard = new Set(current.map((r) => r.peer));
  const missing = [...live].some((m) => m !== self && !heard.has(m));
  if (missing && nowMs < round.decideByMs) return 'wait';
  round.decided = true;
  return shouldAsk(self, current, cfg, trust, nowMs);
}

/**
 * A NEW array (1 - beta) w + beta w_best. Refuses, before computing anything, a length
 * mismatch, beta outside (0, 1] and any non-finite value in `best`. `own` is never modified:
 * the caller keeps it for a rollback. One pass over P; one allocation of P floats.
 */
export function mergeParams(
  own: Float32Array,
  best: Float32Array,
  beta: number,
): Result<Float32Array, PolicyError> {
  if (own.length !== best.length) {
    return err(
      new PolicyError('bad-input', `dkt merge: ${best.length} parameters, ${own.length} expected`),
    );
  }
  if (!validBeta(beta)) return err(new PolicyError('bad-config', `dkt merge: beta ${beta}`));
  const n = best.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(best[i]!)) {
      return err(new PolicyError('bad-input', `dkt merge: non-finite parameter at ${i}`));
    }
  }
  const keep = 1 - beta;
  // beta = 1 takes best as is: 0 x w would turn a diverged own value (NaN, Inf) into NaN,
  // and that is exactly the model a whole transfer is meant to replace.
  if (keep === 0) return ok(best.slice());
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = keep * own[i]! + beta * best[i]!;
  return ok(out);
}

/**
 * Keep the merged model, or roll back: a merge is kept only when it strictly improves the
 * receiver's loss (DESIGN.md 10): rollback when lossAfter is not finite or not below
 * lossBefore. A non-finite lossBefore (own model diverged) keeps any finite lossAfter: the
 * merge can only have helped.
 */
export function guard(lossBefore: number, lossAfter: number): 'keep' | 'rollback' {
  if (!Number.isFinite(lossAfter)) return 'rollback';
  if (!Number.isFinite(lossBefore)) return 'keep';
  return lossAfter < lossBefore ? 'keep' : 'rollback';
}

/**
 * Whether a source's claimed loss is a lie: the receiver measured the offered model itself on
 * the same common probe, and it is far worse than claimed (more than twice the claim plus
 * 0.1). A claim worse than the model only hurts its maker and is let be.
 */
export const claimIsFalse = (claimed: number, measured: number): boolean =>
  !Number.isFinite(measured) || (Number.isFinite(claimed) && measured > 2 * claimed + 0.1);

/** Distrusts `source` at once (a false claim), for the rest of the session. */
export function distrust(trust: Trust, source: PeerId): void {
  trust.failures.delete(source);
  trust.distrusted.add(source);
}

/**
 * Which peers are still trusted as DKT sources. A source whose last `maxFailures` transfers
 * were all rolled back is distrusted for the rest of the room's life (this peer's session):
 * such a source is diverged, poisoned or trained on data that does not suit ours, other
 * sources remain, and a distrusted peer still takes part in the gradient exchange. A peer
 * that rejoins under a new id starts trusted; `maxFailures` consecutive is what it takes, so
 * one kept transfer resets the count.
 */
export interface Trust {
  readonly maxFailures: number;
  /** Consecutive rolled-back transfers per source. */
  readonly failures: Map<PeerId, number>;
  readonly distrusted: Set<PeerId>;
}

/** Fresh trust state: every source trusted. */
export function createTrust(maxFailures: number = DEFAULT_DKT_CONFIG.maxFailures): Trust {
  if (!(Number.isSafeInteger(maxFailures) && maxFailures >= 1)) {
    throw badConfig(`maxFailures must be an integer >= 1, got ${maxFailures}`);
  }
  return { maxFailures, failures: new Map(), distrusted: new Set() };
}

/** Whether `peer` may still be used as a source. */
export const isTrusted = (trust: Trust, peer: PeerId): boolean => !trust.distrusted.has(peer);

/** Records how a transfer from `source` ended. Returns whether the source is still trusted. */
export function recordOutcome(
  trust: Trust,
  source: PeerId,
  outcome: 'kept' | 'rolled-back',
): boolean {
  if (trust.distrusted.has(source)) return false;
  if (outcome === 'kept') {
    trust.failures.delete(source);
    return true;
  }
  const failures = (trust.failures.get(source) ?? 0) + 1;
  if (failures < trust.maxFailures) {
    trust.failures.set(source, failures);
    return true;
  }
  trust.failures.delete(source);
  trust.distrusted.add(source);
  return false;
}

/** One merge, as the dashboard shows it. */
export interface DktMergeEvent {
  readonly from: PeerId;
  readonly to: PeerId;
  readonly beta: number;
  readonly lossBefore: number;
  readonly lossAfter: number;
  readonly rolledBack: boolean;
  readonly atMs: number;
}

/**
 * Ends a merge: applies the guard, records the outcome against the source, and returns the
 * decision with the event to publish.
 */
export function settleMerge(
  trust: Trust,
  m: Omit<DktMergeEvent, 'rolledBack'>,
): { decision: 'keep' | 'rollback'; event: DktMergeEvent } {
  const decision = guard(m.lossBefore, m.lossAfter);
  recordOutcome(trust, m.from, decision === 'keep' ? 'kept' : 'rolled-back');
  return {
    decision,
    event: {
      from: m.from,
      to: m.to,
      beta: m.beta,
      lossBefore: m.lossBefore,
      lossAfter: m.lossAfter,
      rolledBack: decision === 'rollback',
      atMs: m.atMs,
    },
  };
}
