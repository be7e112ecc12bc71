import { describe, expect, it } from 'vitest';
import { asPeerId } from '../core';
import { busyColour, describeGraph, groupBySite, linkBetween, meshGraph } from './mesh-model';
import type { PeerRow } from './peer-rows';

const row = (id: string, links: PeerRow['links']): PeerRow => ({
  id,
  name: `n-${id}`,
  kind: 'browser',
  site: undefined,
  self: id === 'a',
  reported: true,
  paused: false,
  backend: 'webgl',
  backendNote: '',
  capacity: 1,
  batchSize: 1,
  weight: 0.5,
  step: 1,
  staleness: 0,
  loss: null,
  accuracy: null,
  links,
  data: undefined,
});
const link = (to: string, bandwidthBps: number, sentFraction: number) => ({
  to: asPeerId(to),
  bandwidthBps,
  rttMs: 1,
  bytesSent: 1,
  sentFraction,
});

describe('meshGraph', () => {
  it('makes an edge per directed link between listed peers, in Mbit/s with its busyness', () => {
    const g = meshGraph(
      [
        row('a', [link('b', 1_250_000, 0.8), link('gone', 1, 1)]),
        row('b', [link('a', 125_000, 0.1)]),
      ],
      { 'a>b': { from: 'a', to: 'b', samples: [], utilisation: 0.6 } },
    );
    expect(g.nodes.map((n) => n.id)).toEqual(['a', 'b']);
    expect(g.edges).toEqual([
      { from: 'a', to: 'b', mbps: 10, share: 0.8, busy: 0.6, between: undefined },
      { from: 'b', to: 'a', mbps: 1, share: 0.1, busy: 0, between: undefined },
    ]);
    expect(describeGraph(g)).toBe(
      'Mesh of 2 peers and 2 directed links; busiest: n-a to n-b, 60% of 10.0 Mbit/s.',
    );
    expect(describeGraph({ nodes: g.nodes.slice(0, 1), edges: [] })).toBe(
      'Mesh of 1 peer, no links yet.',
    );
  });
});

describe('sites', () => {
  const at = (id: string, site: string | undefined, links: PeerRow['links'] = []) => ({
    ...row(id, links),
    site,
  });

  it('groups by site in order of first appearance, peers without a site last', () => {
    const groups = groupBySite([at('a', 'x'), at('b', undefined), at('c', 'y'), at('d', 'x')]);
    expect(groups.map((g) => [g.site, g.members.map((m) => m.id)])).toEqual([
      ['x', ['a', 'd']],
      ['y', ['c']],
      [undefined, ['b']],
    ]);
  });

  it('tells intra-site links from inter-site ones, and puts a site side by side', () => {
    const g = meshGraph(
      [
        at('a', 'x', [link('b', 1, 1), link('c', 1, 0.2), link('d', 1, 1)]),
        at('b', 'y'),
        at('c', 'x'),
        at('d', undefined),
      ],
      {},
    );
    expect(g.nodes.map((n) => n.id)).toEqual(['a', 'c', 'b', 'd']);
    expect(g.edges.map((e) => [e.to, e.between])).toEqual([
      ['b', 'inter'],
      ['c', 'intra'],
      ['d', undefined],
    ]);
    expect(linkBetween('x', 'x')).toBe('intra');
    expect(describeGraph(g)).toMatch(/^Mesh of 4 peers in 2 sites and 3 directed links/);
  });
});

describe('busyColour', () => {
  it('goes from slate when idle through amber to red when saturated, and survives bad input', () => {
    expect(busyColour(0)).toBe('rgb(148 160 178)');
    expect(busyColour(0.5)).toBe('rgb(224 138 0)');
    expect(busyColour(0.75)).toBe('rgb(208 88 14)');
    expect(busyColour(1)).toBe('rgb(192 38 27)');
    expect(busyColour(Number.NaN)).toBe(busyColour(0));
    expect(busyColour(7)).toBe(busyColour(1));
  });
});
