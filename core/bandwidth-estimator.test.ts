import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BandwidthEstimator,
  bandwidthBitsPerSec,
  bandwidthBytesPerSec,
  bytesInFlight,
  chunkBytesFor,
  createBandwidthEstimator,
  inFlightAllowanceBytes,
  minRttMs,
  onAck,
  onRttSample,
  onSend,
  probeBytes,
  probeDue,
  probeGain,
  rttMs,
  rttVarMs,
  sendBudgetBytes,
} from './bandwidth-estimator';
import { PolicyError } from './errors';
import { mulberry32 } from './random';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from './wire/sizes';

const MBIT = 125_000; // bytes per second in one Mbit/s

interface PathShape {
  /** Bottleneck rate, bytes/s, from time `fromMs` on. */
  readonly phases: readonly { readonly fromMs: number; readonly bytesPerSec: number }[];
  readonly oneWayMs: number;
  /** Uniform extra delay of each frame and ack, ms (never reorders). */
  readonly jitterMs: number;
  /** The receiver handles frames only at multiples of this (a busy event loop), ms; 0: at once. */
  readonly receiverTickMs: number;
  readonly seed: number;
}

/**
 * A synthetic path: one FIFO bottleneck whose rate is piecewise constant, a one-way delay with
 * jitter each way, and a receiver that may handle frames in bursts. `send` returns the ack's
 * arrival time and the span the receiver reports (first frame handled to last).
 */
class Path {
  private busyUntil = 0;
  private lastArrival = 0;
  private lastAck = 0;
  private readonly rng: () => number;
  constructor(private readonly shape: PathShape) {
    this.rng = mulberry32(shape.seed);
  }

  rateAt(t: number): number {
    let rate = this.shape.phases[0]!.bytesPerSec;
    for (const p of this.shape.phases) if (p.fromMs <= t) rate = p.bytesPerSec;
    return rate;
  }

  /** Frames of `chunk` payload bytes each (plus headers) for a message of `bytes`. */
  send(bytes: number, chunk: number, now: number): { ackAt: number; spanMs: number } {
    const frames: number[] = [];
    for (let left = bytes; left > 0; left -= chunk)
      frames.push(Math.min(chunk, left) + FRAME_HEADER_BYTES);
    let first = 0;
    let last = 0;
    frames.forEach((f, i) => {
      const start = Math.max(now, this.busyUntil);
      this.busyUntil = start + (f * 1000) / this.rateAt(start);
      this.lastArrival = Math.max(this.lastArrival, this.busyUntil + this.delay());
      const handled = this.handle(this.lastArrival);
      if (i === 0) first = handled;
      last = handled;
    });
    this.lastAck = Math.max(this.lastAck, last + this.delay());
    return { ackAt: this.lastAck, spanMs: last - first };
  }

  wireBytes(bytes: number, chunk: number): number {
    return bytes + FRAME_HEADER_BYTES * Math.max(1, Math.ceil(bytes / chunk));
  }

  firstFrameBytes(bytes: number, chunk: number): number {
    return Math.min(chunk, bytes) + FRAME_HEADER_BYTES;
  }

  pingRtt(): number {
    return 2 * this.shape.oneWayMs + this.rng() * this.shape.jitterMs;
  }

  private delay(): number {
    return this.shape.oneWayMs + this.rng() * this.shape.jitterMs;
  }

  private handle(t: number): number {
    const tick = this.shape.receiverTickMs;
    return tick > 0 ? Math.ceil(t / tick) * tick : t;
  }
}

interface TraceResult {
  readonly est: BandwidthEstimator;
  /** Estimate after each accepted sample, with the true rate at that time. */
  readonly afterSample: {
    readonly tMs: number;
    readonly estimate: number;
    readonly rate: number;
  }[];
}

/**
 * DLion-like traffic: every `stepMs` the sender sends min(budget, offerBytes) when its link has
 * drained (its in-flight allowance), else skips the step; acks are read when they arrive.
 */
function runTrace(
  shape: PathShape,
  o: { stepMs: number; steps: number; offerBytes?: number; sampleSpanMs?: number },
): TraceResult {
  const est = createBandwidthEstimator({ sampleSpanMs: o.sampleSpanMs ?? 0 });
  const path = new Path(shape);
  const pending: { msgId: number; ackAt: number; spanMs: number }[] = [];
  const afterSample: TraceResult['afterSample'][number][] = [];
  let nextId = 1;
  for (let i = 0; i < o.steps; i++) {
    const t = i * o.stepMs;
    while (pending.length > 0 && pending[0]!.ackAt <= t) {
      const a = pending.shift()!;
      const out = onAck(est, { msgId: a.msgId, ackAtMs: a.ackAt, spanMs: a.spanMs });
      expect(out.kind).not.toBe('ignored');
      if (out.kind === 'sample') {
        afterSample.push({
          tMs: a.ackAt,
          estimate: bandwidthBytesPerSec(est),
          rate: path.rateAt(a.ackAt),
        });
      }
    }
    if (i > 0) onRttSample(est, path.pingRtt());
    if (bytesInFlight(est) > inFlightAllowanceBytes(est)) continue;
    const budget = sendBudgetBytes(est, o.stepMs);
    const offer = o.offerBytes ?? Number.POSITIVE_INFINITY;
    const appLimited = offer <= budget;
    const send = (bytes: number, limited: boolean, probe: boolean) => {
      const chunk = chunkBytesFor(est);
      const id = nextId++;
      expect(
        onSend(est, {
          msgId: id,
          bytes: path.wireBytes(bytes, chunk),
          firstFrameBytes: path.firstFrameBytes(bytes, chunk),
          sentAtMs: t,
          appLimited: limited,
          probe,
        }),
      ).toBe('tracked');
      pending.push({ msgId: id, ...path.send(bytes, chunk, t) });
      pending.sort((a, b) => a.ackAt - b.ackAt);
    };
    send(Math.max(1, Math.min(offer, budget)), appLimited, false);
    if (probeDue(est, t)) send(probeBytes(est), false, true);
  }
  return { est, afterSample };
}

const within = (estimate: number, rate: number, tol: number) =>
  Math.abs(estimate - rate) / rate <= tol;

describe('bandwidth estimator on a simulated path', () => {
  for (const mbit of [0.5, 2, 10, 50]) {
    for (const oneWayMs of [0, 50]) {
      it(`finds ${mbit} Mbit/s within 10% with ${oneWayMs} ms one-way and jitter`, () => {
        const { est } = runTrace(
          {
            phases: [{ fromMs: 0, bytesPerSec: mbit * MBIT }],
            oneWayMs,
            jitterMs: 1,
            receiverTickMs: 0,
            seed: 7,
          },
          { stepMs: 50, steps: 200 },
        );
        expect(est.counters.samplesAccepted).toBeGreaterThanOrEqual(5);
        expect(within(bandwidthBytesPerSec(est), mbit * MBIT, 0.1)).toBe(true);
      });
    }
  }

  it('a receiver busy in 20 ms bursts: per-message samples scatter, 100 ms sums hold', () => {
    const shape = {
      phases: [{ fromMs: 0, bytesPerSec: 4 * MBIT }],
      oneWayMs: 5,
      jitterMs: 2,
      receiverTickMs: 20,
      seed: 3,
    };
    const summed = runTrace(shape, { stepMs: 60, steps: 300, sampleSpanMs: 100 });
    expect(within(bandwidthBytesPerSec(summed.est), 4 * MBIT, 0.15)).toBe(true);
    const later = summed.afterSample.filter((s) => s.tMs > 3000);
    expect(later.length).toBeGreaterThan(10);
    for (const s of later) expect(within(s.estimate, s.rate, 0.2)).toBe(true);
  });

  it('follows a step change 10 -> 2 -> 10 Mbit/s within ceil(N/2) = 3 samples', () => {
    const phases = [
      { fromMs: 0, bytesPerSec: 10 * MBIT },
      { fromMs: 5000, bytesPerSec: 2 * MBIT },
      { fromMs: 10_000, bytesPerSec: 10 * MBIT },
    ];
    const { afterSample } = runTrace(
      { phases, oneWayMs: 20, jitterMs: 1, receiverTickMs: 0, seed: 5 },
      { stepMs: 50, steps: 300 },
    );
    for (const change of phases) {
      const after = afterSample.filter(
        (s) => s.tMs >= change.fromMs + 200 && s.rate === change.bytesPerSec,
      );
      const settled = after.slice(3).filter((s) => s.tMs < change.fromMs + 5000);
      expect(settled.length).toBeGreaterThan(3);
      for (const s of settled) expect(within(s.estimate, s.rate, 0.1)).toBe(true);
    }
  });

  it('an app-limited link (1 kB per step on 20 Mbit/s, 40 ms away) is probed, not read as slow', () => {
    const { est } = runTrace(
      {
        phases: [{ fromMs: 0, bytesPerSec: 20 * MBIT }],
        oneWayMs: 40,
        jitterMs: 0,
        receiverTickMs: 0,
        seed: 1,
      },
      { stepMs: 50, steps: 200, offerBytes: 1000 },
    );
    expect(est.counters.singleFrame).toBeGreaterThan(100);
    expect(est.counters.probes).toBeGreaterThan(0);
    // A probe every 5 s once the median span is full: a few probes, not one per step.
    expect(est.counters.probes).toBeLessThan(40);
    expect(within(bandwidthBytesPerSec(est), 20 * MBIT, 0.1)).toBe(true);
  });
});

/** One message on a path of `rate` with no delay: sent at `t`, its span as the receiver saw it. */
function message(
  est: BandwidthEstimator,
  id: number,
  o: {
    bytes: number;
    first: number;
    t: number;
    ackAt: number;
    spanMs: number;
    appLimited?: boolean;
  },
) {
  expect(
    onSend(est, {
      msgId: id,
      bytes: o.bytes,
      firstFrameBytes: o.first,
      sentAtMs: o.t,
      appLimited: o.appLimited ?? false,
    }),
  ).toBe('tracked');
  return onAck(est, { msgId: id, ackAtMs: o.ackAt, spanMs: o.spanMs });
}

describe('bandwidth estimator rules', () => {
  it('starts at 1 Mbit/s; the first sample replaces it', () => {
    const est = createBandwidthEstimator();
    expect(bandwidthBitsPerSec(est)).toBe(1e6);
    // 90 kB after the first frame in 100 ms: 900 kB/s, whatever the 300 ms the ack took.
    const out = message(est, 1, { bytes: 100_000, first: 10_000, t: 0, ackAt: 300, spanMs: 100 });
    expect(out).toEqual({ kind: 'sample', bytesPerSec: 900_000 });
    expect(bandwidthBytesPerSec(est)).toBe(900_000);
  });

  it('a one-frame message gives no sample; a too-short span doubles the budget until one does', () => {
    const est = createBandwidthEstimator();
    expect(message(est, 1, { bytes: 500, first: 500, t: 0, ackAt: 10, spanMs: 0 })).toEqual({
      kind: 'no-sample',
    });
    expect(est.counters.singleFrame).toBe(1);
    const budget = sendBudgetBytes(est, 100);
    message(est, 2, { bytes: 5000, first: 1000, t: 20, ackAt: 30, spanMs: 0.2 });
    expect(est.counters.tooShort).toBe(1);
    expect(sendBudgetBytes(est, 100)).toBe(2 * budget);
    message(est, 3, { bytes: 10_000, first: 1000, t: 40, ackAt: 50, spanMs: 0.4 });
    expect(sendBudgetBytes(est, 100)).toBe(4 * budget);
    message(est, 4, { bytes: 40_000, first: 1000, t: 60, ackAt: 70, spanMs: 2 });
    expect(bandwidthBytesPerSec(est)).toBe(19_500_000);
    expect(est.growth).toBe(1);
  });

  it('a single outlier either way does not move the median', () => {
    const est = createBandwidthEstimator();
    for (let i = 1; i <= 5; i++) {
      message(est, i, { bytes: 11_000, first: 1000, t: i * 100, ackAt: i * 100 + 20, spanMs: 10 });
    }
    expect(bandwidthBytesPerSec(est)).toBe(1_000_000);
    message(est, 6, { bytes: 11_000, first: 1000, t: 600, ackAt: 620, spanMs: 1 }); // 10 MB/s
    expect(bandwidthBytesPerSec(est)).toBe(1_000_000);
    message(est, 7, { bytes: 11_000, first: 1000, t: 700, ackAt: 720, spanMs: 100 }); // 100 kB/s
    expect(bandwidthBytesPerSec(est)).toBe(1_000_000);
  });

  it('sums spans until sampleSpanMs, or maxAggregated messages', () => {
    const est = createBandwidthEstimator({ sampleSpanMs: 100, maxAggregated: 3 });
    expect(message(est, 1, { bytes: 6000, first: 1000, t: 0, ackAt: 10, spanMs: 2 }).kind).toBe(
      'no-sample',
    );
    // A burst shortened this span; the next one is stretched by as much: the sum is right.
    expect(message(est, 2, { bytes: 6000, first: 1000, t: 10, ackAt: 20, spanMs: 8 }).kind).toBe(
      'no-sample',
    );
    expect(message(est, 3, { bytes: 6000, first: 1000, t: 20, ackAt: 30, spanMs: 5 })).toEqual({
      kind: 'sample',
      bytesPerSec: 1_000_000,
    });
  });

  it('a probe closes the aggregated sample at once, so one probe is one sample', () => {
    const est = createBandwidthEstimator({ sampleSpanMs: 250 });
    expect(message(est, 1, { bytes: 6000, first: 1000, t: 0, ackAt: 10, spanMs: 5 }).kind).toBe(
      'no-sample',
    );
    onSend(est, {
      msgId: 2,
      bytes: 101_000,
      firstFrameBytes: 1000,
      sentAtMs: 20,
      appLimited: false,
      probe: true,
    });
    // 5 kB + 100 kB over 5 + 100 ms: one sample of 1 MB/s, though the spans sum to 105 ms.
    expect(onAck(est, { msgId: 2, ackAtMs: 130, spanMs: 100 })).toEqual({
      kind: 'sample',
      bytesPerSec: 1_000_000,
    });
  });

  it('cuts frames to a few ms of the link: 1 KiB on slow links, the largest on fast ones', () => {
    const est = createBandwidthEstimator({ initialBytesPerSec: 62_500 });
    expect(chunkBytesFor(est)).toBe(MIN_CHUNK_BYTES);
    est.estimateBytesPerSec = 4 * MBIT;
    expect(chunkBytesFor(est)).toBe(2000);
    est.estimateBytesPerSec = 1000 * MBIT;
    expect(chunkBytesFor(est)).toBe(MAX_CHUNK_BYTES);
  });

  it('allows about two bandwidth-delay products unacked, and at least a quarter second', () => {
    const est = createBandwidthEstimator({ initialBytesPerSec: 1_000_000 });
    expect(inFlightAllowanceBytes(est)).toBe(250_000); // no RTT yet: 100 ms assumed, floor wins
    onRttSample(est, 200);
    expect(inFlightAllowanceBytes(est)).toBe(400_000);
  });

  it('probes an app-limited link with no recent sample, one probe at a time', () => {
    const est = createBandwidthEstimator();
    expect(probeDue(est, 0)).toBe(false); // nothing sent yet
    onSend(est, { msgId: 1, bytes: 500, firstFrameBytes: 500, sentAtMs: 0, appLimited: true });
    expect(probeDue(est, 0)).toBe(true);
    expect(probeBytes(est)).toBe(12_500); // 50 ms of 1 Mbit/s, doubled while starting
    onSend(est, {
      msgId: 2,
      bytes: 12_500,
      firstFrameBytes: 1052,
      sentAtMs: 0,
      appLimited: false,
      probe: true,
    });
    expect(est.counters.probes).toBe(1);
    expect(probeDue(est, 10)).toBe(false); // the probe is in flight
    onAck(est, { msgId: 2, ackAtMs: 30, spanMs: 10 });
    expect(probeDue(est, 30)).toBe(false); // a fresh sample
    expect(probeDue(est, 1030)).toBe(true); // a second later, still app-limited
    onSend(est, {
      msgId: 3,
      bytes: 60_000,
      firstFrameBytes: 1052,
      sentAtMs: 1030,
      appLimited: false,
    });
    expect(probeDue(est, 5000)).toBe(false); // the sender fills the link itself now
  });

  it('inflates one budget in every probeEvery sends by probeGain', () => {
    const est = createBandwidthEstimator({ probeEvery: 4 });
    const gains: number[] = [];
    for (let i = 0; i < 8; i++) {
      gains.push(probeGain(est));
      onSend(est, { msgId: i, bytes: 10, firstFrameBytes: 10, sentAtMs: i, appLimited: false });
    }
    expect(gains).toEqual([1, 1, 1, 1.25, 1, 1, 1, 1.25]);
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

  it('takes a min RTT from the ack of a small message sent alone, not one that queued', () => {
    const est = createBandwidthEstimator();
    message(est, 1, { bytes: 200, first: 200, t: 1000, ackAt: 1030, spanMs: 0 });
    expect(minRttMs(est)).toBe(30);
    onSend(est, {
      msgId: 2,
      bytes: 100_000,
      firstFrameBytes: 1000,
      sentAtMs: 2000,
      appLimited: false,
    });
    message(est, 3, { bytes: 200, first: 200, t: 2000, ackAt: 2005, spanMs: 0 });
    expect(minRttMs(est)).toBe(30);
  });

  it('ignores and counts bad input without throwing or changing the estimate', () => {
    const est = createBandwidthEstimator();
    message(est, 1, { bytes: 11_000, first: 1000, t: 0, ackAt: 20, spanMs: 10 });
    const before = bandwidthBytesPerSec(est);
    const send = (msgId: number, bytes: number, first: number, t: number) =>
      onSend(est, { msgId, bytes, firstFrameBytes: first, sentAtMs: t, appLimited: false });
    expect(onAck(est, { msgId: 999, ackAtMs: 30, spanMs: 1 })).toEqual({
      kind: 'ignored',
      reason: 'unknown-ack',
    });
    expect(onAck(est, { msgId: 1, ackAtMs: 30, spanMs: 1 })).toEqual({
      kind: 'ignored',
      reason: 'duplicate-ack',
    });
    expect(send(1.5, 10, 10, 30)).toBe('bad-input');
    expect(send(50, 0, 1, 30)).toBe('bad-input');
    expect(send(50, Number.NaN, 1, 30)).toBe('bad-input');
    expect(send(50, 10, 11, 30)).toBe('bad-input'); // first frame larger than the message
    expect(send(50, 10, 10, -5)).toBe('bad-input');
    expect(send(50, 10, 10, 10)).toBe('time-backwards');
    expect(send(50, 10, 10, 40)).toBe('tracked');
    expect(send(50, 10, 10, 41)).toBe('duplicate-send');
    expect(onAck(est, { msgId: 50, ackAtMs: Number.NaN, spanMs: 0 }).kind).toBe('ignored');
    expect(onAck(est, { msgId: 50, ackAtMs: 50, spanMs: -1 }).kind).toBe('ignored');
    expect(onAck(est, { msgId: 50, ackAtMs: 39, spanMs: 0 })).toEqual({
      kind: 'ignored',
      reason: 'time-backwards',
    });
    expect(bytesInFlight(est)).toBe(10); // still waiting for a proper ack
    expect(est.counters).toMatchObject({
      unknownAcks: 1,
      duplicateAcks: 1,
      badInput: 7,
      timeBackwards: 2,
      duplicateSends: 1,
    });
    expect(bandwidthBytesPerSec(est)).toBe(before);
  });

  it('forgets the oldest unacked messages beyond maxInFlight, and any past the timeout', () => {
    const est = createBandwidthEstimator({ maxInFlight: 3, inFlightTimeoutMs: 1000 });
    for (let i = 0; i < 5; i++)
      onSend(est, { msgId: i, bytes: 10 + i, firstFrameBytes: 1, sentAtMs: i, appLimited: false });
    expect(est.counters.evicted).toBe(2);
    expect(bytesInFlight(est)).toBe(12 + 13 + 14);
    expect(onAck(est, { msgId: 0, ackAtMs: 10, spanMs: 0 }).kind).toBe('ignored');
    // Acks lost with a link that went away: they never stall the allowance for good.
    onSend(est, { msgId: 9, bytes: 5, firstFrameBytes: 5, sentAtMs: 2000, appLimited: false });
    expect(bytesInFlight(est)).toBe(5);
    expect(est.counters.evicted).toBe(5);
  });

  it('refuses a configuration it cannot work with', () => {
    expect(() => createBandwidthEstimator({ initialBytesPerSec: 0 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ windowSamples: 0 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ probeGain: 0.5 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ maxInFlight: Number.NaN })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ sampleSpanMs: -1 })).toThrow(PolicyError);
    expect(() => createBandwidthEstimator({ frameMs: 0 })).toThrow(PolicyError);
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
        first: fc.integer({ min: -5, max: 70_000 }),
        t: time,
        appLimited: fc.boolean(),
        probe: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('ack' as const),
        msgId: fc.integer({ min: 0, max: 20 }),
        t: time,
        span: time,
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
              firstFrameBytes: e.first,
              sentAtMs: e.t,
              appLimited: e.appLimited,
              probe: e.probe,
            });
          } else if (e.kind === 'ack') onAck(est, { msgId: e.msgId, ackAtMs: e.t, spanMs: e.span });
          else onRttSample(est, e.ms);
          const bw = bandwidthBytesPerSec(est);
          expect(Number.isFinite(bw) && bw > 0).toBe(true);
          let sum = 0;
          for (const m of est.inFlight.values()) sum += m.bytes;
          expect(bytesInFlight(est)).toBe(sum);
          expect(est.inFlight.size).toBeLessThanOrEqual(8);
          expect(Number.isFinite(rttMs(est))).toBe(true);
          expect(est.growth).toBeGreaterThanOrEqual(1);
          expect(est.growth).toBeLessThanOrEqual(64);
          const chunk = chunkBytesFor(est);
          expect(chunk >= MIN_CHUNK_BYTES && chunk <= MAX_CHUNK_BYTES).toBe(true);
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
