import { describe, expect, it } from 'vitest';
import { asPeerId, DEFAULT_ROOM_CONFIG, type PeerStatus } from '../core';
import type { MeshEvent, RefusalKind } from '../mesh';
import { initialView, nextView, type PeerReadings, type PeerView } from './peer-view';

const me = asPeerId('me');
const other = asPeerId('other');

const status: PeerStatus = {
  id: me,
  name: 'p1',
  kind: 'browser',
  backend: 'webgl',
  backendNote: 'no WebGPU adapter',
  strategy: 'dlion',
  step: 7,
  batchSize: 40,
  weight: 0.3,
  capacity: 120,
  loss: 0.4,
  valAccuracy: 0.88,
  links: [{ to: other, bandwidthBps: 1e6, rttMs: 3, bytesSent: 4096, sentFraction: 0.25 }],
  merges: [],
};

const readings = (s: PeerStatus | undefined, refused: Partial<Record<RefusalKind, number>> = {}) =>
  ({
    status: () => s,
    refusals: () => refused as Record<RefusalKind, number>,
  }) satisfies PeerReadings;

const fold = (events: readonly MeshEvent[], peer: PeerReadings): PeerView =>
  events.reduce((v, e) => nextView(v, e, peer), initialView());

describe('nextView', () => {
  it('follows the phase, its detail and code', () => {
    const v = fold(
      [
        { type: 'phase', phase: 'starting', detail: 'loading data' },
        { type: 'phase', phase: 'failed', detail: 'room is full', code: 'room-full' },
      ],
      readings(undefined),
    );
    expect([v.phase, v.detail, v.code]).toEqual(['failed', 'room is full', 'room-full']);
  });

  it('records the join, then each step with the links of the latest status', () => {
    const v = fold(
      [
        { type: 'joined', peerId: me, config: DEFAULT_ROOM_CONFIG, slot: 2 },
        {
          type: 'step',
          step: 7,
          batchSize: 40,
          weight: 0.3,
          loss: 1.2,
          computeMs: 10,
          iterationMs: 20,
          atMs: 1,
        },
      ],
      readings(status),
    );
    expect(v.peerId).toBe(me);
    expect(v.slot).toBe(2);
    expect(v.config?.strategy).toBe('dlion');
    expect([v.step, v.batchSize, v.weight, v.trainLoss]).toEqual([7, 40, 0.3, 1.2]);
    expect(v.backend).toBe('webgl');
    expect(v.backendNote).toBe('no WebGPU adapter');
    expect(v.links).toHaveLength(1);
    // No evaluation event yet: the status's last evaluation stands in.
    expect(v.valAccuracy).toBe(0.88);
  });

  it('takes an evaluation over an older status', () => {
    const v = fold(
      [
        { type: 'evaluation', step: 9, loss: 0.2, accuracy: 0.93, split: 'validation', atMs: 2 },
        { type: 'status', status },
      ],
      readings(undefined),
    );
    expect([v.valLoss, v.valAccuracy]).toEqual([0.2, 0.93]);
    expect(v.links[0]?.to).toBe(other);
  });

  it('counts merges and rollbacks, names peers and forgets them when they leave', () => {
    const merge = {
      from: other,
      to: me,
      beta: 0.5,
      lossBefore: 1,
      lossAfter: 0.8,
      rolledBack: false,
      atMs: 3,
    };
    const joinedOnly = fold(
      [
        { type: 'merge', merge },
        { type: 'merge', merge: { ...merge, rolledBack: true } },
        { type: 'peer-joined', peerId: other, name: 'p2' },
      ],
      readings(undefined),
    );
    expect([joinedOnly.merges, joinedOnly.rolledBack]).toEqual([2, 1]);
    expect(joinedOnly.names).toEqual({ other: 'p2' });
    const left = nextView(
      joinedOnly,
      { type: 'peer-left', peerId: other, reason: 'bye' },
      readings(undefined),
    );
    expect(left.names).toEqual({});
  });

  it('copies the refusal counters when input is refused', () => {
    const v = fold(
      [{ type: 'refused', kind: 'bad-frame', from: other, message: 'short frame' }],
      readings(undefined, { 'bad-frame': 1 }),
    );
    expect(v.refusals).toEqual({ 'bad-frame': 1 });
  });

  it('never mutates the view it is given', () => {
    const before = initialView();
    const frozen = Object.freeze({ ...before });
    nextView(frozen, { type: 'phase', phase: 'training', detail: '' }, readings(status));
    expect(frozen).toEqual(before);
  });
});
