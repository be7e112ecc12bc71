/** The gate as a peer applies it: the bound per strategy, the counted peers, open or not. */

import { describe, expect, it } from 'vitest';
import { asPeerId, BASELINE_STALENESS, type PeerId, strategyTraits } from '../core';
import { backlogOpen, countedPeers, type GateRemote, gateOpen, gateStaleness } from './gate-policy';

const a = asPeerId('a');
const b = asPeerId('b');
const c = asPeerId('c');

describe('gateStaleness', () => {
  it("takes the room's staleness for DLion and its ablations", () => {
    for (const strategy of ['dlion', 'dlion-no-wdb', 'dlion-no-prio', 'dlion-no-dkt'] as const) {
      expect(gateStaleness({ strategy, staleness: 5 }, strategyTraits(strategy))).toBe(5);
    }
  });

  it("keeps the baselines' own bound whatever the room says", () => {
    expect(gateStaleness({ strategy: 'bsp', staleness: 5 }, strategyTraits('bsp'))).toBe(0);
    expect(gateStaleness({ strategy: 'ako', staleness: 0 }, strategyTraits('ako'))).toBe(
      BASELINE_STALENESS,
    );
  });
});

describe('countedPeers', () => {
  const remotes = new Map<PeerId, GateRemote>([
    [a, { updated: true, helloStep: 0 }],
    [b, { updated: false, helloStep: 7 }],
    [c, { updated: false, helloStep: 6 }],
  ]);

  it('counts peers that sent an update, and silent ones no further behind than s + 1', () => {
    // At step 10 with s = 2 the bar is 10 - 2 - 1 = 7: b is counted, c (6) is still syncing.
    expect(countedPeers([a, b, c], remotes, 10, 2)).toEqual([a, b]);
    expect(countedPeers([a, b, c], remotes, 9, 2)).toEqual([a, b, c]);
  });

  it('leaves out live peers without a link', () => {
    expect(countedPeers([a, asPeerId('gone')], remotes, 0, 0)).toEqual([a]);
  });
});

describe('gateOpen', () => {
  const lastSteps = new Map<PeerId, number>([
    [a, 4],
    [b, 1],
  ]);

  it('waits for every counted peer within the bound', () => {
    // Step 5 with s = 2 needs every peer at step >= 2: b (1) holds it.
    const input = { step: 5, staleness: 2, lastSteps, backupPeers: 0 };
    expect(gateOpen({ ...input, counted: [a, b] })).toBe(false);
    expect(gateOpen({ ...input, counted: [a] })).toBe(true);
    expect(gateOpen({ ...input, staleness: 3, counted: [a, b] })).toBe(true);
  });

  it("lets Hop's backup peers lag", () => {
    const input = { step: 5, staleness: 2, lastSteps, counted: [a, b] };
    expect(gateOpen({ ...input, backupPeers: 1 })).toBe(true);
    // b is capped at |live| - 1: with b alone counted, Hop still waits for it.
    expect(gateOpen({ ...input, counted: [b], backupPeers: 1 })).toBe(false);
  });
});

describe('backlogOpen', () => {
  it('opens while no link holds more than the bound', () => {
    expect(backlogOpen([], 1, 0)).toBe(true);
    expect(backlogOpen([0, 1, 1], 1, 0)).toBe(true);
    expect(backlogOpen([0, 2, 1], 1, 0)).toBe(false);
  });

  it("lets Hop's backup peers' links lag, but no more of them", () => {
    expect(backlogOpen([5, 0, 0], 1, 1)).toBe(true);
    expect(backlogOpen([5, 3, 0], 1, 1)).toBe(false);
  });
});
