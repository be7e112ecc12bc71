import { describe, expect, it } from 'vitest';
import { asPeerId, DEFAULT_ROOM_CONFIG, type MergeEvent, type PeerStatus } from '../core';
import {
  addMerges,
  chartData,
  DEFAULT_LIMITS,
  emptyHistory,
  foldPoll,
  linkKey,
  MESH_SERIES,
  type PolledRoom,
  parseRoomBody,
  type RoomHistory,
} from './room-view';

const a = asPeerId('a');
const b = asPeerId('b');

const status = (id: string, step: number, extra: Partial<PeerStatus> = {}): PeerStatus => ({
  id: asPeerId(id),
  name: `peer ${id}`,
  kind: 'browser',
  backend: 'webgl',
  strategy: 'dlion',
  step,
  batchSize: 32,
  weight: 0.5,
  capacity: 100,
  loss: 1,
  valAccuracy: 0.5,
  links: [],
  merges: [],
  ...extra,
});

const room = (...statuses: PeerStatus[]): PolledRoom => ({
  config: undefined,
  invalid: 0,
  members: statuses.map((s) => ({ id: s.id, name: s.name, kind: s.kind, site: s.site, status: s })),
});

const merge = (atMs: number, rolledBack = false): MergeEvent => ({
  from: a,
  to: b,
  beta: 0.5,
  lossBefore: 1,
  lossAfter: rolledBack ? 1.5 : 0.8,
  rolledBack,
  atMs,
});

describe('parseRoomBody', () => {
  it('reads statuses, identity-only peers and the config; skips and counts invalid peers', () => {
    const r = parseRoomBody({
      room: 'lab',
      config: DEFAULT_ROOM_CONFIG,
      peers: [
        status('a', 3),
        { id: 'b', name: 'bee', kind: 'kiosk', site: 'north' },
        { id: 'c', name: 'sea', kind: 'browser', step: -1 },
        { id: 'bad id!', name: 'x', kind: 'browser' },
        status('a', 4),
        'nonsense',
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.members.map((m) => [m.id, m.status?.step])).toEqual([
      ['a', 3],
      ['b', undefined],
    ]);
    expect(r.value.members[1]?.site).toBe('north');
    expect(r.value.config?.strategy).toBe(DEFAULT_ROOM_CONFIG.strategy);
    // c (a status-shaped object with extra, wrong fields), the bad id, the repeated a, the string.
    expect(r.value.invalid).toBe(4);
  });

  it('refuses a body without a peers list, and ignores a bad config', () => {
    expect(parseRoomBody(null).ok).toBe(false);
    expect(parseRoomBody({ peers: 'x' }).ok).toBe(false);
    const r = parseRoomBody({ peers: [], config: { strategy: 'nope' } });
    expect(r.ok && r.value.config).toBe(undefined);
  });
});

describe('foldPoll', () => {
  it('adds a point per peer when its report changed, and the mesh mean', () => {
    let h = foldPoll(emptyHistory(), room(status('a', 1, { loss: 2 }), status('b', 1)), 1000);
    h = foldPoll(h, room(status('a', 1, { loss: 2 }), status('b', 1)), 3000); // same reports
    h = foldPoll(h, room(status('a', 5, { loss: 1, valAccuracy: 0.9 }), status('b', 4)), 5000);
    expect(h.series.map((s) => s.points.map((p) => p.step))).toEqual([
      [1, 5],
      [1, 4],
    ]);
    expect(h.mesh.map((p) => [p.atMs, p.loss, p.accuracy])).toEqual([
      [1000, 1.5, 0.5],
      [5000, 1, 0.7],
    ]);
    expect(h.polls).toBe(3);
  });

  it('keeps a peer its place (and colour) when it stops reporting', () => {
    let h = foldPoll(emptyHistory(), room(status('a', 1), status('b', 1)), 1000);
    h = foldPoll(h, room(status('b', 2)), 3000);
    expect(h.series.map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('stays bounded over a long run', () => {
    const limits = { ...DEFAULT_LIMITS, pointsPerPeer: 50, merges: 20 };
    let h: RoomHistory = emptyHistory();
    for (let i = 0; i < 2000; i++) {
      h = foldPoll(h, room(status('a', i, { merges: [merge(i)] })), i * 2000, limits);
    }
    expect(h.series[0]!.points.length).toBeLessThanOrEqual(50);
    expect(h.series[0]!.points[0]!.step).toBe(0);
    expect(h.series[0]!.points.at(-1)!.step).toBe(1999);
    expect(h.mesh.length).toBeLessThanOrEqual(50);
    expect(h.merges.length).toBe(20);
    expect(h.merges.at(-1)!.atMs).toBe(1999);
  });

  it('counts invalid peers over all polls', () => {
    const h = foldPoll(
      foldPoll(emptyHistory(), { ...room(), invalid: 2 }, 1),
      { ...room(), invalid: 1 },
      2,
    );
    expect(h.invalid).toBe(3);
  });

  it('measures how busy a link is from the bytes it sent between polls', () => {
    const link = (bytesSent: number) => ({
      to: b,
      bandwidthBps: 1000,
      rttMs: 1,
      bytesSent,
      sentFraction: 0.5,
    });
    let h = foldPoll(emptyHistory(), room(status('a', 1, { links: [link(0)] })), 0);
    expect(h.usage[linkKey('a', 'b')]?.utilisation).toBe(0);
    // 1000 bytes in 2 s over 1000 B/s: half busy.
    h = foldPoll(h, room(status('a', 2, { links: [link(1000)] })), 2000);
    expect(h.usage[linkKey('a', 'b')]?.utilisation).toBeCloseTo(0.5);
    // Faster than measured is capped at 1.
    h = foldPoll(h, room(status('a', 3, { links: [link(100_000)] })), 4000);
    expect(h.usage[linkKey('a', 'b')]?.utilisation).toBe(1);
    // No bytes for longer than idleMs: idle.
    h = foldPoll(
      h,
      room(status('a', 4, { links: [link(100_000)] })),
      4000 + DEFAULT_LIMITS.idleMs + 1,
    );
    expect(h.usage[linkKey('a', 'b')]?.utilisation).toBe(0);
    // The link is gone from the report: dropped.
    h = foldPoll(h, room(status('a', 5)), 30_000);
    expect(h.usage[linkKey('a', 'b')]).toBeUndefined();
  });

  it('restarts the measurement when a counter goes back (a re-opened link)', () => {
    const link = (bytesSent: number) => ({
      to: b,
      bandwidthBps: 1000,
      rttMs: null,
      bytesSent,
      sentFraction: 1,
    });
    let h = foldPoll(emptyHistory(), room(status('a', 1, { links: [link(5000)] })), 0);
    h = foldPoll(h, room(status('a', 2, { links: [link(10)] })), 2000);
    expect(h.usage[linkKey('a', 'b')]?.samples).toEqual([{ atMs: 2000, bytes: 10 }]);
    expect(h.usage[linkKey('a', 'b')]?.utilisation).toBe(0);
  });
});

describe('addMerges', () => {
  it('keeps each merge once, oldest first', () => {
    const m = addMerges([merge(2)], [merge(1), merge(2), merge(3, true)], 10);
    expect(m.map((x) => [x.atMs, x.rolledBack])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
  });
});

describe('chartData', () => {
  it('aligns the peers and the mesh mean on the poll times, in seconds', () => {
    let h = foldPoll(emptyHistory(), room(status('a', 1, { loss: 2 })), 1000);
    h = foldPoll(h, room(status('a', 2, { loss: 1 }), status('b', 1, { loss: null })), 3000);
    const d = chartData(h, 'loss');
    expect(d.xs).toEqual([1, 3]);
    expect(d.series.map((s) => [s.id, s.values])).toEqual([
      ['a', [2, 1]],
      ['b', [null, null]],
      [MESH_SERIES, [2, 1]],
    ]);
    expect(d.points).toBe(4);
    expect(chartData(h, 'accuracy').series[1]?.values).toEqual([null, 0.5]);
  });
});
