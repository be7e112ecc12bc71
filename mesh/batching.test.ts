/** WDB as a peer applies it before a step: when batches are recomputed, its batch and weight. */

import { describe, expect, it } from 'vitest';
import {
  asPeerId,
  createRebalanceState,
  DEFAULT_ROOM_CONFIG,
  type PeerId,
  recordRebalance,
} from '../core';
import { type BatchRemote, type RebalanceInput, rebalance } from './batching';

const a = asPeerId('a');
const b = asPeerId('b');
const c = asPeerId('c');

const base = (remotes: Map<PeerId, BatchRemote>): RebalanceInput => ({
  self: a,
  capacity: 300,
  counted: [...remotes.keys()],
  remotes,
  step: 0,
  membershipVersion: 1,
  config: DEFAULT_ROOM_CONFIG, // B = 128, b in [8, 512], R = 20
  batching: 'wdb',
  state: createRebalanceState(),
  batches: new Map(),
});

const oneRemote = () => new Map<PeerId, BatchRemote>([[b, { ready: true, capacity: 100 }]]);

describe('rebalance', () => {
  it('splits the global batch by capacity the first time, with an initial event', () => {
    const out = rebalance(base(oneRemote()));
    expect(Object.fromEntries(out.batches)).toEqual({ a: 96, b: 32 });
    expect(out.batchSize).toBe(96);
    expect(out.weight).toBeCloseTo(0.75, 12);
    expect(out.event).toEqual({ reason: 'initial', batches: { a: 96, b: 32 } });
    expect(out.state.lastStep).toBe(0);
  });

  it('keeps the batches and state between rebalances', () => {
    const first = rebalance(base(oneRemote()));
    const next = rebalance({
      ...base(oneRemote()),
      step: 5,
      state: first.state,
      batches: first.batches,
    });
    expect(next.event).toBeUndefined();
    expect(next.batches).toBe(first.batches);
    expect(next.state).toBe(first.state);
    expect(next.batchSize).toBe(96);
  });

  it('recomputes every R steps, on a capacity shift and on a membership change', () => {
    const first = rebalance(base(oneRemote()));
    const after = { state: first.state, batches: first.batches };
    const periodic = rebalance({ ...base(oneRemote()), ...after, step: 20 });
    expect(periodic.event?.reason).toBe('periodic');
    const shifted = rebalance({ ...base(oneRemote()), ...after, step: 1, capacity: 100 });
    expect(shifted.event?.reason).toBe('capacity-shift');
    expect(Object.fromEntries(shifted.batches)).toEqual({ a: 64, b: 64 });
    const joined = rebalance({ ...base(oneRemote()), ...after, step: 1, membershipVersion: 2 });
    expect(joined.event?.reason).toBe('membership');
  });

  it('gives no share to a counted peer whose hello has not arrived', () => {
    const remotes = oneRemote();
    remotes.set(c, { ready: false, capacity: 1000 });
    const out = rebalance(base(remotes));
    expect([...out.batches.keys()].sort()).toEqual([a, b]);
    expect(out.weight).toBeCloseTo(0.75, 12);
  });

  it('splits equally for the baselines, the remainder to the lowest ids', () => {
    const remotes = oneRemote();
    remotes.set(c, { ready: true, capacity: 1 });
    const out = rebalance({ ...base(remotes), batching: 'equal' });
    expect(Object.fromEntries(out.batches)).toEqual({ a: 43, b: 43, c: 42 });
    expect(out.weight).toBeCloseTo(43 / 128, 12);
  });

  it('weighs a peer missing from the batches by the fair share, never by the batch it claims', () => {
    const remotes = oneRemote();
    remotes.set(c, { ready: true, capacity: 100 });
    const capacities = new Map([
      [a, 300],
      [b, 100],
      [c, 100],
    ]);
    const out = rebalance({
      ...base(remotes),
      step: 1,
      state: recordRebalance({ step: 0, capacities, membershipVersion: 1 }),
      batches: new Map([
        [a, 96],
        [b, 32],
      ]),
    });
    expect(out.event).toBeUndefined();
    // c counts with round(128 / 3) = 43.
    expect(out.weight).toBeCloseTo(96 / (96 + 32 + 43), 12);
    expect(out.weights.get(c)).toBeCloseTo(43 / (96 + 32 + 43), 12);
  });

  it('caps a share at shareCap x the fair share, whatever capacity a peer claims', () => {
    const remotes = oneRemote();
    remotes.set(c, { ready: true, capacity: 1e9 });
    const out = rebalance(base(remotes));
    // Without the cap c would take 128 - 2 x 8; with it, ceil(2 x 128 / 3) = 86.
    expect(out.batches.get(c)).toBe(86);
    expect([...out.batches.values()].reduce((x, y) => x + y, 0)).toBe(128);
    expect([...out.weights.values()].reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
    expect(out.weights.get(c)).toBeLessThanOrEqual((2 * 1) / 3 + 0.01);
    const loose = rebalance({
      ...base(remotes),
      config: { ...DEFAULT_ROOM_CONFIG, shareCap: 1000 },
    });
    expect(loose.batches.get(c)).toBe(128 - 2 * 8);
  });
});
