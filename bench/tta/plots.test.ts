import { describe, expect, it } from 'vitest';
import type { StrategyName } from '../../core';
import { accuracyPlot, bytesPlot, escapeXml } from './plots';
import type { CurvePoint, LinkBytes, StrategyRun } from './types';

function curve(...points: [number, number][]): CurvePoint[] {
  return points.map(([t, accuracy], step) => ({ t, accuracy, minAccuracy: accuracy, step }));
}

function link(from: string, to: string, bytesSent: number): LinkBytes {
  return { from, to, bytesSent, sentFraction: 0.5 };
}

function run(strategy: string, points: CurvePoint[], links: LinkBytes[] = []): StrategyRun {
  return {
    // A name outside StrategyName on purpose: the plots must escape whatever they are given.
    strategy: strategy as StrategyName,
    curve: points,
    bytesSent: links.reduce((sum, l) => sum + l.bytesSent, 0),
    links,
    steps: {},
    merges: { kept: 0, rolledBack: 0 },
    wallS: 1,
  };
}

/**
 * Checks that the tags nest: every opening tag is closed by the matching closing tag, in order.
 * Returns the tag names seen, opening ones counted once (self-closing included).
 */
function checkWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name = '', selfClosing] = match;
    if (closing === '/') {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else {
      seen.push(name);
      if (selfClosing !== '/') stack.push(name);
    }
  }
  expect(stack).toEqual([]);
  // No raw '<' or '&' outside tags and entities: text was escaped.
  const outsideTags = svg.replace(/<[^>]*>/g, '');
  expect(outsideTags).not.toMatch(/[<>]/);
  expect(outsideTags).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
  return seen;
}

const opts = {
  title: 'het-3 <sim>',
  targetAccuracy: 0.9,
  budgetS: 300,
  xLabel: 'virtual time (s)',
};

describe('accuracyPlot', () => {
  const runs = [
    run('dlion', curve([0, 0.1], [100, 0.85], [200, 0.93], [300, 0.95])),
    run('bsp', curve([0, 0.1], [150, 0.7], [300, 0.88])),
    run('a<b & "c"', curve([0, 0.3], [300, 0.6])),
  ];
  const svg = accuracyPlot(runs, opts);

  it('is one well-formed svg element', () => {
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const tags = checkWellFormed(svg);
    expect(tags.filter((t) => t === 'svg')).toHaveLength(1);
  });

  it('draws one polyline per strategy, each with its own colour and its points', () => {
    const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"[^>]*stroke="([^"]+)"/g)];
    expect(lines).toHaveLength(3);
    expect(new Set(lines.map((m) => m[2])).size).toBe(3);
    expect(lines.map((m) => (m[1] ?? '').split(' ').length)).toEqual([4, 3, 2]);
  });

  it('maps time and accuracy onto the axes', () => {
    // y from 0.65 (0.25 under the target) floored to 0.6, to 1 over pixels 350..40; x from 0
    // to 300 s over 60..570. The first sample (0.1) is below the axis and drawn on it.
    const dlion = /<polyline data-strategy="dlion" points="([^"]*)"/.exec(svg)?.[1];
    expect(dlion?.split(' ')[0]).toBe('60,350');
    expect(dlion?.split(' ').at(-1)).toBe(
      `570,${Math.round((350 - ((0.95 - 0.6) / 0.4) * 310) * 10) / 10}`,
    );
  });

  it('escapes the legend text and the title', () => {
    expect(svg).toContain('>a&lt;b &amp; &quot;c&quot;</text>');
    expect(svg).toContain('het-3 &lt;sim&gt;');
    expect(svg).not.toContain('a<b');
  });

  it('draws the target as a dashed line with its label', () => {
    expect(svg).toMatch(/<line [^>]*stroke-dasharray="6 4"\/>/);
    expect(svg).toContain('>target 0.9</text>');
  });

  it('labels the axes with ticks', () => {
    expect(svg).toContain('>virtual time (s)</text>');
    for (const label of ['0', '100', '200', '300', '0.7', '1.0'])
      expect(svg).toContain(`>${label}</text>`);
  });

  it('has no NaN for single-point and empty curves, nor for an empty run list', () => {
    const odd = accuracyPlot(
      [run('one', curve([50, 0.5])), run('none', []), run('bad', curve([Number.NaN, Number.NaN]))],
      opts,
    );
    expect(odd).not.toMatch(/NaN|Infinity/);
    checkWellFormed(odd);
    expect(odd.match(/<polyline /g)).toHaveLength(3);
    expect(odd).toMatch(/<circle /); // the lone sample is shown as a dot
    const empty = accuracyPlot([], { ...opts, budgetS: 0, targetAccuracy: Number.NaN });
    expect(empty).not.toMatch(/NaN|Infinity/);
    checkWellFormed(empty);
  });
});

describe('bytesPlot', () => {
  const runs = [
    run('dlion', curve(), [link('p1', 'p2', 2e6), link('p2', 'p1', 8e6)]),
    run('bsp', curve(), [link('p1', 'p2', 6e6), link('p2', 'p1', 6e6)]),
  ];
  const svg = bytesPlot(runs, {
    title: 'bytes & links',
    peers: [
      { name: 'p1', slowdown: 1, uplinkMbps: 2 },
      { name: 'p2', slowdown: 1 },
    ],
  });

  it('is one well-formed svg element with one bar per strategy per link', () => {
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    checkWellFormed(svg);
    // 2 links x 2 strategies, plus 2 legend swatches; the background rect has no fill colour of ours.
    const bars = [...svg.matchAll(/<rect x="150" [^>]*width="([^"]+)"/g)].map((m) => m[1]);
    // Axis 0..8 MB over 150..550 px: 2 MB = 100 px, 6 MB = 300 px, 8 MB = 400 px.
    expect(bars).toEqual(['100', '300', '400', '300']);
  });

  it('labels links, the sender uplink, the scale and totals', () => {
    expect(svg).toContain('>p1 → p2</text>');
    expect(svg).toContain('>(2 Mbit/s up)</text>');
    expect(svg).toContain('>MB sent per link (linear scale)</text>');
    expect(svg).toContain('>dlion: 10.0 MB total</text>');
    expect(svg).toContain('bytes &amp; links');
  });

  it('has no NaN with no links or no runs', () => {
    for (const out of [
      bytesPlot([run('x<y', [])], { title: 't' }),
      bytesPlot([], { title: 't' }),
    ]) {
      expect(out).not.toMatch(/NaN|Infinity/);
      checkWellFormed(out);
    }
    expect(bytesPlot([run('x<y', [])], { title: 't' })).toContain('x&lt;y: 0.0 MB total');
  });
});

describe('escapeXml', () => {
  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;',
    );
  });
});
