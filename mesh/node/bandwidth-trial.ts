/**
 * A bandwidth trial: one link session sends DLion-like traffic to another over an in-memory
 * link on a virtual clock, through a rate cap and a one-way latency, and reports where the
 * sender's estimator ends. The estimator table test and `npm run bench:estimator` run it.
 *
 * DLion-like traffic: every step the sender has `messageBytes` to offer (a dense update of that
 * size). It sends what fits the link's budget (estimate x step time, core's sendBudgetBytes),
 * the whole update when it fits (app-limited), and skips the step while the link has not
 * drained, as the prioritized exchange does.
 */

import {
  asPeerId,
  bandwidthBytesPerSec,
  denseUpdateBytes,
  encodeUpdate,
  minRttMs,
  sendBudgetBytes,
  wireBytes,
} from '../../core';
import { createLinkSession, type LinkSession } from '../link-session';
import { createMemoryNetwork } from '../memory-link';
import { silentLogger } from '../types';
import { createVirtualClock } from './virtual-clock';

export interface BandwidthTrial {
  /** The link's rate, Mbit/s of frame bytes. */
  readonly capMbps: number;
  /** One-way delay each way, ms. */
  readonly oneWayMs: number;
  /** The most the sender has to send in one step (its dense update), bytes. */
  readonly messageBytes: number;
  /**
   * Where the cap and the latency live: 'shaper', the emulation shaper in front of the sender's
   * queue (as in sim mode and the tabs' uplinkMbps); 'link', the in-memory link's own
   * bottleneck, which queues behind the channel's bufferedAmount like a real path.
   */
  readonly where: 'shaper' | 'link';
  /** Step time, ms (default 50). */
  readonly stepMs?: number;
  /** How long the traffic runs, ms of virtual time (default 10 000). */
  readonly durationMs?: number;
}

export interface BandwidthTrialResult {
  readonly trial: BandwidthTrial;
  readonly estimateMbps: number;
  /** estimate / cap. */
  readonly ratio: number;
  /** Min RTT the sender saw, ms (undefined: none). */
  readonly minRttMs: number | undefined;
  /** Bytes the sender handed to the channel, and what the link could have carried. */
  readonly bytesSent: number;
  readonly capacityBytes: number;
  /** Steps the sender sent on / skipped (link not drained). */
  readonly sent: number;
  readonly skipped: number;
  readonly samples: number;
}

const MBIT = 125_000;

/** Runs one trial to completion on its own virtual clock. */
export async function runBandwidthTrial(trial: BandwidthTrial): Promise<BandwidthTrialResult> {
  const stepMs = trial.stepMs ?? 50;
  const durationMs = trial.durationMs ?? 10_000;
  const clock = createVirtualClock();
  const inLink = trial.where === 'link';
  const network = createMemoryNetwork({ clock });
  const connector = network.connector(
    inLink ? { latencyMs: trial.oneWayMs, bytesPerSec: trial.capMbps * MBIT } : {},
  );
  const sessions: { a?: LinkSession; b?: LinkSession } = {};
  const make = (self: 'a' | 'b') =>
    createLinkSession({
      remote: asPeerId(self === 'a' ? 'b' : 'a'),
      clock,
      log: silentLogger,
      connect: (handlers) => connector({ initiator: self === 'a', iceServers: [], handlers }),
      onSignal: (data) => sessions[self === 'a' ? 'b' : 'a']?.signal(data),
      shaping: () =>
        inLink
          ? { capBps: undefined, latencyMs: 0 }
          : {
              capBps: self === 'a' ? trial.capMbps * 1e6 : undefined,
              latencyMs: trial.oneWayMs,
            },
      onOpen: () => {},
      onMessage: () => {},
      onRefused: () => {},
      onClose: () => {},
    });
  const a = make('a');
  sessions.a = a;
  sessions.b = make('b');
  const b = sessions.b;
  await clock.runUntil(1000);
  if (!a.isOpen() || !b.isOpen()) throw new Error('bandwidth trial: the link did not open');

  let sent = 0;
  let skipped = 0;
  const start = clock.now();
  const step = () => {
    if (clock.now() - start >= durationMs) return;
    clock.setTimer(stepMs, step);
    if (!a.drained()) {
      skipped++;
      return;
    }
    const budget = sendBudgetBytes(a.estimator, stepMs);
    const appLimited = wireBytes(trial.messageBytes) <= budget;
    // Overhead of the frames' headers is left out here; the encoded update is within a few
    // bytes of the size asked for.
    const size = appLimited ? trial.messageBytes : Math.max(64, budget - 64);
    a.send(updateOfSize(size), appLimited);
    sent++;
  };
  step();
  const sentBefore = a.bytesSent();
  await clock.runUntil(start + durationMs);
  const estimateMbps = bandwidthBytesPerSec(a.estimator) / MBIT;
  const result: BandwidthTrialResult = {
    trial,
    estimateMbps,
    ratio: estimateMbps / trial.capMbps,
    minRttMs: minRttMs(a.estimator),
    bytesSent: a.bytesSent() - sentBefore,
    capacityBytes: (trial.capMbps * MBIT * durationMs) / 1000,
    sent,
    skipped,
    samples: a.estimator.counters.samplesAccepted,
  };
  a.close('trial over');
  b.close('trial over');
  await clock.runUntil(clock.now() + 1000);
  return result;
}

const updates = new Map<number, Uint8Array>();

/** An encoded dense update of about `bytes` bytes (cached: trials send the same sizes often). */
function updateOfSize(bytes: number): Uint8Array {
  const n = Math.max(1, Math.floor((bytes - denseUpdateBytes(0, 'f32')) / 4));
  let u = updates.get(n);
  if (u === undefined) {
    u = encodeUpdate(
      { step: 0, batchSize: 1, capacity: 1, weight: 1, paramCount: n, valueType: 'f32' },
      { encoding: 'dense', values: new Float32Array(n) },
    );
    if (updates.size > 256) updates.clear();
    updates.set(n, u);
  }
  return u;
}
