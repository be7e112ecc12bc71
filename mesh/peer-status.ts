/**
 * The status a peer posts to the server and shows on its dashboard (DESIGN.md 7), built from
 * what the peer knows at that moment. Values are clamped into the ranges the status schema
 * accepts, so a diverged model still reports rather than being refused by the server.
 */

import {
  type BandwidthEstimator,
  bandwidthBytesPerSec,
  type LinkStatus,
  MAX_MERGES,
  type MergeEvent,
  type PeerData,
  type PeerId,
  type PeerKind,
  type PeerStatus,
  type StrategyName,
} from '../core';
import { type ExchangeState, sentFraction } from './exchange';

/** What the status shows of one link. */
export interface StatusLink {
  readonly id: PeerId;
  /** Its hello arrived: links still opening are left out. */
  readonly ready: boolean;
  readonly session: {
    readonly estimator: BandwidthEstimator;
    /** The emulated cap on this link, bits per second; undefined when none is set. */
    capBps(): number | undefined;
    rttMs(): number | undefined;
    bytesSent(): number;
  };
}

/**
 * The links of the status: measured bandwidth (with the emulated cap beside it, when one is
 * set), RTT, bytes and share of the gradient sent.
 */
export function linkStatuses(
  remotes: Iterable<StatusLink>,
  exchange: ExchangeState | undefined,
): LinkStatus[] {
  return [...remotes]
    .filter((r) => r.ready)
    .map((r) => {
      const cap = r.session.capBps();
      return {
        to: r.id,
        bandwidthBps: bandwidthBytesPerSec(r.session.estimator),
        ...(cap === undefined ? {} : { capBps: cap / 8 }),
        rttMs: r.session.rttMs() ?? null,
        bytesSent: r.session.bytesSent(),
        sentFraction: exchange ? sentFraction(exchange, r.id) : 0,
      };
    });
}

export interface StatusInput {
  readonly id: PeerId;
  readonly name: string;
  readonly kind: PeerKind;
  readonly site: string | undefined;
  /** The trainer's backend and why it is not WebGPU. */
  readonly backend: string;
  readonly backendNote: string;
  readonly strategy: StrategyName;
  readonly step: number;
  readonly batchSize: number;
  readonly weight: number;
  readonly capacity: number;
  /** The last validation result; undefined before the first evaluation. */
  readonly lastEval: { readonly loss: number; readonly accuracy: number } | undefined;
  readonly paused: boolean;
  /** What the trainer trains and reports on (no samples). */
  readonly data?: PeerData | undefined;
  readonly links: readonly LinkStatus[];
  /** Every merge so far; the status carries the last MAX_MERGES. */
  readonly merges: readonly MergeEvent[];
}

/**
 * The status to post.
 * @example buildStatus({ ...input, weight: 1.5, lastEval: undefined }) // weight 1, loss null
 */
export function buildStatus(i: StatusInput): PeerStatus {
  const lastEval = i.lastEval;
  return {
    id: i.id,
    name: i.name,
    kind: i.kind,
    ...(i.site === undefined ? {} : { site: i.site }),
    backend: i.backend.slice(0, 32) || 'unknown',
    ...(i.backendNote ? { backendNote: i.backendNote.slice(0, 256) } : {}),
    strategy: i.strategy,
    step: i.step,
    batchSize: i.batchSize,
    weight: Math.min(1, Math.max(0, i.weight)),
    capacity: Math.min(1e9, Math.max(0, i.capacity)),
    loss: lastEval && lastEval.loss >= 0 && lastEval.loss < 1e9 ? lastEval.loss : null,
    valAccuracy: lastEval?.accuracy ?? null,
    ...(i.paused ? { paused: true } : {}),
    ...(i.data === undefined ? {} : { data: i.data }),
    links: [...i.links],
    merges: i.merges.slice(-MAX_MERGES),
  };
}
