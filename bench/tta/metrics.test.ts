import { describe, expect, it } from 'vitest';
import type { StrategyName } from '../../core';
import {
  accuracyAt,
  bestBaseline,
  lateAccuracy,
  siteTraffic,
  speedup,
  summarize,
  summarizeSeeds,
  timeToTarget,
} from './metrics';
import type { CurvePoint, StrategyRun } from './types';

/** A curve from [t, accuracy] pairs (minAccuracy and step do not matter to the metrics). */
function curve(...points: [number, number][]): CurvePoint[] {
  return points.map(([t, accuracy], step) => ({ t, accuracy, minAccuracy: accuracy, step }));
}

function run(strategy: StrategyName, points: CurvePoint[], bytesSent = 1000): StrategyRun {
  return {
    strategy,
    curve: points,
    bytesSent,
    links: [],
    steps: {},
    merges: { kept: 0, rolledBack: 0 },
    wallS: 1,
  };
}

describe('timeToTarget', () => {
  it('interpolates between the last sample below and the first at or above', () => {
    // Exact binary fractions: (0.75 - 0.5) / (1 - 0.5) of the way from 10 s to 20 s.
    expect(timeToTarget(curve([0, 0.125], [10, 0.5], [20, 1], [30, 1]), 0.75)).toBe(15);
  });

  it('returns the time of a sample that hits the target exactly', () => {
    expect(timeToTarget(curve([0, 0.1], [10, 0.8], [20, 0.9]), 0.8)).toBe(10);
  });

  it('uses the last sample below, not the first, when accuracy dips', () => {
    // 0.625 at t=10, dips to 0.5 at t=20, then 1.0 at t=30: interpolate from (20, 0.5).
    expect(timeToTarget(curve([0, 0.625], [10, 0.625], [20, 0.5], [30, 1.0]), 0.75)).toBe(25);
  });

  it('returns null when the target is never reached', () => {
    expect(timeToTarget(curve([0, 0.1], [10, 0.79]), 0.8)).toBeNull();
    expect(timeToTarget([], 0.8)).toBeNull();
  });

  it('returns the first sample time when it is already above the target', () => {
    expect(timeToTarget(curve([5, 0.95], [10, 0.97]), 0.9)).toBe(5);
  });

  it('skips non-finite samples', () => {
    expect(
      timeToTarget(curve([0, 0.25], [5, Number.NaN], [Number.NaN, 0.99], [10, 0.75]), 0.5),
    ).toBe(5);
    expect(timeToTarget(curve([0, Number.POSITIVE_INFINITY], [4, 0.1]), 0.5)).toBeNull();
  });
});

describe('accuracyAt', () => {
  const points = curve([0, 0.1], [10, 0.5], [20, 0.9]);

  it('reads the last sample at or before the time', () => {
    expect(accuracyAt(points, 10)).toBe(0.5);
    expect(accuracyAt(points, 19.9)).toBe(0.5);
    expect(accuracyAt(points, 20)).toBe(0.9);
    expect(accuracyAt(points, 1000)).toBe(0.9);
  });

  it('is NaN before the first sample and for an empty curve', () => {
    expect(accuracyAt(curve([5, 0.3]), 4)).toBeNaN();
    expect(accuracyAt([], 100)).toBeNaN();
  });

  it('skips a failed (NaN) sample', () => {
    expect(accuracyAt(curve([0, 0.4], [10, Number.NaN]), 10)).toBe(0.4);
  });
});

describe('speedup', () => {
  it('is base over mine when both reached the target', () => {
    expect(speedup(30, 12, 100)).toEqual({ value: 2.5, atLeast: false });
    expect(speedup(10, 20, 100)).toEqual({ value: 0.5, atLeast: false });
  });

  it('is a lower bound (budget over mine) when only mine reached it', () => {
    expect(speedup(null, 25, 100)).toEqual({ value: 4, atLeast: true });
  });

  it('is null when mine never reached it', () => {
    expect(speedup(30, null, 100)).toBeNull();
    expect(speedup(null, null, 100)).toBeNull();
  });

  it('is 1 when both were above the target at t = 0', () => {
    expect(speedup(0, 0, 100)).toEqual({ value: 1, atLeast: false });
  });
});

describe('bestBaseline', () => {
  it('picks the baseline with the lowest time to target', () => {
    const runs = [
      run('dlion', curve([0, 0], [10, 1])),
      run('ako', curve([0, 0], [40, 1])),
      run('gaia', curve([0, 0], [20, 1])),
      run('hop', curve([0, 0], [30, 1])),
    ];
    expect(bestBaseline(runs, 0.5, 100)).toEqual({
      strategy: 'gaia',
      timeToTargetS: 10,
      accuracyAtBudget: 1,
    });
    expect(bestBaseline(runs, 0.5, 100, 'gaia')?.strategy).toBe('hop');
  });

  it('falls back to the highest accuracy at the budget when none reached the target', () => {
    const runs = [run('ako', curve([0, 0.2], [50, 0.4])), run('hop', curve([0, 0.2], [50, 0.6]))];
    expect(bestBaseline(runs, 0.9, 100)).toEqual({
      strategy: 'hop',
      timeToTargetS: null,
      accuracyAtBudget: 0.6,
    });
  });

  it('is null when none of ako, gaia, hop ran', () => {
    expect(bestBaseline([run('dlion', curve([0, 1])), run('bsp', curve([0, 1]))], 0.5, 9)).toBe(
      null,
    );
    expect(bestBaseline([run('hop', curve([0, 1]))], 0.5, 9, 'hop')).toBeNull();
  });
});

describe('summarize', () => {
  // Target 0.75, budget 100 s; accuracies are exact binary fractions so the times are exact.
  // Times to target: dlion 10, bsp 40, ako never, gaia 25, hop 50.
  const runs = [
    run('dlion', curve([0, 0.125], [5, 0.5], [10, 0.75], [100, 0.875]), 5e6),
    run('bsp', curve([0, 0.125], [30, 0.625], [50, 0.875], [100, 0.9375]), 9e6),
    run('ako', curve([0, 0.125], [60, 0.5], [100, 0.625]), 7e6),
    run('gaia', curve([0, 0.125], [20, 0.5], [30, 1.0]), 6e6),
    run('hop', curve([0, 0.125], [50, 0.75], [120, 0.99]), 8e6),
  ];
  const results = summarize(runs, 0.75, 100);

  it('keeps run order and reads time, accuracy at the budget and bytes', () => {
    expect(results.map((r) => r.strategy)).toEqual(['dlion', 'bsp', 'ako', 'gaia', 'hop']);
    expect(results.map((r) => r.timeToTargetS)).toEqual([10, 40, null, 25, 50]);
    // hop's 0.99 at t=120 is after the budget: the reading at 100 s is 0.75.
    expect(results.map((r) => r.accuracyAtBudget)).toEqual([0.875, 0.9375, 0.625, 1.0, 0.75]);
    expect(results.map((r) => r.bytesSent)).toEqual([5e6, 9e6, 7e6, 6e6, 8e6]);
  });

  it('compares against bsp, null for bsp itself and for a run that never reached', () => {
    expect(results.map((r) => r.speedupOverBsp)).toEqual([
      { value: 4, atLeast: false },
      null,
      null,
      { value: 1.6, atLeast: false },
      { value: 0.8, atLeast: false },
    ]);
  });

  it('compares against the best baseline, and each baseline against the other two', () => {
    expect(results.map((r) => r.speedupOverBestBaseline)).toEqual([
      { value: 2.5, atLeast: false }, // gaia 25 / dlion 10
      { value: 0.625, atLeast: false }, // gaia 25 / bsp 40
      null, // ako never reached
      { value: 2, atLeast: false }, // best of ako (never), hop 50 -> 50 / 25
      { value: 0.5, atLeast: false }, // best of ako (never), gaia 25 -> 25 / 50
    ]);
  });

  it('gives lower bounds when no baseline reached the target', () => {
    const out = summarize(
      [run('dlion', curve([0, 0.1], [20, 0.9])), run('hop', curve([0, 0.1], [100, 0.5]))],
      0.9,
      100,
    );
    expect(out[0]?.speedupOverBestBaseline).toEqual({ value: 5, atLeast: true });
    expect(out[0]?.speedupOverBsp).toBeNull(); // bsp did not run
    expect(out[1]?.speedupOverBestBaseline).toBeNull(); // no other baseline ran
  });

  it('gives a lower bound over bsp when only the other run reached the target', () => {
    const out = summarize(
      [run('bsp', curve([0, 0.1], [100, 0.5])), run('dlion', curve([0, 0.1], [40, 0.9]))],
      0.9,
      100,
    );
    expect(out[1]?.speedupOverBsp).toEqual({ value: 2.5, atLeast: true });
    expect(out[1]?.speedupOverBestBaseline).toBeNull(); // none of ako, gaia, hop ran
  });
});

describe('siteTraffic', () => {
  it('splits links into inside a site and between sites', () => {
    const peers = [
      { name: 'a1', slowdown: 1, site: 'a' },
      { name: 'a2', slowdown: 1, site: 'a' },
      { name: 'b1', slowdown: 1, site: 'b' },
      { name: 'x', slowdown: 1 },
    ];
    const links = [
      { from: 'a1', to: 'a2', bytesSent: 100, sentFraction: 0.9 },
      { from: 'a2', to: 'a1', bytesSent: 50, sentFraction: 0.7 },
      { from: 'a1', to: 'b1', bytesSent: 10, sentFraction: 0.2 },
      { from: 'x', to: 'a1', bytesSent: 999, sentFraction: 1 },
    ];
    const t = siteTraffic(links, peers);
    expect(t.intra).toEqual({ links: 2, bytes: 150, meanSentFraction: 0.8 });
    expect(t.inter).toEqual({ links: 1, bytes: 10, meanSentFraction: 0.2 });
    expect(siteTraffic([], peers).inter.meanSentFraction).toBeNull();
  });
});

describe('summarizeSeeds', () => {
  it('averages each strategy over the seeds and counts targets reached and wins', () => {
    const seed1 = [
      run('dlion', curve([0, 0.1], [20, 0.9], [30, 0.8], [40, 0.9])),
      run('dlion-no-dkt', curve([0, 0.1], [20, 0.5], [30, 0.6], [40, 0.7])),
    ];
    const seed2 = [
      run('dlion', curve([0, 0.1], [10, 0.9], [30, 0.7], [40, 0.8])),
      run('dlion-no-dkt', curve([0, 0.1], [20, 0.9], [30, 0.9], [40, 0.8])),
    ];
    const [dlion, noDkt] = summarizeSeeds([seed1, seed2], 0.85, 40);
    expect(dlion).toMatchObject({
      strategy: 'dlion',
      seeds: 2,
      reached: 2,
      bestAtBudget: 1, // seed 2 is a tie at 0.8: nobody's win
    });
    expect(dlion!.accuracyAtBudget.mean).toBeCloseTo(0.85, 12);
    expect(dlion!.accuracyAtBudget.min).toBe(0.8);
    expect(dlion!.accuracyAtBudget.max).toBe(0.9);
    // From 30 s on: (0.8 + 0.9) / 2 and (0.7 + 0.8) / 2, averaged.
    expect(dlion!.lateAccuracy).toBeCloseTo(0.8, 12);
    // Reached (interpolated) at 18.75 s on seed 1 and 9.375 s on seed 2: the median of two.
    expect(dlion!.medianTimeToTargetS).toBeCloseTo((18.75 + 9.375) / 2, 12);
    expect(noDkt).toMatchObject({ reached: 1, bestAtBudget: 0 });
    expect(noDkt!.medianTimeToTargetS).toBeCloseTo(18.75, 12);
  });

  it('refuses seeds that ran different strategies, and is empty for no seeds', () => {
    expect(summarizeSeeds([], 0.9, 40)).toEqual([]);
    expect(() =>
      summarizeSeeds([[run('dlion', curve([0, 0.1]))], [run('bsp', curve([0, 0.1]))]], 0.9, 40),
    ).toThrow(/same strategies/);
  });

  it('lateAccuracy is the mean from a time on, or the last sample when none is that late', () => {
    expect(lateAccuracy(curve([0, 0.2], [10, 0.4], [20, 0.6]), 10)).toBeCloseTo(0.5, 12);
    expect(lateAccuracy(curve([0, 0.2], [10, 0.4]), 30)).toBe(0.4);
    expect(lateAccuracy([], 30)).toBe(0);
  });
});
