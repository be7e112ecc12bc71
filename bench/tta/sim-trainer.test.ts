import { describe, expect, it } from 'vitest';
import { type ComputeCosts, stepCost } from './sim-trainer';

const costs: ComputeCosts = {
  model: 'mlp',
  dataset: 'mnist',
  stepMs: [
    [8, 10],
    [32, 22],
    [128, 70],
  ],
  applyMs: 1,
  evalMsPerSample: 0.2,
  measuredOn: 'test',
};

describe('stepCost', () => {
  it('interpolates between measured batch sizes and extends the end segments', () => {
    expect(stepCost(costs, 8)).toBe(10);
    expect(stepCost(costs, 20)).toBe(16);
    expect(stepCost(costs, 80)).toBe(46);
    expect(stepCost(costs, 256)).toBe(134);
  });

  it('never charges less than half the smallest measured step', () => {
    expect(stepCost(costs, 1)).toBe(6.5);
    expect(
      stepCost(
        {
          ...costs,
          stepMs: [
            [8, 10],
            [16, 30],
          ],
        },
        1,
      ),
    ).toBe(5);
  });
});
