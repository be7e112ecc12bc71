import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BandwidthEstimator,
  bandwidthBitsPerSec,
  bandwidthBytesPerSec,
  bytesInFlight,
  createBandwidthEstimator,
  minRttMs,
  onAck,
  onRttSample,
  onSend,
  probeGain,
  rttMs,
  rttVarMs,
  sendBudgetBytes,
} from './bandwidth-estimator';
import { PolicyError } from './errors';
import { mulberry32 } from './random';

const MBIT = 125_000; // bytes per second in one Mbit/s

interface Phase {
  readonly fromMs: number;
  readonly bytesPerSec: number;
}

/**
 * A synthetic path: one FIFO bottleneck whose rate is piecewise constant in time, then a
 * one-way delay with seeded jitter each way. Jitter never reorders (the data channel is
 * ordered and reliable, and so are the acks coming back).
 */
class FifoLink {
  private busyUntil = 0;
  private lastArrival = 0;
  private lastAck = 0;
  private readonly phases: readonly Phase[];
  private readonly oneWayMs: number;
  private readonly jitterMs: number;
  private readonly rng: () => number;

  constructor(phases: readonly Phase[], oneWayMs: number, jitterMs: number, seed: number) {
    this.phases = phases;
    this.oneWayMs = oneWayMs;
    this.jitterMs = jitterMs;
    this.rng = mulberry32(seed);
  }

  rateAt(t: number): number {
    let rate = this.phases[0]!.bytesPerSec;
    for (const p of this.phases) if (p.fromMs <= t) rate = p.bytesPerSec;
    return rate;
  }

  /** What bufferedAmount tells the sender: the bottleneck has finished the previous message. */
  drained(now: number): boolean {
    return this.busyUntil <= now;
  }

  /** Queues a message; returns when its ack reaches the sender. */
  send(bytes: number, now: number): number {
    const finish = this.serialize(Math.max(now, this.busyUntil), bytes);
    this.busyUntil = finish;
    this.lastArrival = Math.max(this.lastArrival, finish + this.delay());
    this.lastAck = Math.max(this.lastAck, this.lastArrival + this.delay());
    return this.lastAck;
  }

  /** An app-level ping that does not queue behind data (getStats' ICE RTT, say). */
  pingRtt(): number {
    return this.delay() + this.delay();
  }

  private delay(): number {
    return this.oneWayMs + this.rng() * this.jitterMs;
  }

  private serialize(start: number, bytes: number): number {
    let t = start;
    let left = bytes;
    for (;;) {
      const rate = this.rateAt(t);
      const next = this.phases.find((p) => p.fromMs > t)?.fromMs ?? Number.POSITIVE_INFINITY;
      const canSend = (rate * (next - t)) / 1000;
      if (left <= canSend) return t + (left / rate) * 1000;
      left -= canSend;
      t = next;
    }
  }
}

interface Observation {
  readonly tMs: number;
  readonly estimate: number;
  readonly trueRate: number;
  /** Accepted rate samples so far. */
  readonly accepted: number;
}

interface Trace {
  readonly phases: readonly Phase[];
  readonly stepMs: number;
  readonly steps: number;
  readonly seed: number;
  readonly idle?: (step: number) => boolean;
}

const ONE_WAY_MS = 15;
const JITTER_MS = 10;

/**
 * A realistic sender: every step of T ms it sends estimate x T x probe gain bytes, unless the
 * previous message has not drained (DESIGN.md 3.2: a slow link is skipped, never waited for).
 * Acks are handled with their own arrival times; an app ping reports the RTT each step.
 */
function runTrace(trace: Trace): { obs: Observation[]; est: BandwidthEstimator } {
  const est = createBandwidthEstimator();
  const link = new FifoLink(trace.phases, ONE_WAY_MS, JITTER_MS, trace.seed);
  const pending: { msgId: number; ackAt: number }[] = [];
  const obs: Observation[] = [];
  let nextId = 1;
  for (let i = 0; i < trace.steps; i++) {
    const t = i * trace.stepMs;
    while (pending.length > 0 && pending[0]!.ackAt <= t) {
      const a = pending.shift()!;
      expect(onAck(est, { msgId: a.msgId, ackAtMs: a.ackAt }).kind).not.toBe('ignored');
    }
    if (i > 0) onRttSample(est, link.pingRtt()); // the ping sent at the previous step is back
    if (!trace.idle?.(i) && link.drained(t)) {
      const bytes = Math.max(1, sendBudgetBytes(est, trace.stepMs));
      expect(onSend(est, { msgId: nextId, bytes, sentAtMs: t, appLimited: false })).toBe('tracked');
      pending.push({ msgId: nextId, ackAt: link.send(bytes, t) });
      nextId++;
    }
    obs.push({
      tMs: t,
      estimate: bandwidthBytesPerSec(est),
      trueRate: link.rateAt(t),
      accepted: est.counters.samplesAccepted,
    });
  }
  return { obs, est };
}

/**
 * From each change of rate (time 0 included), once `bound` samples have been accepted, the
 * estimate stays within `tol` of the true rate until the next change. Also checks that the
 * settled stretch is long enough that the assertion is not vacuous.
 */
function expectConverges(obs: readonly Observation[], phases: readonly Phase[], bound: number) {
  for (let p = 0; p < phases.length; p++) {
    const from = phases[p]!.fromMs;
    const to = phases[p + 1]?.fromMs ?? Number.POSITIVE_INFINITY;
    const span = obs.filter((o) => o.tMs >= from && o.tMs < to);
    const base = span[0]!.accepted;
    const settled = span.filter((o) => o.accepted - base >= bound);
    expect(settled.length).toBeGreaterThanOrEqual(10);
    for (const o of settled) {
      const relErr = Math.abs(o.estimate - o.trueRate) / o.trueRate;
      expect(relErr, `t=${o.tMs} est=${o.estimate} true=${o.trueRate}`).toBeLessThanOrEqual(0.15);
    }
  }
}

/**
 * The bound, in accepted samples after a change: 3 for the median of 5 to flip to the new
 * rate, plus up to 2 samples of messages already under way when the rate changed (one whose ack
 * is still travelling, one straddling the change).
 */
const SAMPLE_BOUND = 5;

describe('bandwidth estimator on a simulated link', () => {
  for (const mbit of [2, 10, 50]) {
    it(`finds ${mbit} Mbit/s within 15% after ${SAMPLE_BOUND} samples, with jitter`, () => {
      const phases = [{ fromMs: 0, bytesPerSec: mbit * MBIT }];
      const { obs } = runTrace({ phases, stepMs: 200, steps: 150, seed: mbit });
      expectConverges(obs, phases, SAMPLE_BOUND);
    });
  }

  it('is not pulled down by idle gaps in sending', () => {
    const phases = [{ fromMs: 0, bytesPerSec: 10 * MBIT }];
    const idle = (i: number) => (i >= 40 && i < 70) || (i >= 100 && i < 103) || i % 17 === 0;
    const { obs } = runTrace({ phases, stepMs: 200, steps: 160, seed: 7, idle });
    expectConverges(obs, phases, SAMPLE_BOUND);
    // The stretch right after the long gap is covered by the check above; make sure there was one.
    expect(obs[70]!.accepted).toBe(obs[40]!.accepted + 1); // only the message sent before the gap
  });

  it('follows a step change 10 -> 2 Mbit/s', () => {
    const phases = [
      { fromMs: 0, bytesPerSec: 10 * MBIT },
      { fromMs: 10_000, bytesPerSec: 2 * MBIT },
    ];
    const { obs } = runTrace({ phases, stepMs: 200, steps: 120, seed: 11 });
    expectConverges(obs, phases, SAMPLE_BOUND);
  });

  it('follows a step change 2 -> 10 Mbit/s', () => {
    const phases = [
      { fromMs: 0, bytesPerSec: 2 * MBIT },
      { fromMs: 10_000, bytesPerSec: 10 * MBIT },
    ];
    const { obs } = runTrace({ phases, stepMs: 200, steps: 100, seed: 13 });
    expectConverges(obs, phases, SAMPLE_BOUND);
  });

  it('follows repeated changes with a shorter step time', () => {
    const phases = [
      { fromMs: 0, bytesPerSec: 50 * MBIT },
      { fromMs: 6_000, bytesPerSec: 2 * MBIT },
      { fromMs: 16_000, bytesPerSec: 10 * MBIT },
    ];
    const { obs } = runTrace({ phases, stepMs: 100, steps: 260, seed: 17 });
    expectConverges(obs, phases, SAMPLE_BOUND);
  });
});

/** Sends one message and acks it; returns the ack outcome. */
function transfer(
  est: BandwidthEstimator,
  msgId: number,
  bytes: number,
  sentAtMs: number,
  ackAtMs: number,
  appLimited = false,
) {
  expect(onSend(est, { msgId, bytes, sentAtMs, appLimited })).toBe('tracked');
  return onAck(est, { msgId, ackAtMs });
}

/** Feeds `n` samples of exactly `rate` bytes/s: 100 kB messages on an idle link, RTT 40 ms. */
function feed(est: BandwidthEstimator, rate: number, n: number, appLimited = false) {
  const bytes = 100_000;
  const t0 = Math.max(0, est.lastEventMs) + 1000;
  for (let i = 0; i < n; i++) {
    const sent = t0 + i * 10_000;
    transfer(est, est.sends + 1, bytes, sent, sent + 40 + (bytes / rate) * 1000, appLimited);
  }
}

describe('bandwidth estimator rules', () => {
  it('starts at a conservative 1 Mbit/s so the first message is small', () => {
    const est = createBandwidthEstimator();
    expect(bandwidthBytesPerSec(est)).toBe(125_000);
    expect(bandwidthBitsPerSec(est)).toBe(1_000_000);
    // 1 Mbit/s x 200 ms x the startup gain of 2.
    expect(sendBudgetBytes(est, 200)).toBe(50_000);
    expect(rttMs(est)).toBe(100);
    expect(minRttMs(est)).toBeUndefined();
  });

  it('back-to-back messages measure the link rate, not the queueing', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    const rate = 1_000_000; // 100 kB take 100 ms
    for (let k = 0; k < 4; k++) {
      onSend(est, { msgId: k, bytes: 100_000, sentAtMs: 0, appLimited: false });
    }
    expect(bytesInFlight(est)).toBe(400_000);
    for (let k = 0; k < 4; k++) {
      const out = onAck(est, { msgId: k, ackAtMs: 40 + (k + 1) * 100 });
      expect(out).toEqual({ kind: 'sample', bytesPerSec: rate, accepted: true });
    }
    expect(bandwidthBytesPerSec(est)).toBe(rate);
    expect(bytesInFlight(est)).toBe(0);
  });

  it('an idle gap before a message does not depress its sample', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    transfer(est, 1, 100_000, 0, 140);
    // Ten seconds of nothing, then a message that the link carries in 100 ms.
    const out = transfer(est, 2, 100_000, 10_140, 10_280);
    expect(out).toEqual({ kind: 'sample', bytesPerSec: 1_000_000, accepted: true });
  });

  it('without a min RTT yet, a lone message gives a low (safe) sample', () => {
    const est = createBandwidthEstimator();
    const out = transfer(est, 1, 100_000, 0, 140);
    expect(out.kind === 'sample' && out.accepted).toBe(true);
    expect(out.kind === 'sample' && out.bytesPerSec).toBeCloseTo(100_000 / 0.14, 6);
  });

  it('app-limited samples below the estimate do not pull it down; above it they count', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    feed(est, 1_000_000, 5);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
    feed(est, 300_000, 5, true);
    expect(est.counters.appLimitedDiscarded).toBe(5);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
    // The same low samples from a sender that kept the link busy are believed.
    feed(est, 300_000, 3);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(300_000, 6);
    // Higher app-limited samples prove the link can do at least that: kept.
    feed(est, 1_000_000, 3, true);
    expect(est.counters.appLimitedDiscarded).toBe(5);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
  });

  it('follows a step down or up within ceil(N/2) = 3 samples, not fewer', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    feed(est, 1_000_000, 5);
    feed(est, 200_000, 2);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
    feed(est, 200_000, 1);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(200_000, 6);
    feed(est, 200_000, 2);
    feed(est, 1_000_000, 2);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(200_000, 6);
    feed(est, 1_000_000, 1);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
  });

  it('a single outlier either way does not move the estimate', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    feed(est, 1_000_000, 5);
    feed(est, 50_000_000, 1);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
    feed(est, 10_000, 1);
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(1_000_000, 6);
  });

  it('doubles the budget during startup until 3 samples in a row grow less than 25%', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    expect(probeGain(est)).toBe(2);
    feed(est, 200_000, 1);
    feed(est, 400_000, 1);
    feed(est, 800_000, 1);
    expect(est.startup).toBe(true);
    // During startup the estimate is the newest sample, not the lagging median (400k).
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(800_000, 6);
    feed(est, 900_000, 1); // +12.5%: not growth
    feed(est, 700_000, 1);
    expect(probeGain(est)).toBe(2);
    // The newest sample (not the window's max of 900k), as it is above the median (700k).
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(700_000, 6);
    feed(est, 950_000, 1);
    expect(est.startup).toBe(false);
    // Now the median of the newest five: [400k, 800k, 900k, 700k, 950k].
    expect(bandwidthBytesPerSec(est)).toBeCloseTo(800_000, 6);
    expect(probeGain(est)).not.toBe(2);
  });

  it('starts up again after 3 samples in a row 25% above the estimate', () => {
    // A window of 9, so that the median is still the old rate when the streak completes.
    const est = createBandwidthEstimator({ windowSamples: 9 });
    onRttSample(est, 40);
    feed(est, 1_000_000, 9);
    expect(est.startup).toBe(false);
    feed(est, 2_000_000, 2);
    feed(est, 1_000_000, 1); // the streak is broken
    feed(est, 2_000_000, 2);
    expect(est.startup).toBe(false);
    feed(est, 2_000_000, 1);
    expect(est.startup).toBe(true);
    expect(probeGain(est)).toBe(2);
  });

  it('probes upward on one send in eight after startup, counting sends rather than steps', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    feed(est, 1_000_000, 5);
    expect(est.startup).toBe(false);
    const gains: number[] = [];
    const t0 = est.lastEventMs;
    for (let i = 0; i < 16; i++) {
      gains.push(probeGain(est));
      // Asking twice (a skipped step) must not move the cycle.
      expect(probeGain(est)).toBe(gains[i]);
      onSend(est, { msgId: 100 + i, bytes: 1000, sentAtMs: t0 + i, appLimited: false });
    }
    expect(gains.filter((g) => g === 1.25).length).toBe(2);
    expect(gains.filter((g) => g === 1).length).toBe(14);
    const probeAt = gains.indexOf(1.25);
    expect(gains[probeAt + 8]).toBe(1.25);
    // The budget carries the gain.
    while (probeGain(est) === 1) {
      expect(sendBudgetBytes(est, 200)).toBe(200_000);
      onSend(est, { msgId: est.sends + 1000, bytes: 1, sentAtMs: t0 + 100, appLimited: false });
    }
    expect(sendBudgetBytes(est, 200)).toBe(250_000);
  });

  it('smooths RTT as RFC 6298 and keeps a windowed min RTT', () => {
    const est = createBandwidthEstimator({ minRttWindow: 2 });
    expect(onRttSample(est, 100)).toBe(true);
    expect(rttMs(est)).toBe(100);
    expect(rttVarMs(est)).toBe(50);
    onRttSample(est, 200);
    expect(rttVarMs(est)).toBe(0.75 * 50 + 0.25 * 100);
    expect(rttMs(est)).toBe(0.875 * 100 + 0.125 * 200);
    expect(minRttMs(est)).toBe(100);
    onRttSample(est, 150); // 100 leaves the window of two
    expect(minRttMs(est)).toBe(150);
    expect(onRttSample(est, Number.NaN)).toBe(false);
    expect(onRttSample(est, -1)).toBe(false);
    expect(est.counters.badInput).toBe(2);
    expect(minRttMs(est)).toBe(150);
  });

  it('takes a min RTT from the ack of a small message sent alone', () => {
    const est = createBandwidthEstimator();
    transfer(est, 1, 200, 1000, 1030);
    expect(minRttMs(est)).toBe(30);
    // Not from a small message that queued behind another one.
    onSend(est, { msgId: 2, bytes: 100_000, sentAtMs: 2000, appLimited: false });
    transfer(est, 3, 200, 2000, 2005);
    expect(minRttMs(est)).toBe(30);
  });

  it('ignores and counts bad input without throwing or changing the estimate', () => {
    const est = createBandwidthEstimator();
    onRttSample(est, 40);
    feed(est, 1_000_000, 5);
    const before = bandwidthBytesPerSec(est);
    const t = est.lastEventMs;
    expect(onAck(est, { msgId: 999, ackAtMs: t + 1 })).toEqual({
      kind: 'ignored',
      reason: 'unknown-ack',
    });
    const lastId = est.sends;
    expect(onAck(est, { msgId: lastId, ackAtMs: t + 1 })).toEqual({
      kind: 'ignored',
      reason: 'duplicate-ack',
    });
    expect(onSend(est, { msgId: 1.5, bytes: 10, sentAtMs: t, appLimited: false })).toBe(
      'bad-input',
    );
    expect(onSend(est, { msgId: 50, bytes: 0, sentAtMs: t, appLimited: false })).toBe('bad-input');
    expect(onSend(est, { msgId: 50, bytes: Number.NaN, sentAtMs: t, appLimited: false })).toBe(
      'bad-input',
    );
    expect(onSend(est, { msgId: 50, bytes: 10, sentAtMs: -5, appLimited: false })).toBe(
      'bad-input',
    );
    expect(onSend(est, { msgId: 50, bytes: 10, sentAtMs: t - 1, appLimited: false })).toBe(
      'time-backwards',
    );
    expect(onSend(est, { msgId: 50, bytes: 10, sentAtMs: t + 2, appLimited: false })).toBe(
      'tracked',
    );
    expect(onSend(est, { msgId: 50, bytes: 10, sentAtMs: t + 3, appLimited: false })).toBe(
      'duplicate-send',
    );
    expect(onAck(est, { msgId: 50, ackAtMs: Number.NaN }).kind).toBe('ignored');
    expect(onAck(est, { msgId: 50, ackAtMs: t + 1 })).toEqual({
      kind: 'ignored',
      reason: 'time-backwards',
    });
    expect(bytesInFlight(est)).toBe(10); // still waiting for a proper ack
    expect(est.counters).toMatchObject({
      unknownAcks: 1,
      duplicateAcks: 1,
      badInput: 5,
      timeBackwards: 2,
      duplicateSends: 1,
    });
    expect(bandwidthBytesPerSec(est)).toBe(before);
  });

  it('forgets the oldest unacked messages beyond maxInFlight', () => {
    const est = createBandwidthEstimator({ maxInFlight: 3 });
    for (let i = 0; i < 5; i++)
      onSend(est, { msgId: i, bytes: 10 + i, sentAtMs: i, appLimited: false });
    expect(est.counters.evicted).toBe(2);
    expect(bytesInFlight(est)).toBe(12 + 13 + 14);
    expect(onAck(est, { msgId: 0, ackAtMs: 10 }).kind).toBe('ignored');
  });

  it('refuses a configuration it cannot work with', () => {
    expect(() => createBandwidthEstimator({ initialBytesPerSec: 0 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ windowSamples: 0 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ probeGain: 0.5 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ maxInFlight: Number.NaN })).toThrow(PolicyError);
  });

  it('never throws and keeps its invariants on any sequence of events', () => {
    const time = fc.oneof(
      fc.double({ min: -10, max: 1e6, noNaN: false }),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
    );
    const event = fc.oneof(
      fc.record({
        kind: fc.constant('send' as const),
        msgId: fc.integer({ min: 0, max: 20 }),
        bytes: fc.oneof(fc.integer({ min: -5, max: 5_000_000 }), fc.constant(Number.NaN)),
        t: time,
        appLimited: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('ack' as const),
        msgId: fc.integer({ min: 0, max: 20 }),
        t: time,
      }),
      fc.record({ kind: fc.constant('rtt' as const), ms: time }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const est = createBandwidthEstimator({ maxInFlight: 8 });
        for (const e of events) {
          if (e.kind === 'send') {
            onSend(est, {
              msgId: e.msgId,
              bytes: e.bytes,
              sentAtMs: e.t,
              appLimited: e.appLimited,
            });
          } else if (e.kind === 'ack') onAck(est, { msgId: e.msgId, ackAtMs: e.t });
          else onRttSample(est, e.ms);
          const bw = bandwidthBytesPerSec(est);
          expect(Number.isFinite(bw) && bw > 0).toBe(true);
          let sum = 0;
          for (const m of est.inFlight.values()) sum += m.bytes;
          expect(bytesInFlight(est)).toBe(sum);
          expect(est.inFlight.size).toBeLessThanOrEqual(8);
          expect(Number.isFinite(rttMs(est))).toBe(true);
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('bandwidth estimator with an aggregation span (sampleSpanMs)', () => {
  /**
   * A 1 MB/s link carrying one 20 kB message every 20 ms (each takes 20 ms), whose acks the
   * sender reads only every 100 ms (its thread busy), five at a time.
   */
  const run = (sampleSpanMs: number) => {
    const est = createBandwidthEstimator({ sampleSpanMs, initialBytesPerSec: 1_000_000 });
    onRttSample(est, 1);
    const samples: number[] = [];
    // Events in time order, as a real sender sees them.
    const events: { t: number; k: number; kind: 'send' | 'ack' }[] = [];
    for (let k = 0; k < 100; k++) {
      // Acks are read in batches at the next multiple of 100 ms after delivery (k + 1) * 20 + 1.
      const delivered = (k + 1) * 20 + 1;
      events.push({ t: k * 20, k, kind: 'send' });
      events.push({ t: Math.ceil(delivered / 100) * 100 + k * 0.01, k, kind: 'ack' });
    }
    events.sort((a, b) => a.t - b.t || (a.kind === 'send' ? -1 : 1));
    for (const e of events) {
      if (e.kind === 'send') {
        onSend(est, { msgId: e.k, bytes: 20_000, sentAtMs: e.t, appLimited: false });
      } else {
        const out = onAck(est, { msgId: e.k, ackAtMs: e.t });
        if (out.kind === 'sample') samples.push(out.bytesPerSec);
      }
    }
    return { est, samples };
  };

  it('per-message samples read low under ack compression; summed ones give the link rate', () => {
    // Per message, a compressed ack's interval starts at the previous (late) ack: most give no
    // sample, the rest read a quarter of the rate.
    const single = run(0);
    expect(bandwidthBytesPerSec(single.est)).toBeLessThan(500_000);
    const summed = run(250);
    expect(summed.samples.length).toBeGreaterThan(3);
    for (const s of summed.samples.slice(1))
      expect(Math.abs(s - 1_000_000) / 1_000_000).toBeLessThan(0.1);
    expect(Math.abs(bandwidthBytesPerSec(summed.est) - 1_000_000) / 1_000_000).toBeLessThan(0.1);
  });

  it('refuses a negative or non-finite span', () => {
    expect(() => createBandwidthEstimator({ sampleSpanMs: -1 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ sampleSpanMs: Number.NaN })).toThrow(PolicyError);
  });
});
