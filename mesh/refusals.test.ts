/** Screening of incoming updates and the refusal counters a peer starts with. */

import { describe, expect, it } from 'vitest';
import { asPeerId } from '../core';
import { createRefusalCounts, MAX_UPDATE_ABS, REFUSAL_KINDS, screenUpdate } from './refusals';

const from = asPeerId('peer-b');
const update = (paramCount: number, values: number[]) => ({
  meta: { paramCount },
  payload: { values: new Float32Array(values) },
});

describe('screenUpdate', () => {
  it('accepts finite entries within the bound, the bound itself included', () => {
    expect(screenUpdate(update(3, [0, -MAX_UPDATE_ABS, MAX_UPDATE_ABS]), from, 3)).toBeUndefined();
    expect(screenUpdate(update(5, []), from, 5)).toBeUndefined();
  });

  it('refuses an update for another model size before looking at its entries', () => {
    expect(screenUpdate(update(4, [Number.NaN]), from, 3)).toEqual({
      kind: 'wrong-model',
      message: 'update of 4 parameters from peer-b',
    });
  });

  it('refuses NaN and infinite entries as non-finite', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(screenUpdate(update(2, [1, bad]), from, 2)).toEqual({
        kind: 'non-finite-update',
        message: 'non-finite entry from peer-b',
      });
    }
  });

  it('refuses an entry beyond MAX_UPDATE_ABS as absurd, naming the entry', () => {
    expect(screenUpdate(update(2, [0, -2e4]), from, 2)).toEqual({
      kind: 'absurd-update',
      message: `entry -20000 from peer-b exceeds ${MAX_UPDATE_ABS}`,
    });
  });

  it('reports the first bad entry when there are several', () => {
    expect(screenUpdate(update(2, [5e4, Number.NaN]), from, 2)?.kind).toBe('absurd-update');
    expect(screenUpdate(update(2, [Number.NaN, 5e4]), from, 2)?.kind).toBe('non-finite-update');
  });
});

describe('createRefusalCounts', () => {
  it('starts every kind at 0, and each call gets its own counters', () => {
    const a = createRefusalCounts();
    expect(Object.keys(a).sort()).toEqual([...REFUSAL_KINDS].sort());
    expect(Object.values(a).every((n) => n === 0)).toBe(true);
    a['bad-frame']++;
    expect(createRefusalCounts()['bad-frame']).toBe(0);
  });
});
