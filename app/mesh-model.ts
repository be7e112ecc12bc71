/**
 * The mesh diagram's content: one node per peer and one edge per directed link, labelled
 * with the measured rate, the share of the gradient it carries and how busy it is. Pure.
 */

import type { PeerRow } from './peer-rows';
import { type LinkUsage, linkKey } from './room-view';

export interface GraphNode {
  readonly id: string;
  readonly name: string;
  readonly self: boolean;
  readonly step: number | undefined;
  readonly paused: boolean;
  /** The micro-cloud the peer declared, if any. */
  readonly site: string | undefined;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** Measured delivery rate, Mbit/s. */
  readonly mbps: number;
  /** Share of the gradient entries sent on this link, [0, 1]. */
  readonly share: number;
  /** Bytes sent per second over the measured bandwidth, [0, 1]. */
  readonly busy: number;
  /** Inside one site or between two; undefined when a site is unknown. */
  readonly between: 'intra' | 'inter' | undefined;
}

export interface MeshGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** A site and its peers, in the order sites first appear; peers with no site come last. */
export interface SiteGroup<T> {
  readonly site: string | undefined;
  readonly members: readonly T[];
}

/**
 * Groups items by site, keeping their order within each site and the order in which the
 * sites first appear (this tab's row comes first, so its site does); no site goes last.
 */
export function groupBySite<T extends { readonly site: string | undefined }>(
  items: readonly T[],
): SiteGroup<T>[] {
  const groups = new Map<string | undefined, T[]>();
  for (const item of items) {
    const list = groups.get(item.site);
    if (list) list.push(item);
    else groups.set(item.site, [item]);
  }
  const named = [...groups].filter(([site]) => site !== undefined);
  const none = groups.get(undefined);
  return [
    ...named.map(([site, members]) => ({ site, members })),
    ...(none === undefined ? [] : [{ site: undefined, members: none }]),
  ];
}

/** Whether a link stays inside a site or crosses between two. */
export function linkBetween(
  a: string | undefined,
  b: string | undefined,
): 'intra' | 'inter' | undefined {
  if (a === undefined || b === undefined) return undefined;
  return a === b ? 'intra' : 'inter';
}

/**
 * Nodes for the rows (grouped by site, so a site's peers sit side by side on the circle),
 * edges for their links whose far end is a row too.
 */
export function meshGraph(
  rows: readonly PeerRow[],
  usage: Readonly<Record<string, LinkUsage>>,
): MeshGraph {
  const site = new Map(rows.map((r) => [r.id, r.site]));
  const nodes = groupBySite(rows).flatMap((g) =>
    g.members.map((r) => ({
      id: r.id,
      name: r.name,
      self: r.self,
      step: r.step,
      paused: r.paused,
      site: r.site,
    })),
  );
  const edges = rows.flatMap((r) =>
    r.links
      .filter((l) => site.has(l.to) && l.to !== r.id)
      .map((l) => ({
        from: r.id,
        to: l.to,
        mbps: (l.bandwidthBps * 8) / 1e6,
        share: l.sentFraction,
        busy: usage[linkKey(r.id, l.to)]?.utilisation ?? 0,
        between: linkBetween(r.site, site.get(l.to)),
      })),
  );
  return { nodes, edges };
}

/** Stops of the busy scale: slate when idle, amber half-way, red when saturated. */
const BUSY_STOPS: readonly (readonly [number, number, number])[] = [
  [148, 160, 178],
  [224, 138, 0],
  [192, 38, 27],
];

/**
 * The colour of a link that is `busy` in [0, 1]. A sequential scale from a quiet slate to red,
 * mixed in RGB: no hue of its own in between, so it is not mistaken for a peer's colour.
 */
export function busyColour(busy: number): string {
  const b = Math.min(1, Math.max(0, Number.isFinite(busy) ? busy : 0));
  const scaled = b * (BUSY_STOPS.length - 1);
  const i = Math.min(BUSY_STOPS.length - 2, Math.floor(scaled));
  const t = scaled - i;
  const lo = BUSY_STOPS[i] ?? BUSY_STOPS[0];
  const hi = BUSY_STOPS[i + 1] ?? lo;
  const mix = (k: 0 | 1 | 2) => Math.round((lo?.[k] ?? 0) * (1 - t) + (hi?.[k] ?? 0) * t);
  return `rgb(${mix(0)} ${mix(1)} ${mix(2)})`;
}

/** One sentence for screen readers: how many peers and links, and the busiest link. */
export function describeGraph(g: MeshGraph): string {
  const sites = new Set(g.nodes.flatMap((n) => (n.site === undefined ? [] : [n.site])));
  const peers = `${g.nodes.length} peer${g.nodes.length === 1 ? '' : 's'}${sites.size > 0 ? ` in ${sites.size} site${sites.size === 1 ? '' : 's'}` : ''}`;
  if (g.edges.length === 0) return `Mesh of ${peers}, no links yet.`;
  const name = (id: string) => g.nodes.find((n) => n.id === id)?.name ?? id;
  const busiest = g.edges.reduce((a, b) => (b.busy > a.busy ? b : a));
  return (
    `Mesh of ${peers} and ${g.edges.length} directed links; busiest: ${name(busiest.from)} to ` +
    `${name(busiest.to)}, ${Math.round(busiest.busy * 100)}% of ${busiest.mbps.toFixed(1)} Mbit/s.`
  );
}
