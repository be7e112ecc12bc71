import { describe, expect, it } from 'vitest';
import { DEFAULT_ROOM_CONFIG } from '../core';
import { optimizerFor } from './service';

describe('optimizerFor', () => {
  it('maps the room config to SGD with momentum', () => {
    expect(optimizerFor({ ...DEFAULT_ROOM_CONFIG, learningRate: 0.1, momentum: 0.8 })).toEqual({
      kind: 'sgd',
      learningRate: 0.1,
      momentum: 0.8,
    });
  });

  it('maps it to Adam, leaving momentum out (Adam keeps its default betas)', () => {
    expect(
      optimizerFor({ ...DEFAULT_ROOM_CONFIG, optimizer: 'adam', learningRate: 0.001 }),
    ).toEqual({ kind: 'adam', learningRate: 0.001 });
  });
});
