/**
 * The live set L (DESIGN.md 2.4, 3.4): which other peers are in the mesh, when each was last
 * heard from and the last step it sent. Silent peers are dropped within a bounded time, so no
 * step waits forever; `version` tells WDB when to re-balance batches.
 */

import { PolicyError } from './errors';
import { comparePeerIds, type PeerId } from './ids';
import { NOT_HEARD } from './staleness-gate';

/** The silence bound's parameters (DESIGN.md 3.4). */
export interface MembershipConfig {
  /** A silent peer is never dropped sooner than this, ms. 5000 by default. */
  readonly minDeadMs: number;
  /** ...nor sooner than this many median step times. 10 by default. */
  readonly deadAfterSteps: number;
}

/** At least 5 s, and at least 10 median step times. */
export const DEFAULT_MEMBERSHIP_CONFIG: MembershipConfig = { minDeadMs: 5000, deadAfterSteps: 10 };

/** What is known about one live peer. */
export interface Member {
  readonly joinedAtMs: number;
  lastHeardMs: number;
  /** Highest step received from it (NOT_HEARD, -1, before its first update). */
  lastStep: number;
  /**
   * When it last sent an update (or joined): liveness is progress, not pings, nor steps that a
   * heartbeat merely claims (see `progressed`).
   */
  progressAtMs: number;
}

/**
 * Membership state, owned by the caller and changed only through this module's functions.
 * It holds the OTHER peers: the local peer never joins its own live set (the staleness gate
 * takes `live` without self).
 */
export interface Membership {
  readonly config: MembershipConfig;
  readonly members: Map<PeerId, Member>;
  /**
   * Peers that closed their link explicitly. A message still in flight from one of them must
   * not bring it back (and bump the version twice for nothing); only `join` (a new link, a new
   * hello) does.
   */
  readonly left: Set<PeerId>;
  /** Increments by one on every membership change (each peer added or removed). */
  version: number;
}

/** Empty membership; throws PolicyError('bad-config') for a configuration it cannot use. */
export function createMembership(config: Partial<MembershipConfig> = {}): Membership {
  const cfg: MembershipConfig = { ...DEFAULT_MEMBERSHIP_CONFIG, ...config };
  if (!(Number.isFinite(cfg.minDeadMs) && cfg.minDeadMs > 0)) {
    throw new PolicyError('bad-config', `minDeadMs must be > 0, got ${cfg.minDeadMs}`);
  }
  if (!(Number.isFinite(cfg.deadAfterSteps) && cfg.deadAfterSteps > 0)) {
    throw new PolicyError('bad-config', `deadAfterSteps must be > 0, got ${cfg.deadAfterSteps}`);
  }
  return { config: cfg, members: new Map(), left: new Set(), version: 0 };
}

const isTime = (t: number): boolean => Number.isFinite(t) && t >= 0;

/**
 * A link to `peer` opened (or its hello arrived): adds it if absent. Returns true when the live
 * set changed. Joining again while live only refreshes its last-heard time.
 */
export function join(state: Membership, peer: PeerId, nowMs: number): boolean {
  if (!isTime(nowMs)) return false;
  state.left.delete(peer);
  return touch(state, peer, nowMs);
}

/**
 * Any message from `peer` (update, heartbeat, report, ping) arrived at `nowMs`; `step` when it
 * carried one. A peer dropped by `expire` that is heard again re-joins (returns true, version
 * bumps); a peer that left explicitly does not (see `left`). Returns true when the set changed.
 */
export function heard(state: Membership, peer: PeerId, nowMs: number, step?: number): boolean {
  if (!isTime(nowMs) || state.left.has(peer)) return false;
  const changed = touch(state, peer, nowMs);
  const member = state.members.get(peer);
  // Steps only move forward: an old update arriving late says nothing new.
  if (member !== undefined && step !== undefined && Number.isSafeInteger(step)) {
    member.lastStep = Math.max(member.lastStep, step);
  }
  return changed;
}

function touch(state: Membership, peer: PeerId, nowMs: number): boolean {
  const member = state.members.get(peer);
  if (member !== undefined) {
    member.lastHeardMs = Math.max(member.lastHeardMs, nowMs);
    return false;
  }
  state.members.set(peer, {
    joinedAtMs: nowMs,
    lastHeardMs: nowMs,
    lastStep: NOT_HEARD,
    progressAtMs: nowMs,
  });
  state.version++;
  return true;
}

/** `peer` closed its link (explicit leave): removes it. Returns true when it was live. */
export function leave(state: Membership, peer: PeerId): boolean {
  state.left.add(peer);
  if (!state.members.delete(peer)) return false;
  state.version++;
  return true;
}

/** How long a peer may stay silent: max(minDeadMs, deadAfterSteps x medianStepMs). */
export function deadAfterMs(state: Membership, medianStepMs: number): number {
  const stepMs = Number.isFinite(medianStepMs) && medianStepMs > 0 ? medianStepMs : 0;
  return Math.max(state.config.minDeadMs, state.config.deadAfterSteps * stepMs);
}

/**
 * Drops every peer silent for longer than `deadAfterMs(state, medianStepMs)` at `nowMs`
 * and returns them, sorted by id. `medianStepMs` should be the median step time across the
 * mesh (see StepTimes), so that a mesh of slow peers is not dropped for being slow; callers
 * should also send heartbeats well within `minDeadMs` so that a peer in a long step stays live.
 */
export function expire(state: Membership, nowMs: number, medianStepMs: number): PeerId[] {
  if (!isTime(nowMs)) return [];
  const limit = deadAfterMs(state, medianStepMs);
  const dropped: PeerId[] = [];
  for (const [peer, member] of state.members) {
    if (nowMs - member.lastHeardMs > limit) dropped.push(peer);
  }
  for (const peer of dropped) {
    state.members.delete(peer);
    state.version++;
  }
  return dropped.sort(comparePeerIds);
}

/** The live peers (self excluded), sorted by id. */
export const livePeers = (state: Membership): PeerId[] =>
  [...state.members.keys()].sort(comparePeerIds);

/**
 * `peer` sent an update (a contribution, not a claim) at `nowMs`: it makes progress. Returns
 * false for a peer that is not live.
 */
export function progressed(state: Membership, peer: PeerId, nowMs: number): boolean {
  const member = state.members.get(peer);
  if (member === undefined || !isTime(nowMs)) return false;
  member.progressAtMs = Math.max(member.progressAtMs, nowMs);
  return true;
}

/**
 * The live peers that made progress (sent an update) within `deadAfterMs(state, medianStepMs)`
 * of `nowMs`, sorted by id: the peers a step may wait for. A peer that answers pings but has
 * stopped stepping (a hung worker, or a peer that sends one update and then only pings or
 * heartbeats, whatever steps they claim) stays linked but is not waited for; it counts again
 * from its next update (DESIGN.md 10).
 */
export function progressingPeers(state: Membership, nowMs: number, medianStepMs: number): PeerId[] {
  const limit = deadAfterMs(state, medianStepMs);
  const out: PeerId[] = [];
  for (const [peer, member] of state.members) {
    if (!isTime(nowMs) || nowMs - member.progressAtMs <= limit) out.push(peer);
  }
  return out.sort(comparePeerIds);
}

/** Whether `peer` is in the live set. */
export const isLive = (state: Membership, peer: PeerId): boolean => state.members.has(peer);

/** Last step received from each live peer: the `lastStepFrom` argument of the staleness gate. */
export function lastSteps(state: Membership): Map<PeerId, number> {
  const out = new Map<PeerId, number>();
  for (const [peer, member] of state.members) out.set(peer, member.lastStep);
  return out;
}

/** A small ring of recent step durations, for the median step time. */
export interface StepTimes {
  readonly values: Float64Array;
  count: number;
  head: number;
}

/** An empty ring of the last `size` step times (9 by default). */
export function createStepTimes(size = 9): StepTimes {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new PolicyError('bad-config', `step-time ring size must be >= 1, got ${size}`);
  }
  return { values: new Float64Array(size), count: 0, head: 0 };
}

/** Adds one step duration (ms); negative or non-finite values are ignored (returns false). */
export function recordStepTime(times: StepTimes, ms: number): boolean {
  if (!isTime(ms)) return false;
  times.values[times.head] = ms;
  times.head = (times.head + 1) % times.values.length;
  if (times.count < times.values.length) times.count++;
  return true;
}

/** Median of the recorded step times, or 0 before any (then `minDeadMs` alone applies). */
export function medianStepMs(times: StepTimes): number {
  if (times.count === 0) return 0;
  const sorted = times.values.slice(0, times.count).sort();
  const mid = times.count >> 1;
  return times.count % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
