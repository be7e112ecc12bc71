/**
 * One link to one remote peer, above the raw data channel: messages cut into frames and
 * reassembled, an ack for every message (with the time its frames took to arrive), the
 * per-link bandwidth estimator fed by those acks, probes on an idle link, RTT pings, the
 * emulation shaper, and backpressure on the channel's bufferedAmount and on unacked bytes.
 * Bad frames and messages are refused, counted and acknowledged as refused; nothing here
 * throws out of a channel handler.
 */

import {
  type BandwidthEstimator,
  type ControlMessage,
  chunkBytesFor,
  chunkMessage,
  createBandwidthEstimator,
  createReassembler,
  decodeFrame,
  decodeMessage,
  encodeAck,
  encodeControl,
  encodeMessage,
  encodeProbe,
  expirePending,
  inFlightAllowanceBytes,
  onAck,
  onRttSample,
  onSend,
  type ParamsMessage,
  type PeerId,
  parseControlMessage,
  probeBytes,
  probeDue,
  pushChunk,
  type Reassembler,
  type UpdateMessage,
} from '../core';
import type { RefusalKind } from './events';
import { createPacer, type Pacer, releaseTime } from './shaper';
import type { MeshClock, MeshLogger, RtcLink, RtcLinkHandlers } from './types';

/** Frames wait in our queue while the channel holds more than this (backpressure). */
export const HIGH_WATER_BYTES = 1 << 20;
/** How often a blocked queue looks at bufferedAmount again, ms. */
const POLL_MS = 4;
const PING_EVERY_MS = 2000;
/** A partial message older than this is dropped (its sender gave up or the link stalled). */
const REASSEMBLY_TIMEOUT_MS = 60_000;
/** The largest message a link accepts unless told its model's: a 16M-parameter vector. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 64;

/** What the link hands up to the peer. */
export type LinkMessage =
  | { readonly kind: 'update'; readonly message: UpdateMessage; readonly bytes: number }
  | { readonly kind: 'params'; readonly message: ParamsMessage; readonly bytes: number }
  | { readonly kind: 'control'; readonly message: ControlMessage };

export interface LinkSessionOptions {
  readonly remote: PeerId;
  readonly clock: MeshClock;
  readonly log: MeshLogger;
  /**
   * The longest message accepted, refused at its first chunk (a peer passes core's
   * maxMessageBytes(P) for its model: the largest update or parameter vector it can need).
   * It bounds what a sender can make this link hold: two such messages of partial chunks.
   */
  readonly maxMessageBytes?: number;
  /** Opens the raw channel with these handlers (an RtcConnector bound to its options). */
  readonly connect: (handlers: RtcLinkHandlers) => RtcLink;
  /** Relays the channel's SDP/ICE to the remote peer through signaling. */
  readonly onSignal: RtcLinkHandlers['onSignal'];
  /** The shaping that applies to this link now (DESIGN.md 5); read for every message. */
  readonly shaping: () => { readonly capBps: number | undefined; readonly latencyMs: number };
  readonly onOpen: () => void;
  readonly onMessage: (message: LinkMessage) => void;
  readonly onRefused: (kind: RefusalKind, message: string) => void;
  readonly onClose: (reason: string) => void;
  /**
   * Any valid frame arrived (pings included, which never wait behind our queue): the remote
   * process is alive, however slowly it trains. Liveness must not depend on a busy queue.
   */
  readonly onActivity?: () => void;
  /** A whole message has left our queue (the send backlog shrank). */
  readonly onDequeued?: () => void;
}

interface QueuedFrame {
  readonly bytes: Uint8Array;
  /** When the emulated wire has carried it; then it waits the emulated latency on its way. */
  releaseAtMs: number;
  /** The last frame of its message: the message has left our queue once this one has. */
  readonly endsMessage: boolean;
}

/**
 * How far behind its schedule the emulated wire may catch up, ms. A timer that fires late
 * (a busy thread; browsers clamp nested timers to 4 ms) lets the frames that were due go out
 * together: up to this much lateness is made good, so the wire still carries its rate; beyond
 * it the schedule moves on, as a real link never carries more than its rate to make up for a
 * late sender. A catch-up burst shortens a message's span at the receiver by at most this.
 */
const CATCH_UP_MS = 20;

export interface LinkSession {
  readonly remote: PeerId;
  readonly estimator: BandwidthEstimator;
  isOpen(): boolean;
  /** Feeds relayed SDP/ICE to the channel. */
  signal: RtcLink['signal'];
  /**
   * Queues one encoded message; returns its id, or undefined when the link is closed.
   * `appLimited`: the sender had less to send than the budget allowed (see SendInfo).
   */
  send(message: Uint8Array, appLimited: boolean): number | undefined;
  sendControl(message: ControlMessage): number | undefined;
  /**
   * Sends a small control message past our queue (after the emulated latency only): step
   * progress must not wait behind a large transfer, or every peer's gate would stall on it.
   */
  sendControlNow(message: ControlMessage): void;
  /**
   * True when the previous message has left our queue, the channel's buffer is low, and no
   * more than the estimator's allowance (about two bandwidth-delay products) is unacked.
   */
  drained(): boolean;
  /** Messages (updates, parameters) whose frames have not all left our queue yet. */
  queuedMessages(): number;
  /** Wire bytes handed to the channel so far. */
  bytesSent(): number;
  /** Smoothed RTT from pings, ms; undefined before the first pong. */
  rttMs(): number | undefined;
  /** The emulated cap on this link now, bits per second; undefined when none is set. */
  capBps(): number | undefined;
  /** Closes the channel (without notifying onClose twice). Safe to call twice. */
  close(reason: string): void;
}

export function createLinkSession(o: LinkSessionOptions): LinkSession {
  const { clock, remote } = o;
  // A receiver computing on its thread handles frames in bursts: summing 250 ms of spans per
  // sample (or four messages) keeps that jitter out of the estimate.
  const estimator = createBandwidthEstimator({ sampleSpanMs: 250 });
  const reassembler: Reassembler = createReassembler({
    maxMessageBytes: o.maxMessageBytes ?? MAX_MESSAGE_BYTES,
  });
  const pacer: Pacer = createPacer();
  const queue: QueuedFrame[] = [];
  let queuedMessages = 0;
  let open = false;
  let closed = false;
  let nextMsgId = 1;
  let sent = 0;
  /** When the last frame held back by the emulated latency reaches the channel. */
  let latencyTailMs = Number.NEGATIVE_INFINITY;
  let srtt: number | undefined;
  let pingId = 0;
  let cancelPump: (() => void) | undefined;
  let cancelPing: (() => void) | undefined;

  const finish = (reason: string, notify: boolean) => {
    if (closed) return;
    closed = true;
    open = false;
    queue.length = 0;
    queuedMessages = 0;
    cancelPump?.();
    cancelPing?.();
    if (notify) o.onClose(reason);
  };

  const pump = () => {
    cancelPump = undefined;
    if (closed) return;
    while (queue.length > 0) {
      if (rtc.bufferedAmount() > HIGH_WATER_BYTES) {
        cancelPump = clock.setTimer(POLL_MS, pump);
        return;
      }
      const head = queue[0]!;
      const now = clock.now();
      if (head.releaseAtMs > now) {
        cancelPump = clock.setTimer(head.releaseAtMs - now, pump);
        return;
      }
      const behind = now - head.releaseAtMs - CATCH_UP_MS;
      if (behind > 0) {
        for (const f of queue) f.releaseAtMs += behind;
        pacer.nextFreeMs += behind;
      }
      queue.shift();
      const { latencyMs } = o.shaping();
      // The emulated wire is free again; the frame is still on its way for the emulated
      // latency, kept in order behind the frames before it (also when the latency was just
      // lowered), as on a real path.
      const at = Math.max(
        latencyTailMs,
        now + (Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0),
      );
      if (at > now) {
        latencyTailMs = at;
        clock.setTimer(at - now, () => {
          if (!closed && rtc.send(head.bytes)) sent += head.bytes.length;
        });
      } else if (!rtc.send(head.bytes))
        return; // closing: onClose follows
      else sent += head.bytes.length;
      if (head.endsMessage) {
        queuedMessages--;
        o.onDequeued?.();
      }
    }
  };

  const enqueue = (frames: readonly Uint8Array[]) => {
    const now = clock.now();
    const { capBps } = o.shaping();
    frames.forEach((bytes, i) => {
      const releaseAtMs = releaseTime(pacer, bytes.length, now, capBps, 0);
      queue.push({ bytes, releaseAtMs, endsMessage: i === frames.length - 1 });
    });
    if (frames.length > 0) queuedMessages++;
    if (cancelPump === undefined) pump();
  };

  /** Acks and pings go straight out (after the emulated latency): they are tiny, and stuck
   * behind a long queue of our own updates they would distort the remote's estimate. */
  const sendDirect = (bytes: Uint8Array) => {
    const { latencyMs } = o.shaping();
    const go = () => {
      if (!closed && rtc.send(bytes)) sent += bytes.length;
    };
    if (latencyMs > 0) clock.setTimer(latencyMs, go);
    else go();
  };

  const send = (message: Uint8Array, appLimited: boolean, probe = false): number | undefined => {
    if (closed || !open) return undefined;
    const msgId = nextMsgId;
    nextMsgId = nextMsgId >= 0xffff_fffe ? 1 : nextMsgId + 1;
    const frames = chunkMessage(msgId, message, chunkBytesFor(estimator));
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    onSend(estimator, {
      msgId,
      bytes,
      firstFrameBytes: frames[0]!.length,
      sentAtMs: clock.now(),
      appLimited,
      probe,
    });
    enqueue(frames);
    // Filler behind an app-limited message, now and then, so the estimate keeps up with a
    // link that the app does not fill (probeDue says when).
    if (!probe && probeDue(estimator, clock.now())) {
      send(encodeProbe(probeBytes(estimator)), false, true);
    }
    return msgId;
  };

  const sendControlDirect = (message: ControlMessage) => {
    const frames = chunkMessage(0, encodeControl(encodeMessage(message)));
    for (const f of frames) sendDirect(f);
  };

  const ping = () => {
    cancelPing = undefined;
    if (closed) return;
    pingId = (pingId + 1) >>> 0;
    sendControlDirect({ type: 'mesh/ping', id: pingId, t: clock.now() });
    cancelPing = clock.setTimer(PING_EVERY_MS, ping);
  };

  const onControl = (message: ControlMessage) => {
    if (message.type === 'mesh/ping') {
      sendControlDirect({ type: 'mesh/pong', id: message.id, t: message.t });
      return;
    }
    if (message.type === 'mesh/pong') {
      const rtt = clock.now() - message.t;
      if (rtt >= 0 && rtt < 600_000) {
        onRttSample(estimator, rtt);
        srtt = srtt === undefined ? rtt : srtt + 0.125 * (rtt - srtt);
      }
      return;
    }
    o.onMessage({ kind: 'control', message });
  };

  const onMessageBytes = (msgId: number, bytes: Uint8Array, spanMs: number) => {
    const decoded = decodeMessage(bytes);
    // Ping and pong travel with msgId 0 and are not acknowledged: they feed the RTT, not the rate.
    if (msgId !== 0) {
      sendDirect(encodeAck(msgId, bytes.length, decoded.ok ? 'accepted' : 'refused', spanMs));
    }
    if (!decoded.ok) {
      const kind = decoded.error.code === 'non-finite' ? 'non-finite-update' : 'bad-message';
      o.onRefused(kind, `message from ${remote}: ${decoded.error.message}`);
      return;
    }
    const m = decoded.value;
    if (m.type === 'update') o.onMessage({ kind: 'update', message: m, bytes: bytes.length });
    else if (m.type === 'params') o.onMessage({ kind: 'params', message: m, bytes: bytes.length });
    else if (m.type === 'probe')
      return; // acknowledged above; that was its purpose
    else {
      const parsed = parseControlMessage(m.text);
      if (!parsed.ok) o.onRefused('bad-control', `control from ${remote}: ${parsed.error.message}`);
      else onControl(parsed.value);
    }
  };

  const onData = (data: Uint8Array) => {
    if (closed) return;
    try {
      const frame = decodeFrame(data);
      if (!frame.ok) {
        o.onRefused('bad-frame', `frame from ${remote}: ${frame.error.message}`);
        return;
      }
      const f = frame.value;
      const now = clock.now();
      o.onActivity?.();
      if (f.kind === 'ack') {
        onAck(estimator, { msgId: f.msgId, ackAtMs: now, spanMs: f.spanMs });
        if (f.status === 'refused') {
          o.log('warn', 'the remote peer refused a message we sent', { remote, msgId: f.msgId });
        }
        return;
      }
      const whole = pushChunk(reassembler, f, now);
      if (!whole.ok) {
        o.onRefused('bad-frame', `frame from ${remote}: ${whole.error.message}`);
        return;
      }
      if (whole.value !== undefined) {
        onMessageBytes(f.msgId, whole.value.bytes, whole.value.spanMs);
      }
      if (reassembler.pending.size > 0) expirePending(reassembler, now, REASSEMBLY_TIMEOUT_MS);
    } catch (error) {
      // Only a bug of ours gets here; the link survives it and says so.
      o.log('error', 'link handler failed', { remote, error: String(error) });
    }
  };

  const rtc = o.connect({
    onSignal: o.onSignal,
    onOpen: () => {
      if (closed) return;
      open = true;
      ping();
      o.onOpen();
    },
    onData,
    onClose: (reason) => finish(reason, true),
  });

  return {
    remote,
    estimator,
    isOpen: () => open && !closed,
    signal: (data) => rtc.signal(data),
    send,
    sendControl: (message) => send(encodeControl(encodeMessage(message)), true),
    sendControlNow: (message) => {
      if (open && !closed) sendControlDirect(message);
    },
    drained: () =>
      queue.length === 0 &&
      rtc.bufferedAmount() <= HIGH_WATER_BYTES / 4 &&
      estimator.bytesInFlight <= inFlightAllowanceBytes(estimator),
    queuedMessages: () => queuedMessages,
    bytesSent: () => sent,
    rttMs: () => srtt,
    capBps: () => o.shaping().capBps,
    close(reason) {
      if (closed) return;
      finish(reason, false);
      rtc.close();
    },
  };
}
