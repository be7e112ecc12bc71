/**
 * Per-link bandwidth and RTT estimator (DESIGN.md 3.3): turns the receiver's acks into a
 * delivery rate in bytes per second. Measured, never configured.
 *
 * What it measures, and why: the spacing of one message's frames at the receiver. A message
 * is cut into several frames that the sender hands to the channel back to back, so they queue
 * at the path's bottleneck and leave it, and reach the receiver, spaced by that bottleneck's
 * rate. The receiver times each message from its first frame to its last and sends the span
 * back in the ack; the sample is (bytes after the first frame) / span (packet-train
 * dispersion). Latency is in neither end of the span, so the sample is as right on a WAN with
 * a 200 ms RTT as on loopback; a queue in front of the bottleneck (the kernel's tbf, our own
 * shaper) delays every frame alike and does not shorten or stretch it; and a message that is
 * small because the sender had nothing more to send still shows the link's rate, so an
 * app-limited link is not read as a slow one.
 *
 * An earlier version divided a message's bytes by its ack delay less the min RTT. With one
 * message per step that ties the sample to the message size: the budget (estimate x step time)
 * kept messages small, small messages gave low samples, and the estimate settled at 30% of a
 * 5 Mbit/s link with 40 ms of latency and at 7% of a 4 Mbit/s kernel-shaped link between two
 * busy kiosks (docs/benchmarks.md, the estimator table). BBR's delivery rate would need many
 * messages in flight to do better; the frame spacing needs one.
 *
 * For the spacing to exist, a message must span several frames: `chunkBytesFor` sizes the
 * frames to a few milliseconds of the link at the current estimate (1 KiB at least, 64 KiB at
 * most). A link whose messages all fit one frame (a small model's whole update) gets a probe
 * now and then (`probeDue`, `probeBytes`): filler of a few tens of ms of the link, while the
 * link is otherwise idle. Samples are smoothed by a median; spans shorter than timer
 * resolution give none; `sampleSpanMs` sums consecutive messages into one sample, which keeps
 * a receiver's busy event loop (acks and frames handled in bursts) out of the estimate.
 *
 * The estimate also limits what may be unacknowledged (`inFlightAllowanceBytes`): about two
 * bandwidth-delay products, and at least a quarter second of the link, so that an estimate
 * above the link cannot build an unbounded queue (the tbf queue that read as a 2 s RTT).
 *
 * Use, per data channel (the caller owns the state object and mutates it through these functions):
 *
 *   const est = createBandwidthEstimator();
 *   const budget = sendBudgetBytes(est, stepMs);           // estimate x T x probe gain
 *   const frames = chunkMessage(id, message, chunkBytesFor(est));
 *   onSend(est, { msgId: id, bytes: total, firstFrameBytes: frames[0].length, sentAtMs: now, appLimited });
 *   // ... when the receiver's ack for id arrives:
 *   onAck(est, { msgId: id, ackAtMs: now, spanMs: ack.spanMs });
 *   onRttSample(est, rttMs);                                // app ping or getStats()
 *
 * Times are one monotonic clock in milliseconds, the injected MeshClock of the shell.
 */

import { PolicyError } from './errors';
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from './wire/sizes';

/** Tuning of the estimator; every field has a default (DEFAULT_BANDWIDTH_CONFIG). */
export interface BandwidthEstimatorConfig {
  /**
   * Estimate before the first sample, bytes/s. 125_000 (1 Mbit/s) by default: the first
   * messages are small on any link, and the first sample replaces it.
   */
  readonly initialBytesPerSec: number;
  /** Median span, in accepted samples (odd numbers are best). 5 by default. */
  readonly windowSamples: number;
  /** Factor by which a probing budget is inflated. 1.25 by default (as BBR's ProbeBW). */
  readonly probeGain: number;
  /** One budget in every `probeEvery` is inflated by `probeGain`. 8 by default. */
  readonly probeEvery: number;
  /**
   * A message whose span is shorter than this gives no sample, ms: it is below the timer
   * resolution, or its frames were handed over in one burst by a blocked event loop. 1 ms.
   */
  readonly minSpanMs: number;
  /** Acks of messages at most this large, sent with nothing in flight, are min-RTT samples. */
  readonly smallMessageBytes: number;
  /** Min RTT is the minimum over this many recent RTT samples (a route can change). */
  readonly minRttWindow: number;
  /** Smoothed RTT reported before any RTT sample, ms. */
  readonly initialRttMs: number;
  /** Unacked messages tracked at most; the oldest is forgotten beyond (acks lost with a link). */
  readonly maxInFlight: number;
  /** An unacked message older than this is forgotten (its ack will not come), ms. 60 s. */
  readonly inFlightTimeoutMs: number;
  /**
   * Aggregation span, ms: 0 (the default) makes one sample per acked message; above 0, the
   * bytes and spans of consecutive messages are summed until the spans reach this much (or
   * `maxAggregated` messages are in, or a probe's ack comes), and the sum gives one sample. A busy event loop at the receiver (a tab computing on its main
   * thread) handles frames in bursts, which shortens one message's span and stretches the
   * next one's; their sum is still right.
   */
  readonly sampleSpanMs: number;
  /** Messages summed into one sample at most (see sampleSpanMs). 4 by default. */
  readonly maxAggregated: number;
  /** Target time of one frame at the estimate, ms (see chunkBytesFor). 4 by default. */
  readonly frameMs: number;
  /**
   * Unacked bytes allowed: the estimate times max(2 x min RTT, this), ms. 250 by default: a
   * busy receiver delays acks by tens of ms, and the allowance must not stall a link for that.
   */
  readonly inFlightFloorMs: number;
  /** A probe lasts this long at the estimate times the probe gain, ms. 50 by default. */
  readonly probeSpanMs: number;
  /**
   * Probe an idle, app-limited link when no sample came for this long, ms: `startProbeMs`
   * (1 s) until the median span is full, `steadyProbeMs` (5 s) afterwards, so a steady probe
   * costs about 1% of the link.
   */
  readonly startProbeMs: number;
  readonly steadyProbeMs: number;
}

/** The defaults, each explained on its field above. */
export const DEFAULT_BANDWIDTH_CONFIG: BandwidthEstimatorConfig = {
  initialBytesPerSec: 125_000,
  windowSamples: 5,
  probeGain: 1.25,
  probeEvery: 8,
  minSpanMs: 1,
  smallMessageBytes: 1024,
  minRttWindow: 16,
  initialRttMs: 100,
  maxInFlight: 1024,
  inFlightTimeoutMs: 60_000,
  sampleSpanMs: 0,
  maxAggregated: 4,
  frameMs: 4,
  inFlightFloorMs: 250,
  probeSpanMs: 50,
  startProbeMs: 1000,
  steadyProbeMs: 5000,
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
  /** Acks of one-frame messages: no spacing to measure. */
  singleFrame: number;
  /** Acks whose span was too short to give a sample. */
  tooShort: number;
  /** Probes sent (filler on an idle link). */
  probes: number;
  /** In-flight messages forgotten (over `maxInFlight`, or unacked past the timeout). */
  evicted: number;
  badInput: number;
  timeBackwards: number;
  duplicateSends: number;
  unknownAcks: number;
  duplicateAcks: number;
}

interface InFlightMessage {
  readonly bytes: number;
  /** Wire bytes after the first frame: what the span measures. */
  readonly trailingBytes: number;
  readonly sentAtMs: number;
  /** Whether nothing else was in flight when it was sent (then its ack time is an RTT bound). */
  readonly aloneInFlight: boolean;
  /** A probe: one long train of frames, a sample of its own (see onAck). */
  readonly probe: boolean;
}

/** State of one link's estimator. Owned by the caller; mutated only by this module's functions. */
export interface BandwidthEstimator {
  readonly config: BandwidthEstimatorConfig;
  readonly inFlight: Map<number, InFlightMessage>;
  bytesInFlight: number;
  deliveredBytes: number;
  /** Sends so far; drives the probe-gain cycle. */
  sends: number;
  /** Whether the latest send had less to send than its budget allowed (see SendInfo). */
  lastSendAppLimited: boolean;
  /** The probe in flight, if any (one at a time). */
  probeMsgId: number | undefined;
  /**
   * Factor on budgets and probes while spans are too short to measure: doubled by each such
   * ack (up to 64), back to 1 with the next sample. A link far faster than the estimate
   * carries a step's budget in less than the timer resolution; larger messages show it.
   */
  growth: number;
  /** Latest event time accepted (send or ack): the clock must not go back. */
  lastEventMs: number;
  /** Time of the latest accepted sample, or -Infinity before the first. */
  lastSampleMs: number;
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
  /** The sample being aggregated (sampleSpanMs > 0): trailing bytes, span ms, messages. */
  spanBytes: number;
  spanMs: number;
  spanMessages: number;
  readonly counters: BandwidthCounters;
}

const RECENT_ACKS = 64;
const MAX_GROWTH = 64;

const isTime = (t: number): boolean => Number.isFinite(t) && t >= 0;

/** A fresh estimator; throws PolicyError('bad-config') for a configuration it cannot work with. */
export function createBandwidthEstimator(
  config: Partial<BandwidthEstimatorConfig> = {},
): BandwidthEstimator {
  const cfg: BandwidthEstimatorConfig = { ...DEFAULT_BANDWIDTH_CONFIG, ...config };
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  const nonNegative = (v: number) => Number.isFinite(v) && v >= 0;
  const count = (v: number) => Number.isInteger(v) && v >= 1;
  if (
    !positive(cfg.initialBytesPerSec) ||
    !count(cfg.windowSamples) ||
    !(Number.isFinite(cfg.probeGain) && cfg.probeGain >= 1) ||
    !count(cfg.probeEvery) ||
    !nonNegative(cfg.minSpanMs) ||
    !nonNegative(cfg.smallMessageBytes) ||
    !count(cfg.minRttWindow) ||
    !positive(cfg.initialRttMs) ||
    !count(cfg.maxInFlight) ||
    !positive(cfg.inFlightTimeoutMs) ||
    !nonNegative(cfg.sampleSpanMs) ||
    !count(cfg.maxAggregated) ||
    !positive(cfg.frameMs) ||
    !positive(cfg.inFlightFloorMs) ||
    !positive(cfg.probeSpanMs) ||
    !positive(cfg.startProbeMs) ||
    !positive(cfg.steadyProbeMs)
  ) {
    throw new PolicyError('bad-config', `bandwidth estimator: bad config ${JSON.stringify(cfg)}`);
  }
  return {
    config: cfg,
    inFlight: new Map(),
    bytesInFlight: 0,
    deliveredBytes: 0,
    sends: 0,
    lastSendAppLimited: false,
    probeMsgId: undefined,
    growth: 1,
    lastEventMs: Number.NEGATIVE_INFINITY,
    lastSampleMs: Number.NEGATIVE_INFINITY,
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
    spanMessages: 0,
    counters: {
      samplesAccepted: 0,
      singleFrame: 0,
      tooShort: 0,
      probes: 0,
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
  /** Bytes on the wire, every frame with its header. */
  readonly bytes: number;
  /** Bytes of its first frame, header included (the span starts when it arrives). */
  readonly firstFrameBytes: number;
  readonly sentAtMs: number;
  /**
   * True when the sender sent less than its budget allowed because it had nothing more to
   * send (e.g. the whole update fit densely). It does not change the message's sample (the
   * frames' spacing shows the link either way); it makes the link eligible for a probe.
   */
  readonly appLimited: boolean;
  /** True for a probe (see probeDue); one probe is in flight at a time. */
  readonly probe?: boolean;
}

/** Records a message handed to the data channel. Returns 'tracked' or why it was ignored. */
export function onSend(est: BandwidthEstimator, send: SendInfo): 'tracked' | IgnoreReason {
  const c = est.counters;
  if (
    !Number.isSafeInteger(send.msgId) ||
    !(Number.isFinite(send.bytes) && send.bytes > 0) ||
    !(Number.isFinite(send.firstFrameBytes) && send.firstFrameBytes > 0) ||
    send.firstFrameBytes > send.bytes ||
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
  forgetStale(est, send.sentAtMs);
  est.lastEventMs = send.sentAtMs;
  est.inFlight.set(send.msgId, {
    bytes: send.bytes,
    trailingBytes: send.bytes - send.firstFrameBytes,
    sentAtMs: send.sentAtMs,
    aloneInFlight: est.inFlight.size === 0,
    probe: send.probe === true,
  });
  est.bytesInFlight += send.bytes;
  est.sends++;
  if (send.probe === true) {
    est.probeMsgId = send.msgId;
    est.counters.probes++;
  } else est.lastSendAppLimited = send.appLimited;
  if (est.inFlight.size > est.config.maxInFlight) {
    // Map iteration is insertion order: the first key is the oldest send.
    forget(est, est.inFlight.keys().next().value as number);
  }
  return 'tracked';
}

function forget(est: BandwidthEstimator, msgId: number): void {
  const msg = est.inFlight.get(msgId);
  if (msg === undefined) return;
  if (est.probeMsgId === msgId) est.probeMsgId = undefined;
  est.inFlight.delete(msgId);
  est.bytesInFlight -= msg.bytes;
  est.counters.evicted++;
}

/** Forgets unacked messages older than the timeout (oldest first: Map insertion order). */
function forgetStale(est: BandwidthEstimator, nowMs: number): void {
  for (const [id, msg] of est.inFlight) {
    if (nowMs - msg.sentAtMs <= est.config.inFlightTimeoutMs) return;
    forget(est, id);
  }
}

/** The receiver's ack of a reassembled message (input of onAck). */
export interface AckInfo {
  readonly msgId: number;
  readonly ackAtMs: number;
  /** The receiver's time from the message's first frame to its last, ms (from the ack). */
  readonly spanMs: number;
}

/** What an ack produced: a rate sample, none, or nothing because the ack was ignored. */
export type AckOutcome =
  | { readonly kind: 'sample'; readonly bytesPerSec: number }
  | { readonly kind: 'no-sample' }
  | { readonly kind: 'ignored'; readonly reason: IgnoreReason };

/**
 * Records the receiver's ack of a reassembled message and, when it yields one, a delivery-rate
 * sample: the bytes after the message's first frame over the receiver's span from its first
 * frame to its last (summed over `sampleSpanMs` of spans when that is set). See the header.
 */
export function onAck(est: BandwidthEstimator, ack: AckInfo): AckOutcome {
  const c = est.counters;
  if (!Number.isSafeInteger(ack.msgId) || !isTime(ack.ackAtMs) || !isTime(ack.spanMs)) {
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
  if (est.probeMsgId === ack.msgId) est.probeMsgId = undefined;
  est.bytesInFlight -= msg.bytes;
  est.deliveredBytes += msg.bytes;
  est.recentAcks.push(ack.msgId);
  if (est.recentAcks.length > RECENT_ACKS) est.recentAcks.shift();
  est.lastEventMs = ack.ackAtMs;

  if (msg.aloneInFlight && msg.bytes <= est.config.smallMessageBytes) {
    pushMinRtt(est, ack.ackAtMs - msg.sentAtMs);
  }
  if (msg.trailingBytes <= 0) {
    c.singleFrame++;
    return { kind: 'no-sample' };
  }
  if (!(ack.spanMs >= est.config.minSpanMs) || ack.spanMs <= 0) {
    c.tooShort++;
    est.growth = Math.min(MAX_GROWTH, est.growth * 2);
    return { kind: 'no-sample' };
  }
  est.spanBytes += msg.trailingBytes;
  est.spanMs += ack.spanMs;
  est.spanMessages++;
  // A probe closes the sample at once: it is a long train sent back to back, and waiting for
  // more spans would take more probes, each a cost on a link the app does not fill.
  const full =
    est.spanMs >= est.config.sampleSpanMs || est.spanMessages >= est.config.maxAggregated;
  if (!full && !msg.probe) return { kind: 'no-sample' };
  const rate = (est.spanBytes * 1000) / est.spanMs;
  est.spanBytes = 0;
  est.spanMs = 0;
  est.spanMessages = 0;
  pushSample(est, rate, ack.ackAtMs);
  return { kind: 'sample', bytesPerSec: rate };
}

/**
 * Smoothing: the estimate is the median of the last `windowSamples` accepted samples.
 * Why a median: delivery samples have outliers both ways (a receiver busy at the first frame
 * of a message shortens its span, one busy at the last stretches it; a token-bucket shaper
 * lets a burst through after idle). A median ignores up to floor(N/2) outliers and follows a
 * step change down or up within ceil(N/2) samples of the new rate (3 for N = 5). BBR's
 * windowed max keeps the largest outlier for the whole span; an EWMA is pulled by every
 * outlier. Each sample already measures the link, whatever the message size, so there is no
 * start-up phase: the first sample replaces the initial value.
 */
function pushSample(est: BandwidthEstimator, rate: number, atMs: number): void {
  const n = est.samples.length;
  est.samples[est.sampleHead] = rate;
  est.sampleHead = (est.sampleHead + 1) % n;
  if (est.sampleCount < n) est.sampleCount++;
  est.counters.samplesAccepted++;
  est.lastSampleMs = atMs;
  est.growth = 1;
  est.estimateBytesPerSec = median(est.samples, est.sampleCount);
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
 * Factor by which to inflate the next budget: `probeGain` for one send in every `probeEvery`,
 * else 1. It counts sends, not time, so a step the sender skips does not use up the probe.
 * A message that only fills the estimate shows no more than the estimate on transports whose
 * sender paces itself (a cwnd restarted after idle); the inflated one can.
 */
export function probeGain(est: BandwidthEstimator): number {
  return est.sends % est.config.probeEvery === est.config.probeEvery - 1 ? est.config.probeGain : 1;
}

/**
 * Byte budget for the next message on this link: estimate x stepMs x probe gain (floored),
 * times the growth factor while spans are too short to measure.
 */
export const sendBudgetBytes = (est: BandwidthEstimator, stepMs: number): number =>
  Number.isFinite(stepMs) && stepMs > 0
    ? Math.floor((est.estimateBytesPerSec * stepMs * probeGain(est) * est.growth) / 1000)
    : 0;

/**
 * The chunk size for the next message: `frameMs` of the link at the estimate, so that a
 * message of a step's budget spans several frames (1 KiB to the largest that fits 64 KiB).
 */
export function chunkBytesFor(est: BandwidthEstimator): number {
  const bytes = Math.floor((est.estimateBytesPerSec * est.config.frameMs) / 1000);
  return Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, bytes));
}

/**
 * Unacknowledged bytes the link may hold before it counts as busy: the estimate over
 * max(2 x min RTT, inFlightFloorMs). Two bandwidth-delay products keep a long path full while
 * the acks travel back; the floor keeps a receiver that acks late from stalling the link.
 */
export function inFlightAllowanceBytes(est: BandwidthEstimator): number {
  const rtt = minRttMs(est) ?? est.config.initialRttMs;
  return (est.estimateBytesPerSec * Math.max(2 * rtt, est.config.inFlightFloorMs)) / 1000;
}

/**
 * Whether the link should carry a probe now: no probe is in flight, the latest send was
 * app-limited (the sender has nothing to fill the link with), and no sample came for
 * `startProbeMs` (until the median span is full) or `steadyProbeMs`.
 */
export function probeDue(est: BandwidthEstimator, nowMs: number): boolean {
  if (!est.lastSendAppLimited || est.probeMsgId !== undefined || !isTime(nowMs)) return false;
  const wait =
    est.sampleCount < est.samples.length ? est.config.startProbeMs : est.config.steadyProbeMs;
  return nowMs - est.lastSampleMs >= wait;
}

/**
 * Size of the next probe, bytes: `probeSpanMs` of the link at the estimate, times 2 until the
 * median span is full (a link faster than the estimate shows it sooner) and `probeGain`
 * afterwards, times the growth factor; at least four of the frames `chunkBytesFor` would cut.
 */
export function probeBytes(est: BandwidthEstimator): number {
  const gain = (est.sampleCount < est.samples.length ? 2 : est.config.probeGain) * est.growth;
  const bytes = (est.estimateBytesPerSec * gain * est.config.probeSpanMs) / 1000;
  return Math.ceil(Math.max(4 * chunkBytesFor(est), bytes));
}
