import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  claimIsFalse,
  createTrust,
  DEFAULT_DKT_CONFIG,
  DKT_ROUND_WAIT_MS,
  type DktReport,
  decideRound,
  distrust,
  guard,
  inRound,
  isTrusted,
  joinsRound,
  latestReports,
  mergeParams,
  recordOutcome,
  roundWaitMs,
  selectBest,
  settleMerge,
  shouldAsk,
  startRound,
  validateDktConfig,
} from './dkt';
import { PolicyError } from './errors';
import { asPeerId, type PeerId } from './ids';

const a = asPeerId('a');
const b = asPeerId('b');
const c = asPeerId('c');
const d = asPeerId('d');

const report = (peer: PeerId, loss: number, atMs = 1000, step = 10): DktReport => ({
  peer,
  loss,
  accuracy: 0.9,
  step,
  atMs,
});

const cfg = { epsilon: 0.25, maxAgeMs: 5000 };

describe('selectBest', () => {
  it('is the argmin of loss, ties to the lowest id whatever the order', () => {
    expect(selectBest([report(c, 0.5), report(b, 0.4), report(d, 0.9)], createTrust())).toBe(b);
    expect(selectBest([report(c, 0.4), report(b, 0.4), report(a, 0.6)], createTrust())).toBe(b);
    expect(selectBest([report(b, 0.4), report(c, 0.4)], createTrust())).toBe(b);
    expect(selectBest([], createTrust())).toBeUndefined();
  });

  it('ignores reports with non-finite loss or accuracy', () => {
    const reports = [
      report(a, Number.NaN),
      { ...report(b, 0.1), accuracy: Number.POSITIVE_INFINITY },
      report(c, Number.NEGATIVE_INFINITY),
      report(d, 0.7),
    ];
    expect(selectBest(reports, createTrust())).toBe(d);
  });

  it("uses each peer's newest report, not its best one", () => {
    const reports = [report(a, 0.1, 1000), report(a, 0.9, 2000), report(b, 0.5, 1500)];
    expect(selectBest(reports, createTrust())).toBe(b);
    expect(latestReports(reports).get(a)?.loss).toBe(0.9);
    // Newest by arrival time, even with a lower step (the peer restored an older checkpoint).
    const restored = [report(a, 0.9, 1000, 50), report(a, 0.3, 2000, 20)];
    expect(latestReports(restored).get(a)?.loss).toBe(0.3);
  });

  it('skips a source no longer trusted and picks the next best', () => {
    const trust = createTrust(3);
    const reports = [report(a, 0.2), report(b, 0.3), report(c, 0.9)];
    for (let i = 0; i < 3; i++) recordOutcome(trust, a, 'rolled-back');
    expect(isTrusted(trust, a)).toBe(false);
    expect(selectBest(reports, trust)).toBe(b);
    expect(shouldAsk(c, reports, cfg, trust, 1000)).toEqual({ ask: true, from: b });
  });
});

describe('shouldAsk', () => {
  it('asks only when own loss is above best + epsilon (equal does not ask)', () => {
    const trust = createTrust();
    // 0.5 + 0.25 is exactly 0.75 in binary floating point.
    expect(shouldAsk(c, [report(a, 0.5), report(c, 0.75)], cfg, trust, 1000)).toEqual({
      ask: false,
    });
    expect(shouldAsk(c, [report(a, 0.5), report(c, 0.7500001)], cfg, trust, 1000)).toEqual({
      ask: true,
      from: a,
    });
  });

  it('the best peer never asks itself, even with epsilon 0', () => {
    const trust = createTrust();
    const reports = [report(a, 0.1), report(b, 0.1), report(c, 0.3)];
    expect(shouldAsk(a, reports, { ...cfg, epsilon: 0 }, trust, 1000)).toEqual({ ask: false });
    // b ties with a: a is "best" (lower id) but b is not worse by more than epsilon.
    expect(shouldAsk(b, reports, { ...cfg, epsilon: 0 }, trust, 1000)).toEqual({ ask: false });
  });

  it('ignores stale reports, including its own', () => {
    const trust = createTrust();
    const reports = [report(a, 0.1, 1000), report(b, 0.4, 5000), report(c, 0.9, 5000)];
    expect(shouldAsk(c, reports, cfg, trust, 6000)).toEqual({ ask: true, from: a });
    // At 6001 a's report is older than 5000 ms: b is the best fresh one.
    expect(shouldAsk(c, reports, cfg, trust, 6001)).toEqual({ ask: true, from: b });
    expect(shouldAsk(c, [report(a, 0.1, 9000), report(c, 0.9, 1000)], cfg, trust, 9000)).toEqual({
      ask: false,
    });
  });

  it('does not ask without an own report', () => {
    expect(shouldAsk(c, [report(a, 0.1)], cfg, createTrust(), 1000)).toEqual({ ask: false });
  });
});

describe('rounds', () => {
  const periodMs = 10_000;

  it('waits 3 s, or 4 steps when steps are slower, and never more than half a period', () => {
    expect(roundWaitMs(periodMs, 20)).toBe(DKT_ROUND_WAIT_MS);
    expect(roundWaitMs(periodMs, 1000)).toBe(4000);
    expect(roundWaitMs(periodMs, 5000)).toBe(5000);
    expect(roundWaitMs(1000, 20)).toBe(500);
    expect(roundWaitMs(periodMs, Number.NaN)).toBe(DKT_ROUND_WAIT_MS);
    expect(startRound(7, 100, periodMs, 2000)).toMatchObject({
      step: 7,
      startedAtMs: 100,
      decideByMs: 5100, // 4 steps would be 8 s: half the period caps it
      decided: false,
    });
  });

  it('compares only the reports of this round: an old report never makes the fresh one best', () => {
    // Without rounds: c evaluated just now (loss 0.5); a's newest report is from the last
    // period (loss 0.9), when the model was worse. shouldAsk on all reports calls c the best.
    const old = report(a, 0.9, 1000, 10);
    const own = report(c, 0.5, 11_000, 300);
    expect(shouldAsk(c, [old, own], cfg, createTrust(), 11_000)).toEqual({ ask: false });
    // With a round: c waits for a's report of this round, then asks a.
    const round = startRound(300, 11_000, periodMs);
    const members = [a, c];
    expect(decideRound(c, round, [old, own], members, cfg, createTrust(), 11_100)).toBe('wait');
    const fresh = report(a, 0.2, 11_200, 302);
    expect(decideRound(c, round, [old, own, fresh], members, cfg, createTrust(), 11_200)).toEqual({
      ask: true,
      from: a,
    });
    // Decided once: later calls do nothing.
    expect(round.decided).toBe(true);
    expect(decideRound(c, round, [old, own, fresh], members, cfg, createTrust(), 11_300)).toEqual({
      ask: false,
    });
  });

  it('decides without a silent member once the wait is over, on this round only', () => {
    const round = startRound(300, 11_000, periodMs);
    const own = report(c, 0.9, 11_000, 300);
    const stale = report(b, 0.1, 1000, 20); // last round's: not compared
    const fresh = report(a, 0.5, 11_100, 299);
    const all = [own, stale, fresh];
    const at = (t: number) => decideRound(c, round, all, [a, b, c], cfg, createTrust(), t);
    expect(at(11_000 + DKT_ROUND_WAIT_MS - 1)).toBe('wait');
    expect(at(11_000 + DKT_ROUND_WAIT_MS)).toEqual({ ask: true, from: a });
  });

  it('leaves out the reports of peers that left', () => {
    const round = startRound(300, 11_000, periodMs);
    const reports = [report(c, 0.9, 11_000), report(a, 0.5, 11_050), report(b, 0.1, 11_020)];
    // b left: its report is in the round by time, but no longer a member.
    expect(decideRound(c, round, reports, [a, c], cfg, createTrust(), 11_100)).toEqual({
      ask: true,
      from: a,
    });
  });

  it('a report belongs to the round when it arrived at most half a period before it started', () => {
    const round = startRound(300, 20_000, periodMs);
    expect(inRound(report(a, 1, 15_000), round)).toBe(true);
    expect(inRound(report(a, 1, 14_999), round)).toBe(false);
    expect(inRound(report(a, 1, 21_000), round)).toBe(true);
  });

  it('joins when it has not evaluated for half a period, whatever the step', () => {
    expect(joinsRound({ lastEvalAtMs: Number.NEGATIVE_INFINITY, periodMs, nowMs: 0 })).toBe(true);
    expect(joinsRound({ lastEvalAtMs: 5001, periodMs, nowMs: 10_000 })).toBe(false);
    expect(joinsRound({ lastEvalAtMs: 5000, periodMs, nowMs: 10_000 })).toBe(true);
  });

  it('every peer of a round that hears all reports picks the same best', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 5, noNaN: true }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 8, maxLength: 8 }),
        (losses, delays) => {
          const ids = losses.map((_, i) => asPeerId(`p${i}`));
          const reports = losses.map((l, i) => report(ids[i]!, l, 5000 + delays[i]!, 100));
          const bestLoss = Math.min(...losses);
          for (const [i, self] of ids.entries()) {
            const round = startRound(100, 5000 + delays[i]!, periodMs);
            const d = decideRound(self, round, reports, ids, cfg, createTrust(), 5400);
            expect(d).not.toBe('wait');
            if (d !== 'wait' && d.ask) {
              expect(losses[i]!).toBeGreaterThan(bestLoss + cfg.epsilon);
              expect(reports.find((r) => r.peer === d.from)!.loss).toBe(bestLoss);
            } else {
              expect(losses[i]! <= bestLoss + cfg.epsilon).toBe(true);
            }
          }
        },
      ),
    );
  });
});

describe('mergeParams', () => {
  it('computes (1 - beta) w + beta w_best exactly on small vectors', () => {
    const own = Float32Array.from([1, 2, -4, 0.5]);
    const best = Float32Array.from([3, 0, 4, 0.5]);
    const half = mergeParams(own, best, 0.5);
    expect(half.ok && [...half.value]).toEqual([2, 1, 0, 0.5]);
    const quarter = mergeParams(own, best, 0.25);
    expect(quarter.ok && [...quarter.value]).toEqual([1.5, 1.5, -2, 0.5]);
    const all = mergeParams(own, best, 1);
    expect(all.ok && [...all.value]).toEqual([3, 0, 4, 0.5]);
    // beta = 1 replaces a diverged model outright (0 x NaN would be NaN).
    const diverged = Float32Array.from([Number.NaN, Number.POSITIVE_INFINITY, 1, 2]);
    const replaced = mergeParams(diverged, best, 1);
    expect(replaced.ok && [...replaced.value]).toEqual([3, 0, 4, 0.5]);
    expect(replaced.ok && replaced.value !== best).toBe(true);
  });

  it('returns a new array and leaves own untouched', () => {
    const own = Float32Array.from([1, 2]);
    const r = mergeParams(own, Float32Array.from([3, 4]), 0.5);
    expect(r.ok && r.value !== own).toBe(true);
    expect([...own]).toEqual([1, 2]);
  });

  it('refuses non-finite values in best, a length mismatch and a bad beta; own unchanged', () => {
    const own = Float32Array.from([1, 2, 3]);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const r = mergeParams(own, Float32Array.from([1, 2, bad]), 0.5);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toBeInstanceOf(PolicyError);
      expect(!r.ok && r.error.code).toBe('bad-input');
    }
    expect(mergeParams(own, Float32Array.from([1, 2]), 0.5).ok).toBe(false);
    for (const beta of [0, -0.5, 1.0001, Number.NaN]) {
      const r = mergeParams(own, Float32Array.from([1, 2, 3]), beta);
      expect(!r.ok && r.error.code).toBe('bad-config');
    }
    expect([...own]).toEqual([1, 2, 3]);
  });

  it('lies between own and best, element by element (property)', () => {
    const vec = fc.float32Array({
      minLength: 1,
      maxLength: 64,
      noNaN: true,
      noDefaultInfinity: true,
    });
    fc.assert(
      fc.property(vec, vec, fc.double({ min: 0.01, max: 1, noNaN: true }), (x, y, beta) => {
        const n = Math.min(x.length, y.length);
        const own = x.slice(0, n);
        const best = y.slice(0, n);
        const copy = own.slice();
        const r = mergeParams(own, best, beta);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(own).toEqual(copy);
        for (let i = 0; i < n; i++) {
          const lo = Math.min(own[i]!, best[i]!);
          const hi = Math.max(own[i]!, best[i]!);
          // One float32 rounding of a value in [lo, hi] stays in [lo, hi].
          expect(r.value[i]!).toBeGreaterThanOrEqual(lo);
          expect(r.value[i]!).toBeLessThanOrEqual(hi);
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('guard', () => {
  it('keeps a merge only when it strictly improves the loss', () => {
    expect(guard(0.5, 0.3)).toBe('keep');
    expect(guard(0.5, 0.4999999)).toBe('keep');
    expect(guard(0.5, 0.5)).toBe('rollback');
    expect(guard(0.5, 0.5000001)).toBe('rollback');
  });

  it('rolls back a non-finite loss after, keeps a finite one after a diverged model', () => {
    expect(guard(0.5, Number.NaN)).toBe('rollback');
    expect(guard(0.5, Number.POSITIVE_INFINITY)).toBe('rollback');
    expect(guard(Number.NaN, 2.3)).toBe('keep');
    expect(guard(Number.POSITIVE_INFINITY, 2.3)).toBe('keep');
  });

  it('calls a claim false when the measured model is far worse than claimed', () => {
    expect(claimIsFalse(0.001, 2.3)).toBe(true);
    expect(claimIsFalse(0.3, 0.5)).toBe(false);
    expect(claimIsFalse(0.3, 0.7)).toBe(false);
    expect(claimIsFalse(0.3, 0.71)).toBe(true);
    expect(claimIsFalse(2, 0.1)).toBe(false);
    expect(claimIsFalse(0.3, Number.NaN)).toBe(true);
  });
});

describe('trust', () => {
  it('distrusts a source after maxFailures consecutive rollbacks, for good', () => {
    const trust = createTrust(3);
    expect(recordOutcome(trust, a, 'rolled-back')).toBe(true);
    expect(recordOutcome(trust, a, 'rolled-back')).toBe(true);
    expect(recordOutcome(trust, a, 'rolled-back')).toBe(false);
    expect(isTrusted(trust, a)).toBe(false);
    expect(recordOutcome(trust, a, 'kept')).toBe(false);
    expect(isTrusted(trust, a)).toBe(false);
    expect(isTrusted(trust, b)).toBe(true);
  });

  it('counts consecutive failures: a kept transfer resets the count', () => {
    const trust = createTrust(3);
    recordOutcome(trust, a, 'rolled-back');
    recordOutcome(trust, a, 'rolled-back');
    recordOutcome(trust, a, 'kept');
    recordOutcome(trust, a, 'rolled-back');
    expect(recordOutcome(trust, a, 'rolled-back')).toBe(true);
    expect(isTrusted(trust, a)).toBe(true);
    expect(recordOutcome(trust, a, 'rolled-back')).toBe(false);
  });

  it('settleMerge applies the guard, records the outcome and returns the event', () => {
    const trust = createTrust(1);
    const base = { from: a, to: c, beta: 0.5, lossBefore: 0.5, atMs: 42 };
    const kept = settleMerge(trust, { ...base, lossAfter: 0.4 });
    expect(kept).toEqual({
      decision: 'keep',
      event: {
        from: a,
        to: c,
        beta: 0.5,
        lossBefore: 0.5,
        lossAfter: 0.4,
        rolledBack: false,
        atMs: 42,
      },
    });
    expect(isTrusted(trust, a)).toBe(true);
    const rolled = settleMerge(trust, { ...base, lossAfter: 0.9 });
    expect(rolled.decision).toBe('rollback');
    expect(rolled.event.rolledBack).toBe(true);
    expect(isTrusted(trust, a)).toBe(false);
  });

  it('distrust() is at once and for good', () => {
    const trust = createTrust(3);
    recordOutcome(trust, a, 'rolled-back');
    distrust(trust, a);
    expect(isTrusted(trust, a)).toBe(false);
    expect(recordOutcome(trust, a, 'kept')).toBe(false);
  });
});

describe('config', () => {
  it('accepts the defaults and refuses unusable values', () => {
    expect(validateDktConfig(DEFAULT_DKT_CONFIG).ok).toBe(true);
    expect(DEFAULT_DKT_CONFIG.beta).toBe(0.5);
    for (const bad of [
      { epsilon: -1 },
      { beta: 0 },
      { beta: 1.5 },
      { delta: Number.NaN },
      { maxAgeMs: 0 },
      { maxFailures: 0 },
    ]) {
      const r = validateDktConfig({ ...DEFAULT_DKT_CONFIG, ...bad });
      expect(!r.ok && r.error.code).toBe('bad-config');
    }
    expect(() => createTrust(0)).toThrow(PolicyError);
  });
});
