/**
 * The room as the dashboard sees it through `GET /api/rooms/:room` (polled every 2 s): each
 * poll is checked (outside data), then folded into a bounded history of every peer's
 * progress, the mesh's mean, the knowledge-transfer merges and how busy each link is.
 * Pure: `foldPoll(history, room, atMs)` returns a new history.
 */

import * as v from 'valibot';
import {
  err,
  MAX_ROOM_PEERS,
  type MergeEvent,
  ok,
  PeerInfoSchema,
  type PeerKind,
  type PeerStatus,
  parsePeerStatus,
  type Result,
  type RoomConfig,
  RoomConfigSchema,
} from '../core';
import { appendBounded, lastItems } from './bounded-list';

/** One peer of the room; `status` is undefined until it posts one (or after it went stale). */
export interface RoomMember {
  readonly id: string;
  readonly name: string;
  readonly kind: PeerKind;
  readonly site: string | undefined;
  readonly status: PeerStatus | undefined;
}

/** One checked poll. */
export interface PolledRoom {
  readonly config: RoomConfig | undefined;
  readonly members: readonly RoomMember[];
  /** Peers in the body that were neither a valid status nor a valid identity: skipped. */
  readonly invalid: number;
}

/**
 * Checks a `GET /api/rooms/:room` body. A peer that fails its schema is skipped and counted,
 * never shown half-read; only a body without a peers list is refused as a whole.
 */
export function parseRoomBody(body: unknown): Result<PolledRoom, string> {
  if (typeof body !== 'object' || body === null) return err('the room body is not an object');
  const { peers, config } = body as { peers?: unknown; config?: unknown };
  if (!Array.isArray(peers)) return err('the room body has no peers list');
  let invalid = Math.max(0, peers.length - MAX_ROOM_PEERS);
  const members: RoomMember[] = [];
  const seen = new Set<string>();
  for (const raw of peers.slice(0, MAX_ROOM_PEERS)) {
    const status = parsePeerStatus(raw);
    const member = status.ok ? fromStatus(status.value) : fromInfo(raw);
    // A repeated id would make two rows claim one peer: the first one wins.
    if (member === undefined || seen.has(member.id)) invalid++;
    else {
      seen.add(member.id);
      members.push(member);
    }
  }
  const parsedConfig = v.safeParse(RoomConfigSchema, config);
  return ok({ config: parsedConfig.success ? parsedConfig.output : undefined, members, invalid });
}

const fromStatus = (s: PeerStatus): RoomMember => ({
  id: s.id,
  name: s.name,
  kind: s.kind,
  site: s.site,
  status: s,
});

const fromInfo = (raw: unknown): RoomMember | undefined => {
  const info = v.safeParse(PeerInfoSchema, raw);
  if (!info.success) return undefined;
  const i = info.output;
  return { id: i.id, name: i.name, kind: i.kind, site: i.site, status: undefined };
};

// ---- history ------------------------------------------------------------------------------

/** A peer's progress at one poll. Loss and accuracy are its DKT evaluation (the room's probe by default). */
export interface MetricPoint {
  readonly atMs: number;
  readonly step: number;
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly batchSize: number;
  readonly weight: number;
}

export interface PeerSeries {
  readonly id: string;
  /** The latest name the peer reported. */
  readonly name: string;
  readonly points: readonly MetricPoint[];
}

/** The mesh's mean over the peers that had reported, at one poll. */
export interface MeshPoint {
  readonly atMs: number;
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly peers: number;
}

/** How busy one directed link is: bytes sent per second over its measured bandwidth. */
export interface LinkUsage {
  readonly from: string;
  readonly to: string;
  /** Recent (poll time, bytes sent) pairs at which the counter moved, oldest first. */
  readonly samples: readonly { readonly atMs: number; readonly bytes: number }[];
  /** In [0, 1]; 0 until two samples exist. */
  readonly utilisation: number;
}

export interface RoomHistory {
  /** In order of first appearance, so a peer keeps its colour on the charts. */
  readonly series: readonly PeerSeries[];
  readonly mesh: readonly MeshPoint[];
  /** Knowledge-transfer merges of every peer, oldest first, without duplicates. */
  readonly merges: readonly MergeEvent[];
  /** By `linkKey(from, to)`; links absent from the last poll are dropped. */
  readonly usage: Readonly<Record<string, LinkUsage>>;
  readonly polls: number;
  /** Invalid peers skipped over all polls. */
  readonly invalid: number;
}

export interface HistoryLimits {
  /** Points per peer (and for the mesh mean) before the history halves its resolution. */
  readonly pointsPerPeer: number;
  readonly merges: number;
  /** Series kept; the one silent for longest goes first. */
  readonly series: number;
  /** A link whose counter has not moved for this long counts as idle. */
  readonly idleMs: number;
  /** The window over which a link's send rate is measured. */
  readonly rateWindowMs: number;
}

export const DEFAULT_LIMITS: HistoryLimits = {
  pointsPerPeer: 1000,
  merges: 500,
  series: 2 * MAX_ROOM_PEERS,
  idleMs: 10_000,
  // Statuses are posted every ~3 s and polled every 2 s, so one interval between two
  // changes of the counter is off by up to a poll; a few intervals average that out.
  rateWindowMs: 12_000,
};

export const emptyHistory = (): RoomHistory => ({
  series: [],
  mesh: [],
  merges: [],
  usage: {},
  polls: 0,
  invalid: 0,
});

export const linkKey = (from: string, to: string): string => `${from}>${to}`;

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;

/** The history after one poll taken at `atMs` (wall-clock ms). */
export function foldPoll(
  h: RoomHistory,
  room: PolledRoom,
  atMs: number,
  limits: HistoryLimits = DEFAULT_LIMITS,
): RoomHistory {
  const statuses = room.members.flatMap((m) => (m.status === undefined ? [] : [m.status]));
  const series = [...h.series];
  let moved = false;
  for (const s of statuses) {
    const point: MetricPoint = {
      atMs,
      step: s.step,
      loss: s.loss,
      accuracy: s.valAccuracy,
      batchSize: s.batchSize,
      weight: s.weight,
    };
    const i = series.findIndex((x) => x.id === s.id);
    const old = i < 0 ? undefined : series[i];
    const last = old?.points.at(-1);
    // A status is posted every few seconds and polled more often: the same report twice
    // is one point, not a flat run of copies.
    const changed =
      last === undefined ||
      last.step !== point.step ||
      last.loss !== point.loss ||
      last.accuracy !== point.accuracy;
    if (!changed && old?.name === s.name) continue;
    const points =
      changed && old ? appendBounded(old.points, point, limits.pointsPerPeer) : (old?.points ?? []);
    const next = { id: s.id, name: s.name, points: old ? points : [point] };
    if (i < 0) series.push(next);
    else series[i] = next;
    moved ||= changed;
  }

  let mesh = h.mesh;
  if (moved) {
    const losses = statuses.flatMap((s) => (s.loss === null ? [] : [s.loss]));
    const accuracies = statuses.flatMap((s) => (s.valAccuracy === null ? [] : [s.valAccuracy]));
    mesh = appendBounded(
      h.mesh,
      { atMs, loss: mean(losses), accuracy: mean(accuracies), peers: statuses.length },
      limits.pointsPerPeer,
    );
  }

  return {
    series: dropOldSeries(series, limits.series),
    mesh,
    merges: addMerges(
      h.merges,
      statuses.flatMap((s) => s.merges),
      limits.merges,
    ),
    usage: foldUsage(h.usage, statuses, atMs, limits),
    polls: h.polls + 1,
    invalid: h.invalid + room.invalid,
  };
}

/** At most `max` series: those whose last point is oldest go first. */
function dropOldSeries(series: readonly PeerSeries[], max: number): PeerSeries[] {
  if (series.length <= max) return [...series];
  const lastAt = (s: PeerSeries) => s.points.at(-1)?.atMs ?? 0;
  const keep = new Set(
    [...series]
      .sort((a, b) => lastAt(b) - lastAt(a))
      .slice(0, max)
      .map((s) => s.id),
  );
  return series.filter((s) => keep.has(s.id));
}

/** What tells two merges apart (a status repeats its recent ones on every post). */
export const mergeKey = (m: MergeEvent): string => `${m.from}|${m.to}|${m.atMs}|${m.lossBefore}`;

/**
 * `merges` with `incoming` added: each merge once (every status repeats its recent ones, and
 * the tab's own arrive both as events and in its status), oldest first, the newest `max`.
 */
export function addMerges(
  merges: readonly MergeEvent[],
  incoming: readonly MergeEvent[],
  max: number,
): MergeEvent[] {
  const seen = new Set(merges.map(mergeKey));
  const fresh = incoming.filter((m) => {
    const key = mergeKey(m);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (fresh.length === 0) return [...merges];
  return lastItems(
    [...merges, ...fresh].sort((a, b) => a.atMs - b.atMs),
    max,
  );
}

function foldUsage(
  usage: Readonly<Record<string, LinkUsage>>,
  statuses: readonly PeerStatus[],
  atMs: number,
  limits: HistoryLimits,
): Record<string, LinkUsage> {
  const next: Record<string, LinkUsage> = {};
  for (const s of statuses) {
    for (const link of s.links) {
      const key = linkKey(s.id, link.to);
      const prev = usage[key];
      const last = prev?.samples.at(-1);
      if (prev === undefined || last === undefined || link.bytesSent < last.bytes) {
        // New link, or its counter restarted (the link was re-opened): start measuring again.
        next[key] = {
          from: s.id,
          to: link.to,
          samples: [{ atMs, bytes: link.bytesSent }],
          utilisation: 0,
        };
        continue;
      }
      if (link.bytesSent === last.bytes) {
        const idle = atMs - last.atMs > limits.idleMs;
        next[key] = idle ? { ...prev, utilisation: 0 } : prev;
        continue;
      }
      const samples = [...prev.samples, { atMs, bytes: link.bytesSent }];
      // Keep the newest sample older than the window as the window's start.
      while (samples.length > 2 && atMs - (samples[1]?.atMs ?? atMs) >= limits.rateWindowMs) {
        samples.shift();
      }
      const first = samples[0] ?? { atMs, bytes: link.bytesSent };
      const seconds = (atMs - first.atMs) / 1000;
      const rate = seconds > 0 ? (link.bytesSent - first.bytes) / seconds : 0;
      const utilisation =
        link.bandwidthBps > 0 ? Math.min(1, Math.max(0, rate / link.bandwidthBps)) : 0;
      next[key] = { from: s.id, to: link.to, samples, utilisation };
    }
  }
  return next;
}

// ---- charts -------------------------------------------------------------------------------

export interface ChartSeries {
  readonly id: string;
  readonly label: string;
  /** One value per x; null where the series has no point. */
  readonly values: readonly (number | null)[];
}

/** What uPlot plots: shared x values (Unix seconds) and one series per peer, then the mean. */
export interface ChartData {
  readonly xs: readonly number[];
  readonly series: readonly ChartSeries[];
  /** Non-null values over all series. */
  readonly points: number;
}

/** The id of the mesh-mean series on the charts. */
export const MESH_SERIES = 'mesh';

/** The loss or accuracy chart's data, aligned on the union of the poll times. */
export function chartData(h: RoomHistory, metric: 'loss' | 'accuracy'): ChartData {
  const times = new Set<number>();
  for (const s of h.series) for (const p of s.points) times.add(p.atMs);
  for (const p of h.mesh) times.add(p.atMs);
  const sorted = [...times].sort((a, b) => a - b);
  const index = new Map(sorted.map((t, i) => [t, i]));
  let points = 0;
  const column = (
    pts: readonly { atMs: number; loss: number | null; accuracy: number | null }[],
  ) => {
    const values: (number | null)[] = new Array<number | null>(sorted.length).fill(null);
    for (const p of pts) {
      const i = index.get(p.atMs);
      const value = p[metric];
      if (i === undefined || value === null) continue;
      values[i] = value;
      points++;
    }
    return values;
  };
  const series: ChartSeries[] = h.series.map((s) => ({
    id: s.id,
    label: s.name,
    values: column(s.points),
  }));
  series.push({ id: MESH_SERIES, label: 'mesh (mean)', values: column(h.mesh) });
  return { xs: sorted.map((t) => t / 1000), series, points };
}
