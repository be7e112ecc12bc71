/**
 * The emulation shaper (DESIGN.md 5): paces one link's outgoing frames at a bit-rate cap and
 * adds a fixed latency, so that a laptop's loopback can play a 2 Mbit/s uplink. Pacing is
 * strict (no burst allowance): a frame leaves when the previous one would have finished
 * crossing a link of that rate, so the bandwidth estimator sees the cap and not a burst.
 */

/** A link's pacing state; owned by its link session. */
export interface Pacer {
  /** Time at which the emulated wire is free again, ms (clock of the owner). */
  nextFreeMs: number;
}

export const createPacer = (): Pacer => ({ nextFreeMs: 0 });

/** The cap that applies to one link: the lower of the peer's uplink cap and the link's own. */
export function effectiveCapBps(
  uplinkBps: number | undefined,
  linkBps: number | undefined,
): number | undefined {
  const valid = (x: number | undefined): x is number =>
    x !== undefined && Number.isFinite(x) && x > 0;
  if (valid(uplinkBps) && valid(linkBps)) return Math.min(uplinkBps, linkBps);
  if (valid(uplinkBps)) return uplinkBps;
  if (valid(linkBps)) return linkBps;
  return undefined;
}

/**
 * When a frame of `bytes` queued at `nowMs` may be handed to the channel: after the emulated
 * wire has carried it at `capBps` (undefined: no cap) plus `latencyMs`. Advances the pacer.
 */
export function releaseTime(
  pacer: Pacer,
  bytes: number,
  nowMs: number,
  capBps: number | undefined,
  latencyMs: number,
): number {
  const latency = Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0;
  if (capBps === undefined) {
    pacer.nextFreeMs = Math.max(pacer.nextFreeMs, nowMs);
    return nowMs + latency;
  }
  const start = Math.max(pacer.nextFreeMs, nowMs);
  pacer.nextFreeMs = start + (bytes * 8 * 1000) / capBps;
  return pacer.nextFreeMs + latency;
}
