/**
 * The time-to-accuracy benchmark (DESIGN.md 3.6): DLion against the synchronous, Ako, Gaia and
 * Hop baselines, and DLion's ablations, on one scenario, in one run. Per strategy: time to the
 * target accuracy, accuracy at the time budget, bytes sent, and speed-ups over bsp and over the
 * best of ako/gaia/hop.
 *
 *   npm run bench -- --scenario both                       # sim mode, the five strategies
 *   npm run bench -- --scenario both --strategies all      # plus the three ablations
 *   npm run bench -- --scenario my-lab.json --mode live    # Node peers over real WebRTC
 *   npm run bench -- --scenario quick --mode live --browsers
 *   npm run bench -- --quick                               # the CI smoke run (a few minutes)
 *
 * Modes: `sim` runs the real peer runtime and real tfjs training on a virtual clock (compute
 * charged from a cost table measured first, network from bytes over the caps), so that 8 to 32
 * peers compare fairly on a 2-core machine; `live` runs real peers in real time.
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ROOM_CONFIG, STRATEGIES, type StrategyName } from '../core';
import { ATTACK_KINDS, type AttackKind } from '../mesh';
import { runLive } from './tta/live';
import { summarize, summarizeSeeds } from './tta/metrics';
import { accuracyPlot, bytesPlot } from './tta/plots';
import { renderReport } from './tta/report';
import { loadScenario, ScenarioError } from './tta/scenario';
import { runSim } from './tta/sim';
import { type ComputeCosts, calibrate } from './tta/sim-trainer';
import type { BenchOutput, Scenario, StrategyRun } from './tta/types';

const USAGE = `usage: npm run bench -- [--scenario NAME|FILE] [--strategies LIST|all] [--mode sim|live]
                        [--browsers | --netns] [--out FILE] [--report FILE.md] [--quick]
                        [--budget S] [--target ACC] [--calibration FILE] [--seed N | --seeds LIST] [--log-dir DIR]
                        [--attack KIND [--attackers N] [--undefended]]
       npm run bench -- --from RESULT.json --report FILE.md

  --scenario     built-in name (homogeneous, compute, bandwidth, both, dynamic, each with a
                 -noniid twin; quick) or a scenario JSON file (default: both)
  --strategies   comma-separated (default dlion,bsp,ako,gaia,hop); 'all' adds the ablations
                 dlion-no-wdb, dlion-no-prio and dlion-no-dkt
  --mode         sim (default): virtual clock, measured compute costs; live: real time
  --browsers     live mode with Chromium tabs instead of Node peer processes
  --netns        live mode with each Node peer in its own network namespace, each of its
                 outgoing links shaped by the kernel (tc htb at the scenario's uplinkMbps),
                 the app's shaper off; needs root; scenarios with latency or siteLinks are
                 refused
  --out          the JSON result (default bench/results/tta-SCENARIO-MODE.json)
  --report       also write a markdown report there, with SVG plots beside it
  --quick        the CI smoke run: scenario quick, strategies dlion,bsp, sim mode
  --budget       override the scenario's time budget, s
  --target       override the scenario's target accuracy
  --calibration  sim mode: read the compute costs from FILE if it exists, else measure
                 and write them there (the same costs for several runs)
  --seed         seeds the room (initial weights, shards) and the peers' randomness; without
                 it the room seed is the scenario's (else 1) and the peers' randomness 1
  --seeds        several seeds, e.g. 1-5 or 1,4,7: one run per seed (FILE-seedN.json), then
                 each strategy's accuracy at the budget over the seeds, in FILE
  --log-dir      where the peers' logs go (default a fresh folder under the OS temp dir)
  --attack       sim mode: adversaries in place of p3 (and p4, ... with --attackers N); KIND is
                 ${ATTACK_KINDS.join(', ')} (mesh/adversary.ts); the accuracy is the honest peers'
  --undefended   with --attack: the room's defences off (clipFactor 0, shareCap 1000)
  --from         run nothing: write the report and plots of a result file made earlier
                 (with --target or --budget, its metrics read again from the saved curves)`;

class UsageError extends Error {
  override name = 'UsageError';
}

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        scenario: { type: 'string' },
        strategies: { type: 'string' },
        mode: { type: 'string', default: 'sim' },
        browsers: { type: 'boolean', default: false },
        netns: { type: 'boolean', default: false },
        out: { type: 'string' },
        report: { type: 'string' },
        quick: { type: 'boolean', default: false },
        budget: { type: 'string' },
        target: { type: 'string' },
        calibration: { type: 'string' },
        seed: { type: 'string' },
        seeds: { type: 'string' },
        'log-dir': { type: 'string' },
        attack: { type: 'string' },
        attackers: { type: 'string' },
        undefended: { type: 'boolean', default: false },
        from: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
})();

const say = (line: string) => process.stderr.write(`${line}\n`);

function parseStrategies(list: string): StrategyName[] {
  if (list === 'all') return [...STRATEGIES];
  const names = list.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(STRATEGIES as readonly string[]).includes(n)) {
      throw new UsageError(`unknown strategy '${n}' (known: ${STRATEGIES.join(', ')})`);
    }
  }
  if (new Set(names).size !== names.length) throw new UsageError('a strategy is listed twice');
  return names as StrategyName[];
}

/** `1-5` or `1,4,7` (or both: `1-3,9`): distinct seeds >= 0, at most 50. */
function parseSeeds(v: string): number[] {
  const seeds: number[] = [];
  for (const part of v.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`--seeds: bad value '${v}' (e.g. 1-5 or 1,4,7)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to > 0xffff_ffff) throw new UsageError(`--seeds: ${to} is above 4294967295`);
    if (to < from) throw new UsageError(`--seeds: ${part.trim()} runs backwards`);
    for (let k = from; k <= to && seeds.length <= 50; k++) seeds.push(k);
  }
  if (seeds.length > 50) throw new UsageError('--seeds: at most 50 seeds');
  if (new Set(seeds).size !== seeds.length) throw new UsageError('--seeds: a seed is listed twice');
  return seeds;
}

function numberArg(name: string, v: string | undefined, ok: (x: number) => boolean) {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!(Number.isFinite(x) && ok(x))) throw new UsageError(`--${name}: bad value '${v}'`);
  return x;
}

async function costsFor(scenario: Scenario, file: string | undefined): Promise<ComputeCosts> {
  if (file !== undefined) {
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as ComputeCosts;
      if (saved.model === scenario.model && Array.isArray(saved.stepMs)) {
        say(`calibration: read from ${file} (${saved.measuredOn})`);
        return saved;
      }
      say(`calibration: ${file} is for ${saved.model}, measuring ${scenario.model}`);
    } catch {
      // Not there yet (or unreadable): measure and write it.
    }
  }
  const maxBatch = Number(scenario.config.globalBatch ?? DEFAULT_ROOM_CONFIG.globalBatch);
  const costs = await calibrate(scenario.model, scenario.dataset, maxBatch, say);
  if (file !== undefined) writeFileSync(file, `${JSON.stringify(costs, null, 2)}\n`);
  return costs;
}

/** The markdown report of `output` at `file`, with its two SVG plots beside it. */
function writeReport(output: BenchOutput, file: string): void {
  const stem = file.replace(/\.md$/, '');
  const xLabel = output.mode === 'sim' ? 'virtual time, s' : 'time, s';
  const plots = { accuracy: `${stem}-accuracy.svg`, bytes: `${stem}-bytes.svg` };
  const title = `${output.scenario} (${output.mode})`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    plots.accuracy,
    accuracyPlot(output.runs, {
      title: `Mean test accuracy: ${title}`,
      targetAccuracy: output.targetAccuracy,
      budgetS: output.budgetS,
      xLabel,
    }),
  );
  writeFileSync(
    plots.bytes,
    bytesPlot(output.runs, {
      title: `Bytes sent per link: ${title}`,
      peers: output.scenarioSpec.peers,
    }),
  );
  const relative = { accuracy: basename(plots.accuracy), bytes: basename(plots.bytes) };
  writeFileSync(file, renderReport(output, relative));
  say(`bench: wrote ${file}, ${plots.accuracy}, ${plots.bytes}`);
}

async function main(): Promise<number> {
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.from !== undefined) {
    if (args.report === undefined) throw new UsageError('--from needs --report FILE.md');
    let saved: BenchOutput;
    try {
      saved = JSON.parse(readFileSync(args.from, 'utf8')) as BenchOutput;
    } catch (e) {
      throw new UsageError(`--from: cannot read ${args.from}: ${(e as Error).message}`);
    }
    if (!Array.isArray(saved.runs) || saved.scenarioSpec === undefined) {
      throw new UsageError(`--from: ${args.from} is not a result of npm run bench`);
    }
    // The metrics come from the saved curves: a new --target or --budget reads them again.
    const targetAccuracy =
      numberArg('target', args.target, (x) => x > 0 && x < 1) ?? saved.targetAccuracy;
    const budget = numberArg('budget', args.budget, (x) => x > 0) ?? saved.budgetS;
    writeReport(
      {
        ...saved,
        targetAccuracy,
        budgetS: budget,
        results: summarize(saved.runs, targetAccuracy, budget),
      },
      args.report,
    );
    return 0;
  }
  const mode = args.mode;
  if (mode !== 'sim' && mode !== 'live') throw new UsageError(`--mode must be sim or live`);
  if (args.browsers && mode !== 'live') throw new UsageError('--browsers needs --mode live');
  if (args.netns && mode !== 'live') throw new UsageError('--netns needs --mode live');
  if (args.netns && args.browsers)
    throw new UsageError('--netns is for Node peers, not --browsers');
  const loaded = await loadScenario(args.scenario ?? (args.quick ? 'quick' : 'both'));
  const budgetS = numberArg('budget', args.budget, (x) => x > 0);
  const target = numberArg('target', args.target, (x) => x > 0 && x < 1);
  const seedArg = numberArg(
    'seed',
    args.seed,
    (x) => Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff,
  );
  const seedList = args.seeds === undefined ? undefined : parseSeeds(args.seeds);
  if (seedList !== undefined && seedArg !== undefined) {
    throw new UsageError('--seed and --seeds do not go together');
  }
  const attackKind = args.attack;
  if (attackKind !== undefined && !(ATTACK_KINDS as readonly string[]).includes(attackKind)) {
    throw new UsageError(
      `--attack: unknown kind '${attackKind}' (known: ${ATTACK_KINDS.join(', ')})`,
    );
  }
  if (attackKind !== undefined && mode !== 'sim') throw new UsageError('--attack needs --mode sim');
  if (attackKind === undefined && (args.attackers !== undefined || args.undefended)) {
    throw new UsageError('--attackers and --undefended go with --attack');
  }
  const attack =
    attackKind === undefined
      ? undefined
      : {
          kind: attackKind as AttackKind,
          count: numberArg('attackers', args.attackers, (x) => Number.isInteger(x) && x >= 1) ?? 1,
          undefended: args.undefended,
        };
  const scenario: Scenario = {
    ...loaded,
    ...(budgetS === undefined ? {} : { budgetS }),
    ...(target === undefined ? {} : { targetAccuracy: target }),
    ...(attack?.undefended ? { config: { ...loaded.config, clipFactor: 0, shareCap: 1000 } } : {}),
  };
  /** --seed also seeds the room: the model's initial weights and the shards. */
  const seeded = (seed: number | undefined): Scenario =>
    seed === undefined ? scenario : { ...scenario, config: { ...scenario.config, seed } };
  const strategies = parseStrategies(
    args.strategies ?? (args.quick ? 'dlion,bsp' : 'dlion,bsp,ako,gaia,hop'),
  );
  const modeName =
    mode === 'sim' ? 'sim' : args.browsers ? 'live-browsers' : args.netns ? 'live-netns' : 'live';
  const attackTag =
    attack === undefined ? '' : `-attack-${attack.kind}${attack.undefended ? '-undefended' : ''}`;
  const out =
    args.out ?? join('bench', 'results', `tta-${scenario.name}-${modeName}${attackTag}.json`);
  const logDir =
    args['log-dir'] ?? join(tmpdir(), `dlion-tta-${scenario.name}-${Date.now().toString(36)}`);
  mkdirSync(logDir, { recursive: true });
  say(
    `bench: scenario ${scenario.name} (${scenario.peers.length} peers, ${scenario.model} on ${scenario.dataset}, ${scenario.sharding.kind}), ${modeName} mode, target ${scenario.targetAccuracy}, budget ${scenario.budgetS} s; strategies ${strategies.join(', ')}${seedList === undefined ? '' : `; seeds ${seedList.join(', ')}`}; logs in ${logDir}`,
  );

  // Ctrl-C or SIGTERM: a live run stops its peers and browser before the process goes.
  const abort = new AbortController();
  const stop = (sig: string) => {
    say(`bench: ${sig}, stopping`);
    abort.abort();
    if (mode === 'sim') process.exit(130);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  const costs = mode === 'sim' ? await costsFor(scenario, args.calibration) : undefined;
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;

  /** Every strategy on one seed: runs, writes `file` (and the report), prints the table. */
  const runSeed = async (
    seed: number | undefined,
    file: string,
    report: string | undefined,
  ): Promise<BenchOutput> => {
    const sc = seeded(seed);
    const startedAt = new Date().toISOString();
    const runs: StrategyRun[] = [];
    for (const strategy of strategies) {
      const tag = seed === undefined ? strategy : `${strategy} (seed ${seed})`;
      const run =
        costs !== undefined
          ? await runSim(sc, strategy, {
              costs,
              seed: seed ?? 1,
              logDir,
              progress: say,
              ...(attack === undefined ? {} : { attack }),
            })
          : await runLive(sc, strategy, {
              browsers: args.browsers,
              netns: args.netns,
              logDir,
              progress: say,
              signal: abort.signal,
            });
      runs.push(run);
      const last = run.curve[run.curve.length - 1];
      say(
        `bench: ${tag} done in ${run.wallS.toFixed(0)} s: accuracy ${last?.accuracy.toFixed(3) ?? '-'} at ${last?.t.toFixed(0) ?? '-'} s, ${(run.bytesSent / 1e6).toFixed(1)} MB sent`,
      );
      if (run.attack !== undefined) {
        const counted = Object.entries(run.attack.refusals)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
        say(
          `bench: ${tag} under ${run.attack.kind}${run.attack.undefended ? ' (undefended)' : ''} by ${run.attack.replaced.join(', ')}: refused ${counted || 'nothing'}; the adversaries' share of the batch ${(100 * run.attack.adversaryShare).toFixed(1)}%`,
        );
      }
    }
    const results = summarize(runs, sc.targetAccuracy, sc.budgetS);
    const output: BenchOutput = {
      scenario: sc.name,
      mode: modeName,
      targetAccuracy: sc.targetAccuracy,
      budgetS: sc.budgetS,
      results,
      command,
      startedAt,
      scenarioSpec: sc,
      ...(costs === undefined ? {} : { calibration: costs }),
      runs,
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`);
    say(`bench: wrote ${file}`);
    if (report !== undefined) writeReport(output, report);
    if (seed !== undefined && seedList !== undefined) process.stdout.write(`seed ${seed}:\n`);
    for (const r of results) {
      const ttt = r.timeToTargetS === null ? 'not reached' : `${r.timeToTargetS.toFixed(1)} s`;
      const ratio = (x: { value: number; atLeast: boolean } | null) =>
        x === null ? '-' : `${x.atLeast ? '>=' : ''}${x.value.toFixed(2)}x`;
      process.stdout.write(
        `${r.strategy.padEnd(14)} time to ${sc.targetAccuracy}: ${ttt.padEnd(12)} accuracy at ${sc.budgetS} s: ${r.accuracyAtBudget.toFixed(3)}  ${(r.bytesSent / 1e6).toFixed(1).padStart(8)} MB  vs bsp ${ratio(r.speedupOverBsp)}  vs best baseline ${ratio(r.speedupOverBestBaseline)}\n`,
      );
    }
    return output;
  };

  if (seedList === undefined) {
    await runSeed(seedArg, out, args.report);
    return 0;
  }
  const perSeed: BenchOutput[] = [];
  for (const seed of seedList) {
    const file = out.replace(/(\.json)?$/, `-seed${seed}.json`);
    const report = args.report?.replace(/(\.md)?$/, `-seed${seed}.md`);
    perSeed.push(await runSeed(seed, file, report));
  }
  const summary = summarizeSeeds(
    perSeed.map((o) => o.runs),
    scenario.targetAccuracy,
    scenario.budgetS,
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        scenario: scenario.name,
        mode: modeName,
        targetAccuracy: scenario.targetAccuracy,
        budgetS: scenario.budgetS,
        seeds: seedList,
        command,
        summary,
        perSeed: perSeed.map((o, i) => ({ seed: seedList[i], results: o.results })),
      },
      null,
      2,
    )}\n`,
  );
  say(`bench: wrote ${out}`);
  process.stdout.write(
    `over seeds ${seedList.join(', ')}: accuracy at ${scenario.budgetS} s (mean, min to max), mean of the last quarter, target ${scenario.targetAccuracy} reached (median time), best at the budget\n`,
  );
  for (const r of summary) {
    const a = r.accuracyAtBudget;
    const ttt = r.medianTimeToTargetS === null ? '-' : `${r.medianTimeToTargetS.toFixed(1)} s`;
    process.stdout.write(
      `${r.strategy.padEnd(14)} ${a.mean.toFixed(3)} (${a.min.toFixed(3)} to ${a.max.toFixed(3)})  late ${r.lateAccuracy.toFixed(3)}  reached ${r.reached}/${r.seeds} (${ttt})  best ${r.bestAtBudget}/${r.seeds}\n`,
    );
  }
  return 0;
}

try {
  process.exitCode = await main();
  // tfjs and the live mode's leftovers must not keep a finished benchmark alive.
  process.exit();
} catch (e) {
  if (e instanceof UsageError || e instanceof ScenarioError) {
    process.stderr.write(`bench: ${e.message}\n`);
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`bench: failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
  process.exit();
}
