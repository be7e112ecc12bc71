/**
 * What the live runner (live.ts) sees of one peer, whether it is a Node process
 * (live-node.ts) or a Chromium tab (live-browser.ts): its phase, id, last status and merges,
 * its test-split evaluations as they come, and the means to change its emulation and stop it.
 */

import type { PeerStatus } from '../../core';
import type { PeerProfile } from './types';

/** A live run that cannot go on or cannot start; the message says which peer and why. */
export class LiveBenchError extends Error {
  override name = 'LiveBenchError';
}

/** Where a peer stands, as last heard. */
export interface PeerSnapshot {
  /** The mesh's PeerPhase ('connecting', 'starting', 'training', ...), 'none' before the first. */
  readonly phase: string;
  /** The phase's detail (the reason, for 'failed'). */
  readonly detail: string;
  /** The id the server gave it, once joined. */
  readonly id: string | undefined;
  /** The last status it reported (step, links with bytes sent), undefined before the first. */
  readonly status: PeerStatus | undefined;
  readonly merges: { readonly kept: number; readonly rolledBack: number };
}

/** A test-split evaluation, stamped with the runner's clock (performance.now, ms). */
export interface TestReport {
  readonly accuracy: number;
  readonly step: number;
  readonly atMs: number;
}

/** New emulation knobs for a peer (a scenario's timeline change). */
export interface EmulationChange {
  readonly slowdown?: number | undefined;
  readonly uplinkMbps?: number | undefined;
}

export interface LivePeer {
  readonly profile: PeerProfile;
  snapshot(): PeerSnapshot;
  /** Why the peer can no longer take part (its process ended, its tab crashed); else undefined. */
  failure(): string | undefined;
  /** Catches up with what the peer said (tabs are polled; processes push, so a no-op there). */
  poll(): Promise<void>;
  apply(change: EmulationChange): Promise<void>;
  /** Stops the peer, politely first; says how it went. Safe to call twice. */
  stop(): Promise<string>;
}

/** The initial snapshot of a peer nobody has heard from. */
export const EMPTY_SNAPSHOT: PeerSnapshot = Object.freeze({
  phase: 'none',
  detail: '',
  id: undefined,
  status: undefined,
  merges: Object.freeze({ kept: 0, rolledBack: 0 }),
});

/** Resolves true when `done` settles within `ms`, false otherwise; leaves no timer behind. */
export async function settlesWithin(done: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([done.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A file-safe form of a scenario, strategy or peer name for log file names. */
export const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');
