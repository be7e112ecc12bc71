import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors';
import { asPeerId } from './ids';
import {
  createMembership,
  createStepTimes,
  deadAfterMs,
  expire,
  heard,
  isLive,
  join,
  lastSteps,
  leave,
  livePeers,
  medianStepMs,
  progressed,
  progressingPeers,
  recordStepTime,
} from './membership';
import { gate } from './staleness-gate';

const a = asPeerId('a');
const b = asPeerId('b');
const c = asPeerId('c');

describe('membership', () => {
  it('drops a silent peer after the bound and not before', () => {
    const m = createMembership(); // minDeadMs 5000, 10 steps
    join(m, a, 0);
    join(m, b, 0);
    heard(m, a, 1000);
    heard(m, b, 2000);
    // 200 ms steps: the bound is max(5000, 2000) = 5000 ms of silence.
    expect(expire(m, 6000, 200)).toEqual([]); // a silent for exactly 5000: not yet
    expect(expire(m, 6001, 200)).toEqual([a]);
    expect(livePeers(m)).toEqual([b]);
    expect(expire(m, 7000, 200)).toEqual([]);
    expect(expire(m, 7001, 200)).toEqual([b]);
  });

  it('waits 10 median step times when that is longer than minDeadMs, and never less than it', () => {
    const m = createMembership();
    expect(deadAfterMs(m, 1000)).toBe(10_000);
    expect(deadAfterMs(m, 10)).toBe(5000);
    expect(deadAfterMs(m, Number.NaN)).toBe(5000);
    expect(deadAfterMs(m, -3)).toBe(5000);
    join(m, a, 0);
    expect(expire(m, 4999, 10)).toEqual([]); // 10 x 10 ms would be 100 ms: minDeadMs wins
    expect(expire(m, 9999, 1000)).toEqual([]);
    expect(expire(m, 10_001, 1000)).toEqual([a]);
    expect(deadAfterMs(createMembership({ minDeadMs: 2000 }), 0)).toBe(2000);
  });

  it('increments the version exactly on membership changes', () => {
    const m = createMembership();
    const steps: [() => unknown, number][] = [
      [() => join(m, a, 0), 1],
      [() => join(m, a, 10), 0],
      [() => heard(m, a, 20, 0), 0],
      [() => heard(m, b, 30), 1], // a message from a new link counts as a join
      [() => join(m, c, 40), 1],
      [() => leave(m, c), 1],
      [() => leave(m, c), 0],
      [() => heard(m, c, 50, 3), 0], // late message after an explicit close: stays out
      [() => expire(m, 100, 10), 0],
      [() => expire(m, 6000, 10), 2], // a and b both silent
      [() => heard(m, a, 6001, 7), 1], // dropped and heard again: re-joins
      [() => join(m, c, 6002), 1], // a new link after leaving
    ];
    for (const [op, delta] of steps) {
      const before = m.version;
      op();
      expect(m.version - before).toBe(delta);
    }
    expect(livePeers(m)).toEqual([a, c]);
    expect(lastSteps(m).get(a)).toBe(7);
    expect(lastSteps(m).get(c)).toBe(-1);
    // Once back through join, c is heard again like any live peer: its steps count.
    heard(m, c, 6003, 4);
    expect(lastSteps(m).get(c)).toBe(4);
  });

  it('keeps the highest step heard and ignores bad times and steps', () => {
    const m = createMembership();
    heard(m, a, 100, 5);
    heard(m, a, 110, 3); // a late, older update
    heard(m, a, 120, Number.NaN);
    heard(m, a, 130, 2.5);
    expect(lastSteps(m).get(a)).toBe(5);
    expect(heard(m, b, Number.NaN)).toBe(false);
    expect(join(m, b, -1)).toBe(false);
    expect(isLive(m, b)).toBe(false);
    heard(m, a, 50); // clock skew between handlers must not make a look older
    expect(m.members.get(a)?.lastHeardMs).toBe(130);
  });

  it('version counts every peer added or removed, whatever the sequence', () => {
    const peers = ['p0', 'p1', 'p2', 'p3'].map(asPeerId);
    const op = fc.record({
      kind: fc.constantFrom('join', 'heard', 'leave', 'expire'),
      peer: fc.integer({ min: 0, max: 3 }),
      dt: fc.integer({ min: 0, max: 4000 }),
      median: fc.integer({ min: 0, max: 800 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const m = createMembership();
        let now = 0;
        for (const o of ops) {
          now += o.dt;
          const before = new Set(livePeers(m));
          const v = m.version;
          const peer = peers[o.peer]!;
          if (o.kind === 'join') join(m, peer, now);
          else if (o.kind === 'heard') heard(m, peer, now, o.dt);
          else if (o.kind === 'leave') leave(m, peer);
          else expire(m, now, o.median);
          const after = new Set(livePeers(m));
          let changes = 0;
          for (const p of peers) if (before.has(p) !== after.has(p)) changes++;
          expect(m.version - v).toBe(changes);
          // Nobody live has been silent for longer than the bound right after an expire.
          if (o.kind === 'expire') {
            for (const p of after) {
              expect(now - m.members.get(p)!.lastHeardMs).toBeLessThanOrEqual(
                deadAfterMs(m, o.median),
              );
            }
          }
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('no step waits forever: a crashed peer stops blocking the gate once it expires', () => {
    const m = createMembership();
    const times = createStepTimes();
    join(m, b, 0);
    join(m, c, 0);
    const stepMs = 100;
    const crashAtMs = 1000; // c's last update is the one it sends at 1000 ms
    let step = 0; // the next step this peer will start
    let openedAfterCrash: number | undefined;
    for (let now = 0; now <= 20_000; now += stepMs) {
      // b and c finish a step every 100 ms and send its update; c until it crashes.
      const finished = now / stepMs - 1;
      if (finished >= 0) {
        heard(m, b, now, finished);
        if (now <= crashAtMs) heard(m, c, now, finished);
      }
      expire(m, now, medianStepMs(times));
      const d = gate(step, 0, livePeers(m), lastSteps(m));
      if (d.open) {
        if (now > crashAtMs && openedAfterCrash === undefined) openedAfterCrash = now;
        step++;
        recordStepTime(times, stepMs);
      } else {
        expect(d.waitingFor).toEqual([c]);
        // Blocked only while c is still within its bound.
        expect(now - crashAtMs).toBeLessThanOrEqual(deadAfterMs(m, medianStepMs(times)));
      }
    }
    expect(isLive(m, c)).toBe(false);
    expect(openedAfterCrash).toBeDefined();
    // The bound is minDeadMs here (10 x 100 ms < 5000 ms): open 5 s after c fell silent.
    expect(openedAfterCrash! - crashAtMs).toBeGreaterThan(5000);
    expect(openedAfterCrash! - crashAtMs).toBeLessThanOrEqual(5000 + stepMs);
    expect(step).toBeGreaterThan(140);
  });

  it('a peer that pings but sends no update stops blocking the gate, and counts again when it does', () => {
    const m = createMembership();
    join(m, b, 0);
    join(m, c, 0);
    const stepMs = 100;
    let step = 0;
    const blocked: number[] = [];
    for (let now = 0; now <= 12_000; now += stepMs) {
      const finished = now / stepMs - 1;
      if (finished >= 0) {
        heard(m, b, now, finished);
        progressed(m, b, now);
      }
      // c sends its updates until 1000 ms; then pings only; from 6000 ms heartbeats that claim
      // the mesh's step without an update; from 9000 ms updates again.
      if (now <= 1000 || now >= 9000) {
        heard(m, c, now, finished);
        progressed(m, c, now);
      } else if (now < 6000) heard(m, c, now);
      else heard(m, c, now, finished);
      expect(expire(m, now, 0)).toEqual([]);
      const counted = progressingPeers(m, now, 0);
      const d = gate(step, 0, counted, lastSteps(m));
      if (d.open) step++;
      else blocked.push(now);
      if (now > 6100 && now < 9000) expect(counted).toEqual([b]);
      if (now >= 9000) expect(counted).toEqual([b, c]);
    }
    // Blocked on c from just after 1000 ms for the bound (5 s), not longer.
    expect(blocked.length).toBeGreaterThan(45);
    expect(Math.max(...blocked)).toBeLessThanOrEqual(1000 + 5000 + stepMs);
    expect(step).toBeGreaterThan(60);
    expect(isLive(m, c)).toBe(true);
    expect(progressed(m, asPeerId('nobody'), 0)).toBe(false);
  });

  it('takes the median over a small window of step times', () => {
    const t = createStepTimes(3);
    expect(medianStepMs(t)).toBe(0);
    recordStepTime(t, 100);
    recordStepTime(t, 300);
    expect(medianStepMs(t)).toBe(200);
    recordStepTime(t, 5000); // one slow step does not move the median
    expect(medianStepMs(t)).toBe(300);
    expect(recordStepTime(t, Number.NaN)).toBe(false);
    recordStepTime(t, 200);
    recordStepTime(t, 100); // the first 100 and the 300 have left the window
    expect(medianStepMs(t)).toBe(200);
  });

  it('refuses a bad configuration with PolicyError', () => {
    expect(() => createMembership({ minDeadMs: 0 })).toThrow(PolicyError);
    expect(() => createMembership({ deadAfterSteps: Number.NaN })).toThrow(PolicyError);
    expect(() => createStepTimes(0)).toThrow(PolicyError);
  });
});
