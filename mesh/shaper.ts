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

/**
 * The cap that applies to one link: the lowest of the valid caps given (the peer's uplink cap,
 * the link's own, the site pair's); undefined when none is set.
 */
export function effectiveCapBps(...caps: readonly (number | undefined)[]): number | undefined {
  let cap: number | undefined;
  for (const c of caps) {
    if (c !== undefined && Number.isFinite(c) && c > 0)
      cap = cap === undefined ? c : Math.min(cap, c);
  }
  return cap;
}

/** The shape of the links between two sites, or inside one (DESIGN.md 8). */
export interface SiteLinkShape {
  /** Cap in bits per second; undefined: no cap from the sites. */
  readonly bps?: number | undefined;
  /** Latency added to every frame, ms. */
  readonly latencyMs?: number | undefined;
}

/**
 * Emulated micro-clouds: links inside a site, links between sites, and exceptions for given
 * site pairs (either order), e.g. `{ intra: { bps: 100e6, latencyMs: 1 }, inter: { bps: 5e6,
 * latencyMs: 40 } }`.
 */
export interface SiteShaping {
  readonly intra?: SiteLinkShape | undefined;
  readonly inter?: SiteLinkShape | undefined;
  readonly pairs?:
    | readonly (SiteLinkShape & { readonly a: string; readonly b: string })[]
    | undefined;
}

/**
 * The shape of the link from a peer of site `local` to one of site `remote`: a matching pair
 * first, then intra (same site) or inter (different sites). A pair rule replaces the intra or
 * inter rule for that pair whole (a pair with only a latency has no cap from the sites).
 * Undefined when either site is unknown or no rule applies.
 */
export function siteLinkShape(
  rules: SiteShaping | undefined,
  local: string | undefined,
  remote: string | undefined,
): SiteLinkShape | undefined {
  if (rules === undefined || local === undefined || remote === undefined) return undefined;
  const pair = rules.pairs?.find(
    (p) => (p.a === local && p.b === remote) || (p.a === remote && p.b === local),
  );
  if (pair !== undefined) return pair;
  return local === remote ? rules.intra : rules.inter;
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
