import { describe, expect, it } from 'vitest';
import { asPeerId, type PeerStatus } from '../core';
import { peerRows } from './peer-rows';
import { initialView } from './peer-view';
import type { RoomMember } from './room-view';

const status = (id: string, step: number): PeerStatus => ({
  id: asPeerId(id),
  name: id,
  kind: 'kiosk',
  site: 'north',
  backend: 'tensorflow',
  backendNote: 'node',
  strategy: 'dlion',
  step,
  batchSize: 16,
  weight: 0.25,
  capacity: 50,
  loss: 0.7,
  valAccuracy: 0.8,
  paused: true,
  links: [],
  merges: [],
});
const member = (s: PeerStatus): RoomMember => ({
  id: s.id,
  name: s.name,
  kind: s.kind,
  site: s.site,
  status: s,
});

describe('peerRows', () => {
  it('puts this tab first with its live numbers, and measures staleness on the reports', () => {
    const own = {
      id: 'me',
      name: 'mine',
      view: { ...initialView(), phase: 'training' as const, step: 12, valAccuracy: 0.9 },
    };
    const rows = peerRows(
      [
        member(status('k1', 15)),
        { ...member(status('me', 3)), kind: 'browser' },
        { id: 'new', name: 'new', kind: 'browser', site: undefined, status: undefined },
      ],
      own,
    );
    // Its own live step (12) is shown; its staleness compares its report (3) with k1's (15).
    expect(rows.map((r) => [r.id, r.self, r.step, r.staleness, r.reported])).toEqual([
      ['me', true, 12, 12, true],
      ['k1', false, 15, 0, true],
      ['new', false, undefined, undefined, false],
    ]);
    expect(rows[0]?.accuracy).toBe(0.9);
    expect(rows[1]).toMatchObject({
      site: 'north',
      paused: true,
      backendNote: 'node',
      kind: 'kiosk',
    });
  });

  it('shows this tab before the first poll lists it', () => {
    const rows = peerRows([], { id: 'me', name: 'mine', view: initialView() });
    expect(rows.map((r) => [r.id, r.reported, r.staleness])).toEqual([['me', false, undefined]]);
    const live = peerRows([member(status('k1', 15))], {
      id: 'me',
      name: 'mine',
      view: { ...initialView(), step: 20 },
    });
    expect(live.map((r) => [r.id, r.staleness])).toEqual([
      ['me', 0],
      ['k1', 5],
    ]);
  });
});
