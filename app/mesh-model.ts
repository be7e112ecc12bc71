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
}

export interface MeshGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** Nodes for the rows, edges for their links whose far end is a row too. */
export function meshGraph(
  rows: readonly PeerRow[],
  usage: Readonly<Record<string, LinkUsage>>,
): MeshGraph {
  const ids = new Set(rows.map((r) => r.id));
  const nodes = rows.map((r) => ({
    id: r.id,
    name: r.name,
    self: r.self,
    step: r.step,
    paused: r.paused,
  }));
  const edges = rows.flatMap((r) =>
    r.links
      .filter((l) => ids.has(l.to) && l.to !== r.id)
      .map((l) => ({
        from: r.id,
        to: l.to,
        mbps: (l.bandwidthBps * 8) / 1e6,
        share: l.sentFraction,
        busy: usage[linkKey(r.id, l.to)]?.utilisation ?? 0,
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
  const peers = `${g.nodes.length} peer${g.nodes.length === 1 ? '' : 's'}`;
  if (g.edges.length === 0) return `Mesh of ${peers}, no links yet.`;
  const name = (id: string) => g.nodes.find((n) => n.id === id)?.name ?? id;
  const busiest = g.edges.reduce((a, b) => (b.busy > a.busy ? b : a));
  return (
    `Mesh of ${peers} and ${g.edges.length} directed links; busiest: ${name(busiest.from)} to ` +
    `${name(busiest.to)}, ${Math.round(busiest.busy * 100)}% of ${busiest.mbps.toFixed(1)} Mbit/s.`
  );
}
