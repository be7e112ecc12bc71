import { describe, expect, it } from 'vitest';
import { formatRatio, renderReport } from './report';
import type { BenchOutput, Scenario, StrategyRun } from './types';

const scenario: Scenario = {
  name: 'het-3',
  description: 'Three peers, one slow and one on a thin uplink.',
  model: 'mlp',
  dataset: 'mnist',
  sharding: { kind: 'iid' },
  peers: [
    { name: 'p1', slowdown: 1, uplinkMbps: 40 },
    { name: 'p2', slowdown: 4, uplinkMbps: 2, latencyMs: 20 },
    { name: 'p|3', slowdown: 1 },
  ],
  config: { globalBatch: 96 },
  targetAccuracy: 0.9,
  budgetS: 300,
  evalEveryS: 10,
  testSamples: 1000,
  timeline: [{ atS: 120, peer: 1, slowdown: 1 }],
};

function run(strategy: StrategyRun['strategy'], bytesSent: number): StrategyRun {
  return {
    strategy,
    curve: [{ t: 0, accuracy: 0.1, minAccuracy: 0.1, step: 0 }],
    bytesSent,
    links:
      strategy === 'dlion'
        ? [
            {
              from: 'p1',
              to: 'p2',
              bytesSent: 12_345_678,
              sentFraction: 0.987,
              estimatedMbps: 4.9,
              capMbps: 5,
            },
            { from: 'p2', to: 'p1', bytesSent: 1_500_000, sentFraction: 0.25 },
          ]
        : [],
    steps: { p1: 900, p2: 240 },
    merges: { kept: 3, rolledBack: 1 },
    wallS: 12.34,
  };
}

const output: BenchOutput = {
  scenario: 'het-3',
  mode: 'sim',
  targetAccuracy: 0.9,
  budgetS: 300,
  command: 'npm run bench -- --scenario het-3 --strategies dlion,bsp,gaia,hop',
  startedAt: '2025-01-02T03:04:05.000Z',
  scenarioSpec: scenario,
  calibration: { stepMs: { mlp: 12.5 } },
  results: [
    {
      strategy: 'dlion',
      timeToTargetS: 61.25,
      accuracyAtBudget: 0.9456,
      bytesSent: 13_845_678,
      speedupOverBsp: { value: 2.4444, atLeast: false },
      speedupOverBestBaseline: { value: 3.14, atLeast: true },
    },
    {
      strategy: 'bsp',
      timeToTargetS: 149.7,
      accuracyAtBudget: 0.9123,
      bytesSent: 40_000_000,
      speedupOverBsp: null,
      speedupOverBestBaseline: { value: 2.004, atLeast: true },
    },
    {
      strategy: 'gaia',
      timeToTargetS: null,
      accuracyAtBudget: 0.8766,
      bytesSent: 5_000_000,
      speedupOverBsp: null,
      speedupOverBestBaseline: null,
    },
    {
      strategy: 'hop',
      timeToTargetS: null,
      accuracyAtBudget: Number.NaN,
      bytesSent: 0,
      speedupOverBsp: null,
      speedupOverBestBaseline: null,
    },
  ],
  runs: [run('dlion', 13_845_678), run('bsp', 40_000_000), run('gaia', 5e6), run('hop', 0)],
};

const plots = { accuracy: 'het-3-accuracy.svg', bytes: 'het-3-bytes.svg' };
const md = renderReport(output, plots);
const lines = md.split('\n');

describe('renderReport', () => {
  it('opens with the scenario, mode and the command in a code block', () => {
    expect(lines[0]).toBe('## het-3 (sim)');
    expect(md).toContain(
      '```sh\nnpm run bench -- --scenario het-3 --strategies dlion,bsp,gaia,hop\n```',
    );
    expect(md).toContain('Three peers, one slow and one on a thin uplink.');
  });

  it('lists the peers, escaping a | in a name, and the timeline', () => {
    expect(lines).toContain('| p1 | 1x | 40 | 0 |');
    expect(lines).toContain('| p2 | 4x | 2 | 20 |');
    expect(lines).toContain('| p\\|3 | 1x | uncapped | 0 |');
    expect(lines).toContain('| 120 | p2 | 1x |  |');
  });

  it('states the target and the budget', () => {
    expect(md).toContain('Target: mean test accuracy 0.9 over the peers. Budget: 300 s (virtual');
  });

  it('formats the results rows', () => {
    expect(lines).toContain('| dlion | 61.3 | 0.946 | 13.85 | 2.4x | ≥ 3.1x |');
    expect(lines).toContain('| bsp | 149.7 | 0.912 | 40.00 | — | ≥ 2.0x |');
    expect(lines).toContain('| gaia | not reached | 0.877 | 5.00 | — | — |');
    expect(lines).toContain('| hop | not reached | — | 0.00 | — | — |');
  });

  it('names the best baseline (none reached: the highest accuracy at the budget)', () => {
    expect(md).toContain(
      'None of ako/gaia/hop reached the target; the best of them at the budget was **gaia** (0.100)',
    );
  });

  it('links the plots', () => {
    expect(lines).toContain('![accuracy over time](het-3-accuracy.svg)');
    expect(lines).toContain('![bytes sent per link](het-3-bytes.svg)');
  });

  it('has a per-link bytes table for each strategy', () => {
    const dlion = lines.indexOf('#### dlion');
    expect(dlion).toBeGreaterThan(0);
    expect(lines.slice(dlion + 2, dlion + 6)).toEqual([
      '| from -> to | MB | sent fraction | estimate Mbit/s | cap Mbit/s |',
      '| --- | ---: | ---: | ---: | ---: |',
      '| p1 -> p2 | 12.35 | 0.99 | 4.90 | 5.00 |',
      '| p2 -> p1 | 1.50 | 0.25 | — | — |',
    ]);
    expect(lines[lines.indexOf('#### bsp') + 2]).toBe('No link traffic recorded.');
  });

  it('lists steps, merges and wall time per run', () => {
    expect(lines).toContain('| dlion | p1: 900, p2: 240 | 3 / 1 | 12.3 |');
  });

  it('has an attack table when adversaries took part, and none otherwise', () => {
    expect(renderReport(output, plots)).not.toContain('### Under attack');
    const attacked: BenchOutput = {
      ...output,
      runs: [
        {
          ...run('dlion', 1),
          attack: {
            kind: 'scaled',
            replaced: ['p|3'],
            undefended: false,
            refusals: { 'duplicate-update': 90, 'clipped-update': 12 },
            adversaryShare: 0.25,
          },
        },
      ],
    };
    const md = renderReport(attacked, plots);
    expect(md).toContain('### Under attack');
    expect(md).toContain(
      '| dlion | scaled | p\\|3 | on | duplicate-update: 90, clipped-update: 12 | 25.0% |',
    );
  });

  it('includes the calibration as JSON, and leaves the section out without one', () => {
    expect(md).toContain(
      '### Calibration\n\n```json\n{\n  "stepMs": {\n    "mlp": 12.5\n  }\n}\n```',
    );
    const { calibration: _, ...rest } = output;
    expect(renderReport(rest, { accuracy: 'a.svg', bytes: 'b.svg' })).not.toContain('Calibration');
  });

  it('keeps a command with backticks inside its fence', () => {
    const withTicks = renderReport(
      { ...output, command: 'echo ```x```' },
      { accuracy: 'a.svg', bytes: 'b.svg' },
    );
    expect(withTicks).toContain('````sh\necho ```x```\n````');
  });
});

describe('formatRatio', () => {
  it('formats ratios, lower bounds and missing ratios', () => {
    expect(formatRatio({ value: 2.449, atLeast: false })).toBe('2.4x');
    expect(formatRatio({ value: 3.15, atLeast: true })).toBe('≥ 3.1x');
    expect(formatRatio({ value: Number.POSITIVE_INFINITY, atLeast: false })).toBe('∞');
    expect(formatRatio(null)).toBe('—');
  });
});
