/**
 * The benchmark report's two pictures as hand-written SVG strings: accuracy over time (one line
 * per strategy, the target dashed) and bytes sent per link (grouped bars, one per strategy).
 * No DOM and no chart library, so the bench writes them next to its JSON from plain Node.
 */

import type { PeerProfile, StrategyRun } from './types';

const WIDTH = 720;
const FONT = 'font-family="system-ui, sans-serif"';

// Okabe-Ito: tells strategies apart for colour-blind readers too (yellow left out: too pale
// on white). Colours go by run order, so both plots of one report colour a strategy alike.
const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#8C564B',
  '#7F7F7F',
];

/** The colour of the `index`-th run (the legend and the lines agree on it). */
export function strategyColour(index: number): string {
  return PALETTE[index % PALETTE.length] ?? '#000000';
}

/** Text and attribute values made safe for XML. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** A coordinate with one decimal: enough for a 720-pixel picture, and short. */
function px(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

/** A tick step of 1, 2 or 5 times a power of ten that cuts `range` into about `count` pieces. */
function niceStep(range: number, count: number): number {
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const raw = range / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  const factor = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return factor * power;
}

/** Ticks from `from` to `to` at multiples of `step`, with labels to the step's precision. */
function ticks(from: number, to: number, step: number): { value: number; label: string }[] {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const out: { value: number; label: string }[] = [];
  const first = Math.ceil(from / step - 1e-9);
  for (let i = first; i * step <= to + step * 1e-9; i++) {
    const value = i * step;
    out.push({ value, label: value.toFixed(decimals) });
  }
  return out;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  const extra = attrs === '' ? '' : ` ${attrs}`;
  return `<text x="${px(x)}" y="${px(y)}"${extra}>${escapeXml(content)}</text>`;
}

function svgOpen(height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(WIDTH / 2, 22, title, 'text-anchor="middle" font-size="15" font-weight="bold"'),
  ];
}

export interface AccuracyPlotOptions {
  readonly title: string;
  readonly targetAccuracy: number;
  readonly budgetS: number;
  /** Label of the time axis, e.g. "virtual time (s)". */
  readonly xLabel: string;
}

/**
 * A line chart of mean test accuracy over time, 0..budgetS on x and from the lowest accuracy
 * seen (floored to a tenth, and no lower than 0.25 under the target; lower values are drawn on
 * the axis) to 1 on y, one polyline per run, a legend and the target dashed.
 * Samples past the budget or not finite are left out.
 *
 * @example
 * writeFileSync('accuracy.svg', accuracyPlot(runs, { title: 'het-3', targetAccuracy: 0.9,
 *   budgetS: 300, xLabel: 'virtual time (s)' }));
 */
export function accuracyPlot(runs: readonly StrategyRun[], opts: AccuracyPlotOptions): string {
  const height = 400;
  const left = 60;
  const right = WIDTH - 150;
  const top = 40;
  const bottom = height - 50;
  const budget = Number.isFinite(opts.budgetS) && opts.budgetS > 0 ? opts.budgetS : 1;
  const hasTarget = Number.isFinite(opts.targetAccuracy);

  const curves = runs.map((run) =>
    run.curve.filter(
      (p) => Number.isFinite(p.t) && Number.isFinite(p.accuracy) && p.t >= 0 && p.t <= budget,
    ),
  );
  let lowest = hasTarget ? Math.min(1, opts.targetAccuracy) : 1;
  for (const points of curves) for (const p of points) lowest = Math.min(lowest, p.accuracy);
  // The race is near the target: the first seconds from 10% up would squash it into a few
  // pixels. Values below the axis are drawn on it.
  if (hasTarget) lowest = Math.max(lowest, opts.targetAccuracy - 0.25);
  // At least a tenth of range, so a flat curve at 1.0 still has a y axis.
  const yMin = Math.min(0.9, Math.max(0, Math.floor(lowest * 10 + 1e-9) / 10));
  const yMax = 1;
  const x = (t: number) => left + (t / budget) * (right - left);
  const y = (a: number) =>
    bottom - ((Math.min(yMax, Math.max(yMin, a)) - yMin) / (yMax - yMin)) * (bottom - top);

  const parts = svgOpen(height, opts.title);
  // Grid and ticks.
  for (const tick of ticks(yMin, yMax, niceStep(yMax - yMin, 5))) {
    parts.push(
      `<line x1="${left}" y1="${px(y(tick.value))}" x2="${right}" y2="${px(y(tick.value))}" stroke="#e5e5e5"/>`,
      text(left - 6, y(tick.value) + 4, tick.label, 'text-anchor="end"'),
    );
  }
  for (const tick of ticks(0, budget, niceStep(budget, 6))) {
    parts.push(
      `<line x1="${px(x(tick.value))}" y1="${bottom}" x2="${px(x(tick.value))}" y2="${bottom + 5}" stroke="#333333"/>`,
      text(x(tick.value), bottom + 18, tick.label, 'text-anchor="middle"'),
    );
  }
  parts.push(
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333333"/>`,
    text((left + right) / 2, height - 12, opts.xLabel, 'text-anchor="middle"'),
    text(
      16,
      (top + bottom) / 2,
      'mean test accuracy',
      `text-anchor="middle" transform="rotate(-90 16 ${px((top + bottom) / 2)})"`,
    ),
  );
  if (hasTarget && opts.targetAccuracy >= yMin && opts.targetAccuracy <= yMax) {
    const ty = px(y(opts.targetAccuracy));
    parts.push(
      `<line x1="${left}" y1="${ty}" x2="${right}" y2="${ty}" stroke="#777777" stroke-dasharray="6 4"/>`,
      // At the left end: there the curves are still low, at the right they crowd the target.
      text(left + 6, y(opts.targetAccuracy) - 5, `target ${opts.targetAccuracy}`, 'fill="#555555"'),
    );
  }

  // One polyline per run, even an empty one, so line i is run i; a lone sample gets a dot,
  // since a one-point polyline draws nothing.
  curves.forEach((points, i) => {
    const colour = strategyColour(i);
    const coords = points.map((p) => `${px(x(p.t))},${px(y(p.accuracy))}`).join(' ');
    const name = escapeXml(runs[i]?.strategy ?? '');
    parts.push(
      // DLion's ablations dashed: each lies on top of DLion wherever its technique is idle.
      `<polyline data-strategy="${name}" points="${coords}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"${name.startsWith('dlion-') ? ' stroke-dasharray="5 3"' : ''}/>`,
    );
    const only = points.length === 1 ? points[0] : undefined;
    if (only !== undefined)
      parts.push(
        `<circle cx="${px(x(only.t))}" cy="${px(y(only.accuracy))}" r="3" fill="${colour}"/>`,
      );
  });

  // Legend, right of the plot.
  runs.forEach((run, i) => {
    const ly = top + 8 + i * 20;
    parts.push(
      `<line x1="${right + 16}" y1="${ly}" x2="${right + 40}" y2="${ly}" stroke="${strategyColour(i)}" stroke-width="3"/>`,
      text(right + 46, ly + 4, run.strategy),
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface BytesPlotOptions {
  readonly title: string;
  /** The scenario's peers: a link's label then shows its sender's uplink cap (or "uncapped"). */
  readonly peers?: readonly PeerProfile[] | undefined;
}

/** Bytes of one run per link key ("from\u0000to"), links listed twice summed. */
function bytesByLink(run: StrategyRun): Map<string, number> {
  const out = new Map<string, number>();
  for (const link of run.links) {
    const key = `${link.from}\u0000${link.to}`;
    const bytes = Number.isFinite(link.bytesSent) ? Math.max(0, link.bytesSent) : 0;
    out.set(key, (out.get(key) ?? 0) + bytes);
  }
  return out;
}

/**
 * Grouped horizontal bars, linear scale in MB (10^6 bytes): one group per link (from -> to,
 * with the sender's uplink cap when `peers` is given), one bar per run, the runs' totals in
 * the legend. Linear, not log: "dlion sends a third of bsp on the 2 Mbit/s link" should look
 * like a third, and a link that carried nothing is a zero-length bar rather than minus infinity.
 */
export function bytesPlot(runs: readonly StrategyRun[], opts: BytesPlotOptions): string {
  const perRun = runs.map(bytesByLink);
  const links: string[] = [];
  for (const map of perRun) for (const key of map.keys()) if (!links.includes(key)) links.push(key);
  links.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  const barH = 10;
  const groupGap = 12;
  const groupH = Math.max(1, runs.length) * barH + groupGap;
  const top = 40;
  const left = 150;
  const right = WIDTH - 170;
  const bottom = top + Math.max(1, links.length) * groupH;
  const height = bottom + 50;

  let maxMb = 0;
  for (const map of perRun) for (const bytes of map.values()) maxMb = Math.max(maxMb, bytes / 1e6);
  const step = niceStep(maxMb, 5);
  const axisMax = maxMb > 0 ? Math.ceil(maxMb / step - 1e-9) * step : 1;
  const x = (mb: number) => left + (mb / axisMax) * (right - left);

  // The sender's cap under each link's name: the slow links are the point of this picture.
  const uplinks = new Map<string, string>();
  for (const peer of opts.peers ?? [])
    uplinks.set(
      peer.name,
      peer.uplinkMbps === undefined ? '(uncapped)' : `(${peer.uplinkMbps} Mbit/s up)`,
    );

  const parts = svgOpen(height, opts.title);
  for (const tick of ticks(0, axisMax, maxMb > 0 ? step : 0.2)) {
    parts.push(
      `<line x1="${px(x(tick.value))}" y1="${top}" x2="${px(x(tick.value))}" y2="${bottom}" stroke="#e5e5e5"/>`,
      text(x(tick.value), bottom + 16, tick.label, 'text-anchor="middle"'),
    );
  }
  parts.push(
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333333"/>`,
    text(
      (left + right) / 2,
      height - 12,
      'MB sent per link (linear scale)',
      'text-anchor="middle"',
    ),
  );
  if (links.length === 0)
    parts.push(
      text(
        (left + right) / 2,
        (top + bottom) / 2,
        'no link traffic recorded',
        'text-anchor="middle" fill="#777777"',
      ),
    );

  links.forEach((key, g) => {
    const [from = '', to = ''] = key.split('\u0000');
    const groupTop = top + g * groupH + groupGap / 2;
    const cap = uplinks.get(from);
    const label = `${from} → ${to}`;
    parts.push(text(left - 8, groupTop + (runs.length * barH) / 2 + 2, label, 'text-anchor="end"'));
    if (cap !== undefined)
      parts.push(
        text(
          left - 8,
          groupTop + (runs.length * barH) / 2 + 14,
          cap,
          'text-anchor="end" font-size="10" fill="#666666"',
        ),
      );
    perRun.forEach((map, i) => {
      const mb = (map.get(key) ?? 0) / 1e6;
      parts.push(
        `<rect x="${left}" y="${px(groupTop + i * barH)}" width="${px(x(mb) - left)}" height="${barH - 1}" fill="${strategyColour(i)}"/>`,
      );
    });
  });

  runs.forEach((run, i) => {
    const ly = top + 8 + i * 20;
    const total = Number.isFinite(run.bytesSent) ? run.bytesSent / 1e6 : 0;
    parts.push(
      `<rect x="${right + 16}" y="${ly - 6}" width="12" height="12" fill="${strategyColour(i)}"/>`,
      text(right + 34, ly + 4, `${run.strategy}: ${total.toFixed(1)} MB total`),
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
