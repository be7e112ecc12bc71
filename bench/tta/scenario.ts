/**
 * Scenario files of the time-to-accuracy benchmark (DESIGN.md 5): the peers' profiles
 * (slowdown, uplink cap, latency), a timeline of changes, the model and data, the target and
 * the budget. Built-in scenarios live in bench/scenarios/NAME.json; `--scenario` takes a name
 * or a path. A file is validated like any input: a clear ScenarioError names every problem.
 */

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { DATASETS, MODELS, parseRoomConfig, ShardingSchema, type StrategyName } from '../../core';
import { SiteLinksSchema, type SiteShaping, siteShapingFrom } from '../../mesh';
import type { Scenario } from './types';

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

/** Where the built-in scenario files are. */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios');

/** The built-in names the issue asks for; each has a -noniid twin. */
export const BUILTIN_SCENARIOS = [
  'homogeneous',
  'compute',
  'bandwidth',
  'both',
  'dynamic',
  'microclouds',
  'quick',
].flatMap((n) => (n === 'quick' ? [n] : [n, `${n}-noniid`]));

const positive = () => v.pipe(v.number(), v.finite(), v.gtValue(0));

const PeerSchema = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,32}$/))),
  slowdown: v.optional(v.pipe(v.number(), v.finite(), v.minValue(1), v.maxValue(1000)), 1),
  uplinkMbps: v.optional(positive()),
  latencyMs: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(10_000))),
  /** The micro-cloud the peer is in (DESIGN.md 8); siteLinks shape the links by site pair. */
  site: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/))),
  /** The same profile this many times (8 to 32 peers without a long file). */
  count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64)), 1),
});

const ChangeSchema = v.strictObject({
  atS: v.pipe(v.number(), v.finite(), v.minValue(0)),
  peer: v.pipe(v.number(), v.integer(), v.minValue(0)),
  slowdown: v.optional(v.pipe(v.number(), v.finite(), v.minValue(1), v.maxValue(1000))),
  uplinkMbps: v.optional(positive()),
});

const ScenarioSchema = v.strictObject({
  description: v.pipe(v.string(), v.maxLength(2000)),
  model: v.picklist(MODELS),
  dataset: v.picklist(DATASETS),
  sharding: ShardingSchema,
  peers: v.pipe(v.array(PeerSchema), v.minLength(1)),
  config: v.optional(v.record(v.string(), v.unknown()), {}),
  targetAccuracy: v.pipe(v.number(), v.gtValue(0), v.ltValue(1)),
  budgetS: positive(),
  evalEveryS: positive(),
  testSamples: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(10_000)),
    2000,
  ),
  timeline: v.optional(v.array(ChangeSchema), []),
  siteLinks: v.optional(SiteLinksSchema),
});

/** Config fields a scenario may not set: the harness owns them. */
const OWNED_FIELDS = ['strategy', 'model', 'dataset', 'sharding', 'maxPeers'] as const;

/**
 * Validates a parsed scenario file. Expands `count`, names the peers, checks the timeline's
 * peer indices and the room config fields (with the room's own validator).
 */
export function parseScenario(name: string, input: unknown): Scenario {
  const r = v.safeParse(ScenarioSchema, input);
  if (!r.success) {
    const issues = r.issues.map((i) => `${v.getDotPath(i) ?? '$'}: ${i.message}`);
    throw new ScenarioError(`scenario ${name} is invalid:\n  ${issues.join('\n  ')}`);
  }
  const s = r.output;
  const peers = s.peers.flatMap((p, i) =>
    Array.from({ length: p.count }, (_, k) => ({
      name: p.name === undefined ? '' : p.count > 1 ? `${p.name}-${k + 1}` : p.name,
      slowdown: p.slowdown,
      uplinkMbps: p.uplinkMbps,
      latencyMs: p.latencyMs,
      site: p.site,
      profile: i,
    })),
  );
  if (peers.length < 2 || peers.length > 64) {
    throw new ScenarioError(`scenario ${name}: needs 2 to 64 peers, has ${peers.length}`);
  }
  const named = peers.map((p, i) => ({ ...p, name: p.name === '' ? `p${i + 1}` : p.name }));
  if (new Set(named.map((p) => p.name)).size !== named.length) {
    throw new ScenarioError(`scenario ${name}: peer names must be distinct`);
  }
  for (const c of s.timeline) {
    if (c.peer >= named.length) {
      throw new ScenarioError(
        `scenario ${name}: timeline change at ${c.atS} s names peer ${c.peer}, but there are ${named.length}`,
      );
    }
    if (c.slowdown === undefined && c.uplinkMbps === undefined) {
      throw new ScenarioError(`scenario ${name}: timeline change at ${c.atS} s changes nothing`);
    }
  }
  if (s.siteLinks !== undefined && named.some((p) => p.site === undefined)) {
    throw new ScenarioError(`scenario ${name}: siteLinks needs a site on every peer`);
  }
  for (const f of OWNED_FIELDS) {
    if (f in s.config) {
      throw new ScenarioError(
        `scenario ${name}: config.${f} is set by the harness (use the scenario's own field)`,
      );
    }
  }
  const scenario: Scenario = {
    name,
    description: s.description,
    model: s.model,
    dataset: s.dataset,
    sharding: s.sharding,
    peers: named.map(({ profile: _, ...p }) => p),
    config: s.config,
    targetAccuracy: s.targetAccuracy,
    budgetS: s.budgetS,
    evalEveryS: s.evalEveryS,
    testSamples: s.testSamples,
    timeline: [...s.timeline].sort((a, b) => a.atS - b.atS),
    ...(s.siteLinks === undefined ? {} : { siteLinks: s.siteLinks }),
  };
  const config = parseRoomConfig(roomConfigFor(scenario, 'dlion'));
  if (!config.ok) {
    throw new ScenarioError(`scenario ${name}: bad config: ${config.error.message}`);
  }
  return scenario;
}

/**
 * Loads a scenario by built-in name (bench/scenarios/NAME.json) or by path (anything with a
 * slash or ending in .json).
 *
 * @example await loadScenario('both'); await loadScenario('./my-lab.json');
 */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.json');
  if (!isPath && !/^[a-z0-9-]+$/.test(nameOrPath)) {
    throw new ScenarioError(`no scenario named '${nameOrPath}'`);
  }
  const file = isPath ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const known = isPath ? '' : ` (built-in: ${BUILTIN_SCENARIOS.join(', ')})`;
    throw new ScenarioError(`cannot read scenario ${file}: ${(e as Error).message}${known}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`scenario ${file} is not JSON: ${(e as Error).message}`);
  }
  const name = isPath ? (file.split('/').pop() ?? file).replace(/\.json$/, '') : nameOrPath;
  return parseScenario(name, json);
}

/**
 * The room config a strategy runs the scenario with: the scenario's fields, the strategy, and
 * as many shard slots as peers (so the peers split the whole training set between them).
 */
export function roomConfigFor(scenario: Scenario, strategy: StrategyName): Record<string, unknown> {
  return {
    ...scenario.config,
    strategy,
    model: scenario.model,
    dataset: scenario.dataset,
    sharding: scenario.sharding,
    maxPeers: Math.max(2, scenario.peers.length),
  };
}

/** The scenario's siteLinks as the shaper takes them (bits per second), or undefined. */
export function siteShapingFor(scenario: Scenario): SiteShaping | undefined {
  return scenario.siteLinks === undefined ? undefined : siteShapingFrom(scenario.siteLinks);
}
