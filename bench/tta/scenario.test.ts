import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_SCENARIOS,
  loadScenario,
  parseScenario,
  roomConfigFor,
  SCENARIO_DIR,
  ScenarioError,
  siteShapingFor,
} from './scenario';

const minimal = {
  description: 'two peers',
  model: 'mlp',
  dataset: 'mnist',
  sharding: { kind: 'iid' },
  peers: [{ slowdown: 1 }, { slowdown: 2, uplinkMbps: 5 }],
  targetAccuracy: 0.9,
  budgetS: 30,
  evalEveryS: 2,
};

describe('parseScenario', () => {
  it('names peers, fills defaults and expands count', () => {
    const s = parseScenario('x', {
      ...minimal,
      peers: [{ name: 'edge', slowdown: 2, count: 3 }, { uplinkMbps: 10 }],
    });
    expect(s.peers.map((p) => p.name)).toEqual(['edge-1', 'edge-2', 'edge-3', 'p4']);
    expect(s.peers[3]).toMatchObject({ slowdown: 1, uplinkMbps: 10 });
    expect(s.testSamples).toBe(2000);
    expect(s.timeline).toEqual([]);
  });

  it('reads sites and site links, and gives the shaper bits per second', () => {
    const s = parseScenario('sites', {
      ...minimal,
      peers: [
        { site: 'a', count: 2 },
        { site: 'b', slowdown: 2 },
      ],
      siteLinks: { intra: { mbps: 100, latencyMs: 1 }, inter: { mbps: 5, latencyMs: 40 } },
    });
    expect(s.peers.map((p) => p.site)).toEqual(['a', 'a', 'b']);
    expect(siteShapingFor(s)).toEqual({
      intra: { bps: 100e6, latencyMs: 1 },
      inter: { bps: 5e6, latencyMs: 40 },
      pairs: undefined,
    });
    expect(siteShapingFor(parseScenario('plain', minimal))).toBeUndefined();
    expect(() => parseScenario('half', { ...minimal, siteLinks: { inter: { mbps: 5 } } })).toThrow(
      /siteLinks needs a site on every peer/,
    );
  });

  it.each([
    ['a bad model', { model: 'resnet' }, 'model'],
    ['a slowdown below 1', { peers: [{ slowdown: 0.5 }, {}] }, 'peers.0.slowdown'],
    ['a single peer', { peers: [{}] }, '2 to 64 peers'],
    ['an unknown key', { extra: 1 }, 'extra'],
    [
      'a timeline peer out of range',
      { timeline: [{ atS: 1, peer: 2, slowdown: 2 }] },
      'names peer 2',
    ],
    ['a change that changes nothing', { timeline: [{ atS: 1, peer: 0 }] }, 'changes nothing'],
    ['a config field the harness owns', { config: { strategy: 'bsp' } }, 'config.strategy'],
    ['a bad room config value', { config: { learningRate: -1 } }, 'learningRate'],
  ])('refuses %s with a ScenarioError that says where', (_, patch, where) => {
    expect(() => parseScenario('bad', { ...minimal, ...patch })).toThrow(ScenarioError);
    expect(() => parseScenario('bad', { ...minimal, ...patch })).toThrow(where);
  });

  it('gives each strategy the same room config apart from the strategy, over as many slots as peers', () => {
    const s = parseScenario('x', { ...minimal, config: { globalBatch: 64 } });
    const a = roomConfigFor(s, 'dlion');
    const b = roomConfigFor(s, 'bsp');
    expect({ ...a, strategy: 'bsp' }).toEqual(b);
    expect(a).toMatchObject({ globalBatch: 64, maxPeers: 2, model: 'mlp' });
  });
});

describe('built-in scenarios', () => {
  it('every file in bench/scenarios is valid, and every built-in name has a file', async () => {
    const files = readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.json'));
    for (const f of files) await loadScenario(f.replace(/\.json$/, ''));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(
      expect.arrayContaining([...BUILTIN_SCENARIOS].sort()),
    );
  });

  it('an unknown name lists the built-in ones', async () => {
    await expect(loadScenario('nope')).rejects.toThrow(/built-in: homogeneous/);
  });
});
