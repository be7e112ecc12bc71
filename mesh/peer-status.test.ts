/** The status a peer posts: clamped into the schema's ranges, links that are up only. */

import { describe, expect, it } from 'vitest';
import {
  asPeerId,
  createBandwidthEstimator,
  MAX_MERGES,
  type MergeEvent,
  parsePeerStatus,
} from '../core';
import { createExchangeState } from './exchange';
import { buildStatus, linkStatuses, type StatusInput, type StatusLink } from './peer-status';

const input: StatusInput = {
  id: asPeerId('a'),
  name: 'tab-1',
  kind: 'browser',
  site: undefined,
  backend: 'cpu',
  backendNote: '',
  strategy: 'dlion',
  step: 12,
  batchSize: 64,
  weight: 0.5,
  capacity: 900,
  lastEval: { loss: 0.4, accuracy: 0.9 },
  paused: false,
  links: [],
  merges: [],
};

const merge = (atMs: number): MergeEvent => ({
  from: asPeerId('b'),
  to: asPeerId('a'),
  beta: 0.5,
  lossBefore: 1,
  lossAfter: 0.5,
  rolledBack: false,
  atMs,
});

describe('buildStatus', () => {
  it('builds a status the server accepts, without the optional fields it does not need', () => {
    const status = buildStatus(input);
    expect(parsePeerStatus(status).ok).toBe(true);
    expect(status).toMatchObject({
      step: 12,
      batchSize: 64,
      weight: 0.5,
      loss: 0.4,
      valAccuracy: 0.9,
    });
    expect(Object.keys(status)).not.toContain('site');
    expect(Object.keys(status)).not.toContain('backendNote');
    expect(Object.keys(status)).not.toContain('paused');
  });

  it('clamps weight and capacity, and reports no loss before an evaluation or for a diverged one', () => {
    const wild = buildStatus({ ...input, weight: 1.5, capacity: 1e12, lastEval: undefined });
    expect(wild).toMatchObject({ weight: 1, capacity: 1e9, loss: null, valAccuracy: null });
    const negative = buildStatus({ ...input, weight: -1, capacity: -5 });
    expect(negative).toMatchObject({ weight: 0, capacity: 0 });
    const diverged = buildStatus({ ...input, lastEval: { loss: 1e9, accuracy: 0.1 } });
    expect(diverged).toMatchObject({ loss: null, valAccuracy: 0.1 });
  });

  it('shortens the backend fields and names an empty backend', () => {
    const long = buildStatus({ ...input, backend: 'x'.repeat(40), backendNote: 'n'.repeat(300) });
    expect(long.backend).toHaveLength(32);
    expect(long.backendNote).toHaveLength(256);
    expect(buildStatus({ ...input, backend: '' }).backend).toBe('unknown');
  });

  it('carries site and paused when set, and only the last MAX_MERGES merges', () => {
    const merges = Array.from({ length: MAX_MERGES + 3 }, (_, i) => merge(i));
    const status = buildStatus({ ...input, site: 'lab', paused: true, merges });
    expect(status.site).toBe('lab');
    expect(status.paused).toBe(true);
    expect(status.merges).toHaveLength(MAX_MERGES);
    expect(status.merges[0]?.atMs).toBe(3);
  });
});

describe('linkStatuses', () => {
  const link = (id: string, ready: boolean, capBps?: number): StatusLink => ({
    id: asPeerId(id),
    ready,
    session: {
      estimator: createBandwidthEstimator(),
      capBps: () => capBps,
      rttMs: () => 12,
      bytesSent: () => 4096,
    },
  });

  it('lists the links whose hello arrived, with what their session measured', () => {
    const links = linkStatuses([link('b', true), link('c', false)], undefined);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({ to: 'b', rttMs: 12, bytesSent: 4096, sentFraction: 0 });
    expect(links[0]?.bandwidthBps).toBe(createBandwidthEstimator().estimateBytesPerSec);
    expect(links[0]).not.toHaveProperty('capBps');
  });

  it('shows an emulated cap beside the estimate, in bytes per second like it', () => {
    const [status] = linkStatuses([link('b', true, 4e6)], undefined);
    expect(status?.capBps).toBe(500_000);
    expect(status?.bandwidthBps).toBe(125_000);
  });

  it('reports a missing RTT as null and the share sent from the exchange', () => {
    const b = link('b', true);
    const exchange = createExchangeState({
      exchange: 'dense',
      paramCount: 4,
      valueType: 'f32',
      layerSizes: [4],
      learningRate: 0.1,
    });
    exchange.mass.set(b.id, { addedL1: 4, sentL1: 1 });
    const [status] = linkStatuses(
      [{ ...b, session: { ...b.session, rttMs: () => undefined } }],
      exchange,
    );
    expect(status).toMatchObject({ rttMs: null, sentFraction: 0.25 });
  });
});
