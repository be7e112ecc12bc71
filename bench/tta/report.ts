/**
 * The time-to-accuracy benchmark's readable report: one markdown section per output file, with
 * the command that made it, the scenario, the results table (time to target, accuracy at the
 * budget, bytes, speed-ups), the plots and the bytes on every link. Pure: a string out.
 */

import type { SiteLink } from '../../mesh';
import { bestBaseline, siteTraffic } from './metrics';
import type { BenchOutput, Ratio, Scenario, StrategyRun } from './types';

/** Bytes per MB in the tables: decimal (10^6), like link speeds in Mbit/s. */
const MB = 1e6;
/** The calibration block is a reminder of what the sim charged, not the data: keep it short. */
const MAX_CALIBRATION_LINES = 40;

/**
 * A ratio as the tables show it: "2.4x", "≥ 3.1x" for a lower bound, "—" for none.
 *
 * @example
 * formatRatio({ value: 3.14, atLeast: true }) // "≥ 3.1x"
 */
export function formatRatio(ratio: Ratio | null): string {
  if (ratio === null || Number.isNaN(ratio.value)) return '—';
  const value = Number.isFinite(ratio.value) ? `${ratio.value.toFixed(1)}x` : '∞';
  return ratio.atLeast ? `≥ ${value}` : value;
}

/** A number to `digits` decimals, or "—" when there is none (NaN, null). */
function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? '—'
    : value.toFixed(digits);
}

function megabytes(bytes: number): string {
  return fixed(bytes / MB, 2);
}

/** A table cell: a `|` would end the cell and a newline the row. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replace(/\r?\n/g, ' ');
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** A fenced block whose fence is longer than any backtick run inside, so nothing closes it early. */
function codeBlock(language: string, body: string): string {
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${body}\n${fence}`;
}

function siteLinkText(l: SiteLink | undefined): string {
  if (l === undefined) return 'unshaped';
  return `${l.mbps === undefined ? 'uncapped' : `${l.mbps} Mbit/s`}, ${l.latencyMs ?? 0} ms`;
}

function peersSection(spec: Scenario): string[] {
  const withSites = spec.peers.some((p) => p.site !== undefined);
  const lines = [
    row(['peer', ...(withSites ? ['site'] : []), 'slowdown', 'uplink (Mbit/s)', 'latency (ms)']),
    row(['---', ...(withSites ? ['---'] : []), '---:', '---:', '---:']),
  ];
  for (const peer of spec.peers)
    lines.push(
      row([
        cell(peer.name),
        ...(withSites ? [cell(peer.site ?? '—')] : []),
        `${peer.slowdown}x`,
        peer.uplinkMbps === undefined ? 'uncapped' : `${peer.uplinkMbps}`,
        `${peer.latencyMs ?? 0}`,
      ]),
    );
  const sl = spec.siteLinks;
  if (sl !== undefined) {
    lines.push(
      '',
      `Links inside a site: ${siteLinkText(sl.intra)}; between sites: ${siteLinkText(sl.inter)}${(sl.pairs ?? []).map((p) => `; ${cell(p.a)} <-> ${cell(p.b)}: ${siteLinkText(p)}`).join('')}.`,
    );
  }
  if (spec.timeline.length > 0) {
    lines.push('', 'Timeline:', '', row(['at (s)', 'peer', 'slowdown', 'uplink (Mbit/s)']));
    lines.push(row(['---:', '---', '---:', '---:']));
    for (const change of spec.timeline)
      lines.push(
        row([
          `${change.atS}`,
          cell(spec.peers[change.peer]?.name ?? `#${change.peer}`),
          change.slowdown === undefined ? '' : `${change.slowdown}x`,
          change.uplinkMbps === undefined ? '' : `${change.uplinkMbps}`,
        ]),
      );
  }
  return lines;
}

function baselineSentence(output: BenchOutput): string {
  const best = bestBaseline(output.runs, output.targetAccuracy, output.budgetS);
  if (best === null) return 'None of ako, gaia and hop ran.';
  if (best.timeToTargetS !== null)
    return `Best of ako/gaia/hop: **${best.strategy}**, at the target after ${fixed(best.timeToTargetS, 1)} s.`;
  return `None of ako/gaia/hop reached the target; the best of them at the budget was **${best.strategy}** (${fixed(best.accuracyAtBudget, 3)}), so the ratios against it are lower bounds.`;
}

function linksSection(run: StrategyRun): string[] {
  const lines = [`#### ${cell(run.strategy)}`, ''];
  if (run.links.length === 0) return [...lines, 'No link traffic recorded.'];
  lines.push(
    row(['from -> to', 'MB', 'sent fraction', 'estimate Mbit/s', 'cap Mbit/s']),
    row(['---', '---:', '---:', '---:', '---:']),
  );
  for (const link of run.links)
    lines.push(
      row([
        `${cell(link.from)} -> ${cell(link.to)}`,
        megabytes(link.bytesSent),
        fixed(link.sentFraction, 2),
        fixed(link.estimatedMbps, 2),
        fixed(link.capMbps, 2),
      ]),
    );
  return lines;
}

function calibrationBlock(calibration: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(calibration, null, 2) ?? String(calibration);
  } catch {
    // A cycle or a bigint: the text is only for a person to read.
    json = String(calibration);
  }
  const lines = json.split('\n');
  const shown =
    lines.length <= MAX_CALIBRATION_LINES
      ? lines
      : [
          ...lines.slice(0, MAX_CALIBRATION_LINES),
          `… ${lines.length - MAX_CALIBRATION_LINES} more lines in the JSON output`,
        ];
  return codeBlock('json', shown.join('\n'));
}

/**
 * The markdown section for one bench output; `plotFiles` are the paths (relative to where the
 * markdown will live) of the SVGs made by accuracyPlot and bytesPlot.
 *
 * @example
 * writeFileSync('report.md', renderReport(output, { accuracy: 'het-3-accuracy.svg',
 *   bytes: 'het-3-bytes.svg' }));
 */
export function renderReport(
  output: BenchOutput,
  plotFiles: { accuracy: string; bytes: string },
): string {
  const spec = output.scenarioSpec;
  const timeUnit = output.mode === 'sim' ? 'virtual seconds' : 'wall-clock seconds';
  const lines: string[] = [
    `## ${output.scenario} (${output.mode})`,
    '',
    codeBlock('sh', output.command),
    '',
    spec.description,
    '',
    `Model \`${spec.model}\` on \`${spec.dataset}\`, sharding \`${spec.sharding.kind}\`, started ${output.startedAt}.`,
    '',
    ...peersSection(spec),
    '',
    `Target: mean test accuracy ${output.targetAccuracy} over the peers. Budget: ${output.budgetS} s (${timeUnit}); accuracy sampled every ${spec.evalEveryS} s on ${spec.testSamples} test images.`,
    '',
    row([
      'strategy',
      'time to target (s)',
      'accuracy at budget',
      'bytes sent (MB)',
      'vs bsp',
      'vs best of ako/gaia/hop',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const result of output.results)
    lines.push(
      row([
        cell(result.strategy),
        result.timeToTargetS === null ? 'not reached' : fixed(result.timeToTargetS, 1),
        fixed(result.accuracyAtBudget, 3),
        megabytes(result.bytesSent),
        formatRatio(result.speedupOverBsp),
        formatRatio(result.speedupOverBestBaseline),
      ]),
    );
  lines.push(
    '',
    'Ratios are time to target of the other strategy over this one\'s; "≥" marks a lower bound (the other never reached the target, so the budget stands in for its time). For ako, gaia and hop the last column compares with the best of the other two.',
    '',
    baselineSentence(output),
    '',
    `![accuracy over time](${plotFiles.accuracy})`,
    '',
    `![bytes sent per link](${plotFiles.bytes})`,
    '',
    '### Runs',
    '',
    row(['strategy', 'steps per peer', 'merges kept / rolled back', 'wall time (s)']),
    row(['---', '---', '---:', '---:']),
  );
  for (const run of output.runs) {
    const steps = Object.entries(run.steps)
      .map(([peer, n]) => `${peer}: ${n}`)
      .join(', ');
    lines.push(
      row([
        cell(run.strategy),
        cell(steps === '' ? '—' : steps),
        `${run.merges.kept} / ${run.merges.rolledBack}`,
        fixed(run.wallS, 1),
      ]),
    );
  }
  const attacked = output.runs.filter((r) => r.attack !== undefined);
  if (attacked.length > 0) {
    lines.push(
      '',
      '### Under attack',
      '',
      "Adversaries (mesh/adversary.ts) in place of the peers named; the accuracy above is the honest peers'. Refusals are what the honest peers counted, summed.",
      '',
      row([
        'strategy',
        'attack',
        'replaced',
        'defences',
        'refused (kind: count)',
        "adversaries' batch share",
      ]),
      row(['---', '---', '---', '---', '---', '---:']),
    );
    for (const run of attacked) {
      const a = run.attack!;
      const counted = Object.entries(a.refusals)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ');
      lines.push(
        row([
          cell(run.strategy),
          cell(a.kind),
          cell(a.replaced.join(', ')),
          a.undefended ? 'off' : 'on',
          cell(counted === '' ? '—' : counted),
          `${fixed(100 * a.adversaryShare, 1)}%`,
        ]),
      );
    }
  }
  if (spec.peers.some((p) => p.site !== undefined)) {
    lines.push(
      '',
      '### Inside sites and between them',
      '',
      'The share of the gradient sent is the L1 mass each link carried over what its sender produced, averaged over the links of each kind.',
      '',
      row([
        'strategy',
        'MB inside sites',
        'MB between sites',
        'share of the gradient sent, inside',
        'between',
      ]),
      row(['---', '---:', '---:', '---:', '---:']),
    );
    for (const run of output.runs) {
      const t = siteTraffic(run.links, spec.peers);
      lines.push(
        row([
          cell(run.strategy),
          megabytes(t.intra.bytes),
          megabytes(t.inter.bytes),
          fixed(t.intra.meanSentFraction, 2),
          fixed(t.inter.meanSentFraction, 2),
        ]),
      );
    }
  }
  lines.push('', '### Bytes per link', '');
  for (const run of output.runs) lines.push(...linksSection(run), '');
  if (output.calibration !== undefined)
    lines.push('### Calibration', '', calibrationBlock(output.calibration), '');
  return `${lines.join('\n').trimEnd()}\n`;
}
