import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors';
import { asPeerId, type PeerId } from './ids';
import { gate, requiredStep } from './staleness-gate';

const a = asPeerId('a');
const b = asPeerId('b');
const c = asPeerId('c');
const steps = (entries: [PeerId, number][]) => new Map(entries);

describe('staleness gate', () => {
  it('lets every peer start steps 0..s before anyone has sent anything', () => {
    for (const s of [0, 1, 2, 5]) {
      for (let t = 0; t <= s; t++) expect(gate(t, s, [a, b], new Map()).open).toBe(true);
      expect(gate(s + 1, s, [a, b], new Map())).toEqual({ open: false, waitingFor: [a, b] });
    }
  });

  it('s = 0 is lock-step: step t + 1 waits until every live peer has sent step t', () => {
    expect(
      gate(
        4,
        0,
        [a, b],
        steps([
          [a, 3],
          [b, 2],
        ]),
      ),
    ).toEqual({ open: false, waitingFor: [b] });
    expect(
      gate(
        4,
        0,
        [a, b],
        steps([
          [a, 3],
          [b, 3],
        ]),
      ),
    ).toEqual({ open: true, behind: [] });
    // Not one step further.
    expect(
      gate(
        5,
        0,
        [a, b],
        steps([
          [a, 3],
          [b, 3],
        ]),
      ),
    ).toEqual({
      open: false,
      waitingFor: [a, b],
    });
  });

  it('s = 2 lets a peer run 2 steps ahead of the others but not 3', () => {
    // Everyone else has finished step 4 and works on step 5.
    const heard = steps([
      [a, 4],
      [b, 4],
    ]);
    expect(gate(7, 2, [a, b], heard).open).toBe(true); // 2 ahead of step 5
    expect(gate(8, 2, [a, b], heard)).toEqual({ open: false, waitingFor: [a, b] }); // 3 ahead
    expect(requiredStep(8, 2)).toBe(5);
  });

  it('peers not in the live set never block, whatever their last step', () => {
    const heard = steps([
      [a, 10],
      [c, -1],
    ]);
    expect(gate(11, 0, [a], heard)).toEqual({ open: true, behind: [] });
    expect(gate(11, 0, [a, c], heard)).toEqual({ open: false, waitingFor: [c] });
  });

  it('allBut = 1 proceeds with one straggler, not with two', () => {
    const heard = steps([
      [a, 9],
      [b, 3],
      [c, 9],
    ]);
    expect(gate(10, 0, [a, b, c], heard, { allBut: 1 })).toEqual({ open: true, behind: [b] });
    expect(gate(10, 0, [a, b, c], heard)).toEqual({ open: false, waitingFor: [b] });
    const twoSlow = steps([
      [a, 9],
      [b, 3],
      [c, 2],
    ]);
    expect(gate(10, 0, [c, b, a], twoSlow, { allBut: 1 })).toEqual({
      open: false,
      waitingFor: [b, c],
    });
  });

  it('waits for a peer whose last step is not a number', () => {
    expect(gate(0, 0, [a], steps([[a, Number.NaN]]))).toEqual({ open: false, waitingFor: [a] });
  });

  it('refuses a bad bound or step with PolicyError', () => {
    expect(() => gate(0, -1, [], new Map())).toThrow(PolicyError);
    expect(() => gate(0, 1.5, [], new Map())).toThrow(PolicyError);
    expect(() => gate(-1, 0, [], new Map())).toThrow(PolicyError);
    expect(() => gate(0, 0, [], new Map(), { allBut: -1 })).toThrow(PolicyError);
  });

  it('is monotone: an open gate stays open for earlier steps, larger s and newer updates', () => {
    const peers = ['p0', 'p1', 'p2', 'p3', 'p4'].map(asPeerId);
    const arb = fc.record({
      last: fc.array(fc.integer({ min: -1, max: 30 }), { minLength: 5, maxLength: 5 }),
      liveMask: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      step: fc.integer({ min: 0, max: 40 }),
      s: fc.integer({ min: 0, max: 4 }),
      allBut: fc.integer({ min: 0, max: 2 }),
      bump: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(arb, ({ last, liveMask, step, s, allBut, bump }) => {
        const live = peers.filter((_, i) => liveMask[i]);
        const heard = new Map(peers.map((p, i) => [p, last[i]!] as [PeerId, number]));
        const d = gate(step, s, live, heard, { allBut });
        if (d.open) {
          if (step > 0) expect(gate(step - 1, s, live, heard, { allBut }).open).toBe(true);
          expect(gate(step, s + 1, live, heard, { allBut }).open).toBe(true);
          const newer = new Map(heard);
          newer.set(peers[bump]!, (heard.get(peers[bump]!) ?? -1) + 1);
          expect(gate(step, s, live, newer, { allBut }).open).toBe(true);
          expect(d.behind.length).toBeLessThanOrEqual(allBut);
        } else {
          // Whoever it waits for is live and really behind.
          expect(d.waitingFor.length).toBeGreaterThan(allBut);
          for (const p of d.waitingFor) {
            expect(live).toContain(p);
            expect(heard.get(p)!).toBeLessThan(step - 1 - s);
          }
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
