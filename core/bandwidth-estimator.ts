/**
 * Per-link bandwidth and RTT estimator (DESIGN.md 3.3): turns message sends and the receiver's
 * per-message acks into a delivery rate in bytes per second. Measured, never configured.
 *
 * Use, per data channel (the caller owns the state object and mutates it through these functions):
 *
 *   const est = createBandwidthEstimator();
 *   const bytes = sendBudgetBytes(est, stepMs);            // estimate x T x probe gain
 *   onSend(est, { msgId, bytes: wireBytes(len), sentAtMs: now, appLimited });
 *   // ... when the receiver's ack for msgId arrives:
 *   onAck(est, { msgId, ackAtMs: now });
 *   onRttSample(est, rttMs);                                // app ping or getStats()
 *
 * Times are one monotonic clock in milliseconds (performance.now() in the shell).
 */

import { PolicyError } from './errors';

/** Tuning of the estimator; every field has a default (DEFAULT_BANDWIDTH_CONFIG). */
export interface BandwidthEstimatorConfig {
  /**
   * Estimate before the first sample, bytes/s. 125_000 (1 Mbit/s) by default: low enough that
   * the first message is small on any link, and the first ack replaces it.
   */
  readonly initialBytesPerSec: number;
  /** Median span, in accepted samples (odd numbers are best). 5 by default. */
  readonly windowSamples: number;
  /**
   * Budget gain while starting up (see `probeGain`): 2 by default, so the message size, and
   * with it what a sample can show, doubles per send until the estimate stops growing.
   */
  readonly startupGain: number;
  /**
   * Startup ends after this many accepted samples in a row without 25% growth, and starts
   * again after this many in a row 25% above the estimate. 3 by default.
   */
  readonly startupRounds: number;
  /** Factor by which a probe message is inflated. 1.25 by default (as BBR's ProbeBW). */
  readonly probeGain: number;
  /** One send in every `probeEvery` is a probe. 8 by default. */
  readonly probeEvery: number;
  /** Busy intervals shorter than this give no rate sample: they are below timer resolution. */
  readonly minIntervalMs: number;
  /** Acks of messages at most this large, sent with nothing in flight, are min-RTT samples. */
  readonly smallMessageBytes: number;
  /** Min RTT is the minimum over this many recent RTT samples (a route can change). */
  readonly minRttWindow: number;
  /** Smoothed RTT reported before any RTT sample, ms. */
  readonly initialRttMs: number;
  /** Unacked messages tracked at most; the oldest is forgotten beyond (acks lost with a link). */
  readonly maxInFlight: number;
  /**
   * Aggregation span, ms: 0 (the default) makes one sample per acked message; above 0, the
   * bytes and busy intervals of consecutive acks are summed until the intervals reach this
   * span, and the sum gives one sample. A busy event loop at either end (a peer computing a
   * step on its main thread) delays acks and releases them together; each single interval is
   * then wrong both ways, but their sum is still the time the link was busy, so the summed
   * sample stays right where per-message samples would scatter (ack compression).
   */
  readonly sampleSpanMs: number;
}

/** The defaults, each explained on its field above. */
export const DEFAULT_BANDWIDTH_CONFIG: BandwidthEstimatorConfig = {
  initialBytesPerSec: 125_000,
  windowSamples: 5,
  startupGain: 2,
  startupRounds: 3,
  probeGain: 1.25,
  probeEvery: 8,
  minIntervalMs: 2,
  smallMessageBytes: 1024,
  minRttWindow: 16,
  initialRttMs: 100,
  maxInFlight: 1024,
  sampleSpanMs: 0,
};

/** Why an input was ignored. Each reason has a counter in `BandwidthCounters`. */
export type IgnoreReason =
  | 'bad-input'
  | 'time-backwards'
  | 'duplicate-send'
  | 'unknown-ack'
  | 'duplicate-ack';

/** What the estimator ignored or discarded, for the link's metrics. */
export interface BandwidthCounters {
  /** Rate samples that entered the median span. */
  samplesAccepted: number;
  /** App-limited samples below the estimate, discarded: they measured the app, not the link. */
  appLimitedDiscarded: number;
  /** Acks whose busy interval was too short to give a sample. */
  tooShort: number;
  /** In-flight messages forgotten because `maxInFlight` was exceeded. */
  evicted: number;
  badInput: number;
  timeBackwards: number;
  duplicateSends: number;
  unknownAcks: number;
  duplicateAcks: number;
}

interface InFlightMessage {
  readonly bytes: number;
  readonly sentAtMs: number;
  readonly appLimited: boolean;
  /** Whether nothing else was in flight when it was sent (then its ack time is an RTT bound). */
  readonly aloneInFlight: boolean;
}

/** State of one link's estimator. Owned by the caller; mutated only by this module's functions. */
export interface BandwidthEstimator {
  readonly config: BandwidthEstimatorConfig;
  readonly inFlight: Map<number, InFlightMessage>;
  bytesInFlight: number;
  deliveredBytes: number;
  /** Accepted sends so far; drives the probe cycle. */
  sends: number;
  /** Whether the estimator is still in its startup phase (fast growth from the initial value). */
  startup: boolean;
  /** Startup: the estimate at the last 25% growth, and accepted samples since then. */
  startupBaseBytesPerSec: number;
  startupStalls: number;
  /** After startup: accepted samples in a row at least 25% above the estimate. */
  highStreak: number;
  /** Latest event time accepted (send or ack): the clock must not go back. */
  lastEventMs: number;
  /** Time of the latest ack, or -Infinity before the first. */
  lastAckMs: number;
  estimateBytesPerSec: number;
  /** Ring of accepted rate samples (bytes/s), newest at `(sampleHead - 1) mod length`. */
  readonly samples: Float64Array;
  sampleCount: number;
  sampleHead: number;
  srttMs: number | undefined;
  rttVarMs: number;
  readonly minRttSamples: Float64Array;
  minRttCount: number;
  minRttHead: number;
  /** Recently acked ids, to tell a duplicate ack from an unknown one (counting only). */
  readonly recentAcks: number[];
  /** The sample being aggregated (sampleSpanMs > 0): bytes, busy ms, any app-limited message. */
  spanBytes: number;
  spanMs: number;
  spanAppLimited: boolean;
  readonly counters: BandwidthCounters;
}

const RECENT_ACKS = 64;

const isTime = (t: number): boolean => Number.isFinite(t) && t >= 0;

/** A fresh estimator; throws PolicyError('bad-config') for a configuration it cannot work with. */
export function createBandwidthEstimator(
  config: Partial<BandwidthEstimatorConfig> = {},
): BandwidthEstimator {
  const cfg: BandwidthEstimatorConfig = { ...DEFAULT_BANDWIDTH_CONFIG, ...config };
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  const count = (v: number) => Number.isInteger(v) && v >= 1;
  if (
    !positive(cfg.initialBytesPerSec) ||
    !count(cfg.windowSamples) ||
    !(Number.isFinite(cfg.startupGain) && cfg.startupGain >= 1) ||
    !count(cfg.startupRounds) ||
    !(Number.isFinite(cfg.probeGain) && cfg.probeGain >= 1) ||
    !count(cfg.probeEvery) ||
    !(Number.isFinite(cfg.minIntervalMs) && cfg.minIntervalMs >= 0) ||
    !(Number.isFinite(cfg.smallMessageBytes) && cfg.smallMessageBytes >= 0) ||
    !count(cfg.minRttWindow) ||
    !positive(cfg.initialRttMs) ||
    !count(cfg.maxInFlight) ||
    !(Number.isFinite(cfg.sampleSpanMs) && cfg.sampleSpanMs >= 0)
  ) {
    throw new PolicyError('bad-config', `bandwidth estimator: bad config ${JSON.stringify(cfg)}`);
  }
  return {
    config: cfg,
    inFlight: new Map(),
    bytesInFlight: 0,
    deliveredBytes: 0,
    sends: 0,
    startup: true,
    startupBaseBytesPerSec: 0,
    startupStalls: 0,
    highStreak: 0,
    lastEventMs: Number.NEGATIVE_INFINITY,
    lastAckMs: Number.NEGATIVE_INFINITY,
    estimateBytesPerSec: cfg.initialBytesPerSec,
    samples: new Float64Array(cfg.windowSamples),
    sampleCount: 0,
    sampleHead: 0,
    srttMs: undefined,
    rttVarMs: 0,
    minRttSamples: new Float64Array(cfg.minRttWindow),
    minRttCount: 0,
    minRttHead: 0,
    recentAcks: [],
    spanBytes: 0,
    spanMs: 0,
    spanAppLimited: false,
    counters: {
      samplesAccepted: 0,
      appLimitedDiscarded: 0,
      tooShort: 0,
      evicted: 0,
      badInput: 0,
      timeBackwards: 0,
      duplicateSends: 0,
      unknownAcks: 0,
      duplicateAcks: 0,
    },
  };
}

/** A message handed to the data channel (input of onSend). */
export interface SendInfo {
  readonly msgId: number;
  /** Bytes on the wire (frame headers included: see wireBytes in wire/sizes). */
  readonly bytes: number;
  readonly sentAtMs: number;
  /**
   * True when the sender sent less than its budget allowed because it had nothing more to send
   * (e.g. the whole update fit densely). Do NOT set it merely because the link was idle before
   * the send: the busy-interval definition in onAck already discounts idle time, and marking
   * every post-idle send app-limited would stop the estimate from ever going down for a sender
   * that waits for its previous message to drain.
   */
  readonly appLimited: boolean;
}

/** Records a message handed to the data channel. Returns 'tracked' or why it was ignored. */
export function onSend(est: BandwidthEstimator, send: SendInfo): 'tracked' | IgnoreReason {
  const c = est.counters;
  if (
    !Number.isSafeInteger(send.msgId) ||
    !(Number.isFinite(send.bytes) && send.bytes > 0) ||
    !isTime(send.sentAtMs)
  ) {
    c.badInput++;
    return 'bad-input';
  }
  if (send.sentAtMs < est.lastEventMs) {
    c.timeBackwards++;
    return 'time-backwards';
  }
  if (est.inFlight.has(send.msgId)) {
    c.duplicateSends++;
    return 'duplicate-send';
  }
  est.lastEventMs = send.sentAtMs;
  est.inFlight.set(send.msgId, {
    bytes: send.bytes,
    sentAtMs: send.sentAtMs,
    appLimited: send.appLimited,
    aloneInFlight: est.inFlight.size === 0,
  });
  est.bytesInFlight += send.bytes;
  est.sends++;
  if (est.inFlight.size > est.config.maxInFlight) {
    // Map iteration is insertion order: the first key is the oldest send.
    const [oldestId, oldest] = est.inFlight.entries().next().value as [number, InFlightMessage];
    est.inFlight.delete(oldestId);
    est.bytesInFlight -= oldest.bytes;
    c.evicted++;
  }
  return 'tracked';
}

/** The receiver's ack of a reassembled message (input of onAck). */
export interface AckInfo {
  readonly msgId: number;
  readonly ackAtMs: number;
}

/** What an ack produced: a rate sample (accepted into the median span or not), none, or nothing. */
export type AckOutcome =
  | { readonly kind: 'sample'; readonly bytesPerSec: number; readonly accepted: boolean }
  | { readonly kind: 'no-sample' }
  | { readonly kind: 'ignored'; readonly reason: IgnoreReason };

/**
 * Records the receiver's ack of a reassembled message and, when it yields one, a delivery-rate
 * sample: `bytes / (ackAt - busyStart)` with
 *
 *   busyStart = max(previous ack time, sentAt + min(minRtt, (ackAt - sentAt) / 2)).
 *
 * Why: on a FIFO path the ack of a message arrives one RTT after its last byte left the
 * bottleneck, and the bottleneck started on it either when the previous message finished (whose
 * ack arrived one RTT later: the previous ack time) or, if it was idle, when this message
 * arrived (sentAt, plus the RTT on the ack's side). Both ends are thus shifted by one RTT, and
 * the difference is the time the link spent on this message alone. Back-to-back messages give
 * the link rate; an idle gap before a message is not counted; a message sent alone is not
 * penalised for the propagation delay. Without a min-RTT yet the correction is 0 (a low, safe
 * sample). The correction is capped at half the message's ack time so that an overestimated
 * min-RTT cannot turn a tiny message into an absurdly high sample.
 * Subtracting the MIN RTT (not the smoothed one, which queueing behind our own data inflates)
 * leaves the RTT jitter in the interval of a message sent alone: such samples read low by about
 * mean jitter / transfer time (about 5% for 10 ms of jitter on 200 ms messages), the safe side.
 */
export function onAck(est: BandwidthEstimator, ack: AckInfo): AckOutcome {
  const c = est.counters;
  if (!Number.isSafeInteger(ack.msgId) || !isTime(ack.ackAtMs)) {
    c.badInput++;
    return { kind: 'ignored', reason: 'bad-input' };
  }
  const msg = est.inFlight.get(ack.msgId);
  if (msg === undefined) {
    if (est.recentAcks.includes(ack.msgId)) {
      c.duplicateAcks++;
      return { kind: 'ignored', reason: 'duplicate-ack' };
    }
    c.unknownAcks++;
    return { kind: 'ignored', reason: 'unknown-ack' };
  }
  if (ack.ackAtMs < est.lastEventMs) {
    // Leave the message in flight: a correct ack may still come.
    c.timeBackwards++;
    return { kind: 'ignored', reason: 'time-backwards' };
  }
  est.inFlight.delete(ack.msgId);
  est.bytesInFlight -= msg.bytes;
  est.deliveredBytes += msg.bytes;
  est.recentAcks.push(ack.msgId);
  if (est.recentAcks.length > RECENT_ACKS) est.recentAcks.shift();
  const prevAckMs = est.lastAckMs;
  est.lastAckMs = ack.ackAtMs;
  est.lastEventMs = ack.ackAtMs;

  const ackDelay = ack.ackAtMs - msg.sentAtMs;
  if (msg.aloneInFlight && msg.bytes <= est.config.smallMessageBytes) pushMinRtt(est, ackDelay);

  const correction = Math.min(minRttMs(est) ?? 0, ackDelay / 2);
  const busyStart = Math.max(prevAckMs, msg.sentAtMs + correction);
  let interval = ack.ackAtMs - busyStart;
  let bytes = msg.bytes;
  let appLimited = msg.appLimited;
  if (est.config.sampleSpanMs > 0) {
    est.spanBytes += msg.bytes;
    est.spanMs += Math.max(0, interval);
    est.spanAppLimited ||= msg.appLimited;
    if (est.spanMs < est.config.sampleSpanMs) return { kind: 'no-sample' };
    bytes = est.spanBytes;
    interval = est.spanMs;
    appLimited = est.spanAppLimited;
    est.spanBytes = 0;
    est.spanMs = 0;
    est.spanAppLimited = false;
  }
  if (!(interval >= est.config.minIntervalMs) || interval <= 0) {
    c.tooShort++;
    return { kind: 'no-sample' };
  }
  const rate = (bytes * 1000) / interval;
  if (appLimited && rate < est.estimateBytesPerSec) {
    c.appLimitedDiscarded++;
    return { kind: 'sample', bytesPerSec: rate, accepted: false };
  }
  pushSample(est, rate);
  return { kind: 'sample', bytesPerSec: rate, accepted: true };
}

/**
 * Smoothing: the estimate is the median of the last `windowSamples` accepted samples.
 * Why a median: delivery samples have outliers both ways (a receiver GC pause or a busy main
 * thread delays one ack, which makes that sample low and the next one high: ack compression; a
 * token-bucket shaper lets a burst through after idle). A median ignores up to
 * floor(N/2) outliers and still follows a step change down or up within ceil(N/2) samples of
 * the new rate (3 for N = 5). BBR's windowed max keeps the largest outlier for the whole span
 * and needs N samples to follow a drop; an EWMA is pulled by every outlier and reaches a 5x
 * drop within 15% only after ~9 samples (alpha 0.3).
 *
 * Startup is the exception (as BBR's STARTUP): from the small initial value, messages double
 * per send and so do the samples, which are then limited by the message size rather than the
 * link; the median would lag two samples behind that growth, so the estimate is the newest
 * sample (never below the median) until `startupRounds` samples in a row grow it by less than
 * 25%. Not the span's max: that would hold on to one high outlier for the whole span.
 * Startup starts again when `startupRounds` samples in a row are 25% above the estimate: the
 * link got faster, and messages sized for the old rate are too short (against RTT jitter) to
 * show how much faster.
 */
function pushSample(est: BandwidthEstimator, rate: number): void {
  const n = est.samples.length;
  est.samples[est.sampleHead] = rate;
  est.sampleHead = (est.sampleHead + 1) % n;
  if (est.sampleCount < n) est.sampleCount++;
  est.counters.samplesAccepted++;
  if (est.startup) {
    const next = Math.max(rate, median(est.samples, est.sampleCount));
    est.estimateBytesPerSec = next;
    if (next >= 1.25 * est.startupBaseBytesPerSec) {
      est.startupBaseBytesPerSec = next;
      est.startupStalls = 0;
    } else if (++est.startupStalls >= est.config.startupRounds) {
      est.startup = false;
    }
  }
  if (!est.startup) {
    est.highStreak = rate >= 1.25 * est.estimateBytesPerSec ? est.highStreak + 1 : 0;
    est.estimateBytesPerSec = median(est.samples, est.sampleCount);
    if (est.highStreak >= est.config.startupRounds) {
      est.startup = true;
      est.startupBaseBytesPerSec = est.estimateBytesPerSec;
      est.startupStalls = 0;
      est.highStreak = 0;
    }
  }
}

/** Median of the first `count` values (count <= span size, which is small). */
function median(values: Float64Array, count: number): number {
  const sorted = values.slice(0, count).sort();
  const mid = count >> 1;
  return count % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pushMinRtt(est: BandwidthEstimator, ms: number): void {
  const n = est.minRttSamples.length;
  est.minRttSamples[est.minRttHead] = ms;
  est.minRttHead = (est.minRttHead + 1) % n;
  if (est.minRttCount < n) est.minRttCount++;
}

/**
 * Records an RTT measurement (app-level ping or getStats currentRoundTripTime x 1000).
 * Smoothed RTT and variance as in RFC 6298 (alpha 1/8, beta 1/4); it also feeds the min-RTT
 * span. Returns false (and counts it) for a negative or non-finite value.
 */
export function onRttSample(est: BandwidthEstimator, ms: number): boolean {
  if (!isTime(ms)) {
    est.counters.badInput++;
    return false;
  }
  if (est.srttMs === undefined) {
    est.srttMs = ms;
    est.rttVarMs = ms / 2;
  } else {
    // RFC 6298 2.3: the variance uses the old srtt, so it is updated first.
    est.rttVarMs = 0.75 * est.rttVarMs + 0.25 * Math.abs(est.srttMs - ms);
    est.srttMs = 0.875 * est.srttMs + 0.125 * ms;
  }
  pushMinRtt(est, ms);
  return true;
}

/** The bandwidth estimate in BYTES per second (the unit of every budget). */
export const bandwidthBytesPerSec = (est: BandwidthEstimator): number => est.estimateBytesPerSec;

/** The bandwidth estimate in bits per second, for display. */
export const bandwidthBitsPerSec = (est: BandwidthEstimator): number => est.estimateBytesPerSec * 8;

/** Bits per second from bytes per second, for display. */
export const bytesToBitsPerSec = (bytesPerSec: number): number => bytesPerSec * 8;

/** Smoothed RTT in ms; `initialRttMs` (100 by default) before any RTT sample. */
export const rttMs = (est: BandwidthEstimator): number => est.srttMs ?? est.config.initialRttMs;

/** RTT variance (RFC 6298 RTTVAR) in ms; 0 before any RTT sample. */
export const rttVarMs = (est: BandwidthEstimator): number => est.rttVarMs;

/** Minimum RTT over the recent span, or undefined before any RTT measurement. */
export function minRttMs(est: BandwidthEstimator): number | undefined {
  if (est.minRttCount === 0) return undefined;
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < est.minRttCount; i++) min = Math.min(min, est.minRttSamples[i]!);
  return min;
}

/** Bytes handed to the channel and not yet acknowledged. */
export const bytesInFlight = (est: BandwidthEstimator): number => est.bytesInFlight;

/**
 * Factor by which to inflate the next message's byte budget: `startupGain` on every send
 * during startup; afterwards `probeGain` for one send in every `probeEvery`, else 1. It counts
 * sends, not time, so a step the sender skips (link not drained) does not use up the probe.
 * The probe lets the estimator see a link that got faster on transports where a message that
 * only fills the current estimate would not show it (e.g. a TCP cwnd restarted
 * after idle).
 */
export function probeGain(est: BandwidthEstimator): number {
  if (est.startup) return est.config.startupGain;
  return est.sends % est.config.probeEvery === est.config.probeEvery - 1 ? est.config.probeGain : 1;
}

/** Byte budget for the next message on this link: estimate x stepMs x probe gain (floored). */
export const sendBudgetBytes = (est: BandwidthEstimator, stepMs: number): number =>
  Number.isFinite(stepMs) && stepMs > 0
    ? Math.floor((est.estimateBytesPerSec * stepMs * probeGain(est)) / 1000)
    : 0;
