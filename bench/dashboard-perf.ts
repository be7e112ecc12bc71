/**
 * Dashboard performance over a long run: 8 tabs (one browser context each, tfjs cpu backend,
 * mlp) train in one room of an in-process signaling server, and one of them is watched every
 * 10 s through the Chrome DevTools Protocol (JS heap, DOM nodes, script / layout / task time)
 * and an injected requestAnimationFrame loop (frame times: p50 / p95 / max per interval).
 * The question it answers: does the page stay smooth, and do its heap and DOM stay bounded
 * while charts, tables and the merge timeline keep receiving data? It compares the first and
 * the last third of the run.
 *
 *   npm run bench:dashboard                                   # 10 minutes, 8 tabs
 *   npm run bench:dashboard -- --minutes 2 --out perf.json
 *   npm run bench:dashboard -- --analyse perf.json           # a saved run's table and verdict
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Browser, type CDPSession, chromium, type Page } from '@playwright/test';
import { build } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../playwright/chromium';
import { type SignalingServer, startSignalingServer } from '../signaling';

// ---- arguments ----------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    peers: { type: 'string', default: '8' },
    /** Seconds between samples. */
    interval: { type: 'string', default: '10' },
    out: {
      type: 'string',
      default: fileURLToPath(new URL('./results/dashboard-perf.json', import.meta.url)),
    },
    /** Give up when the watched tab does not train by then (seconds). */
    'start-timeout': { type: 'string', default: '300' },
    /** Re-read a saved run (its --out) and print its table and verdict; runs nothing. */
    analyse: { type: 'string' },
  },
});

class BenchError extends Error {
  override name = 'BenchError';
}

const positive = (name: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new BenchError(`--${name} must be a positive number`);
  return n;
};

const MINUTES = positive('minutes', args.minutes);
const PEERS = Math.round(positive('peers', args.peers));
const INTERVAL_MS = positive('interval', args.interval) * 1000;
const START_TIMEOUT_MS = positive('start-timeout', args['start-timeout']) * 1000;
const APP_DIR = fileURLToPath(new URL('../dist/bench-app/', import.meta.url));

// ---- the page's side ----------------------------------------------------------------------

// Strings rather than functions: bench/ compiles without the DOM types, and these run in the
// page. The loop records every frame's delta from the one before; `reset` also restarts the
// clock, so a pause the harness itself causes (the forced GC) is never counted as a frame.
const FRAME_RECORDER = `(() => {
  const g = globalThis;
  g.__perfFrames = [];
  g.__perfLast = performance.now();
  const loop = (t) => {
    g.__perfFrames.push(t - g.__perfLast);
    g.__perfLast = t;
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})()`;
const TAKE_FRAMES = `(() => { const f = globalThis.__perfFrames; globalThis.__perfFrames = []; return f; })()`;
const RESET_FRAMES = `(() => { globalThis.__perfFrames = []; globalThis.__perfLast = performance.now(); })()`;

// ---- measurement --------------------------------------------------------------------------

/** The CDP metrics kept per sample; the durations are cumulative seconds in Chromium. */
const METRICS = [
  'JSHeapUsedSize',
  'JSHeapTotalSize',
  'Nodes',
  'JSEventListeners',
  'LayoutCount',
  'RecalcStyleCount',
  'LayoutDuration',
  'RecalcStyleDuration',
  'ScriptDuration',
  'TaskDuration',
] as const;
type MetricName = (typeof METRICS)[number];

interface Sample {
  /** Seconds since measuring began. */
  t: number;
  step: number | null;
  valAccuracy: number | null;
  links: number | null;
  mergeItems: number;
  heapMB: number;
  /** After a forced garbage collection: what the page really holds. */
  heapAfterGcMB: number;
  nodes: number;
  listeners: number;
  /** Share of the interval's wall time spent in each, from the cumulative durations. */
  scriptShare: number;
  layoutShare: number;
  styleShare: number;
  taskShare: number;
  layouts: number;
  frames: number;
  frameP50Ms: number;
  frameP95Ms: number;
  frameMaxMs: number;
}

const quantile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
};

const numbersOf = (value: unknown): number[] =>
  Array.isArray(value) ? value.filter((x): x is number => typeof x === 'number') : [];

async function metricsOf(cdp: CDPSession): Promise<Record<MetricName, number>> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const byName = new Map(metrics.map((m) => [m.name, m.value]));
  const out = {} as Record<MetricName, number>;
  for (const name of METRICS) out[name] = byName.get(name) ?? Number.NaN;
  return out;
}

const fieldNumber = async (page: Page, testid: string): Promise<number | null> => {
  const v = await page
    .getByTestId(testid)
    .first()
    .getAttribute('data-value', { timeout: 1000 })
    .catch(() => null);
  return v === null || v === '' ? null : Number(v);
};

// ---- set-up -------------------------------------------------------------------------------

async function buildApp(): Promise<void> {
  const t0 = performance.now();
  await build({
    configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
    root: fileURLToPath(new URL('../app/', import.meta.url)),
    logLevel: 'warn',
    build: { outDir: APP_DIR, emptyOutDir: true },
  });
  console.log(`app built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function waitFor(
  what: string,
  deadlineMs: number,
  check: () => Promise<boolean>,
): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(`warning: ${what} not reached within ${deadlineMs / 1000} s`);
  return false;
}

async function openTabs(browser: Browser, server: SignalingServer, room: string): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < PEERS; i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const label = `tab ${i + 1}`;
    page.on('pageerror', (e) => console.log(`[${label} error] ${e.message}`));
    const q = new URLSearchParams({ room, name: `perf-${i + 1}`, backend: 'cpu', model: 'mlp' });
    await page.goto(`${server.url}/?${q.toString()}`);
    pages.push(page);
  }
  return pages;
}

// ---- report -------------------------------------------------------------------------------

interface Growth {
  series: string;
  firstThird: number;
  middleThird: number;
  lastThird: number;
  changePct: number;
  verdict: 'bounded' | 'growing';
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * "Grows without bound" as far as one run can say: the last third's mean is more than `pct`
 * above the first third's, by more than `floor` in absolute terms, and it is still climbing
 * from the middle third to the last (by more than half of both). A series that fills up
 * early and then stays flat (a list capped at N items, caches warming) is bounded.
 */
function growthOf(
  series: string,
  values: readonly number[],
  pct: number,
  floor: number,
): Growth | undefined {
  const n = Math.floor(values.length / 3);
  if (n < 1) return undefined;
  const first = mean(values.slice(0, n));
  const middle = mean(values.slice(n, values.length - n));
  const last = mean(values.slice(values.length - n));
  const changePct = ((last - first) / first) * 100;
  const growing =
    changePct > pct &&
    last - first > floor &&
    ((last - middle) / middle) * 100 > pct / 2 &&
    last - middle > floor / 2;
  return {
    series,
    firstThird: first,
    middleThird: middle,
    lastThird: last,
    changePct,
    verdict: growing ? 'growing' : 'bounded',
  };
}

const pad = (s: string, n: number): string => s.padStart(n);
const f = (x: number | null, digits: number): string =>
  x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits);

function printRow(s: Sample): void {
  console.log(
    [
      pad(f(s.t, 0), 5),
      pad(f(s.step, 0), 6),
      pad(f(s.valAccuracy, 3), 6),
      pad(f(s.links, 0), 5),
      pad(f(s.heapMB, 1), 7),
      pad(f(s.heapAfterGcMB, 1), 7),
      pad(f(s.nodes, 0), 6),
      pad(f(s.mergeItems, 0), 6),
      pad(f(s.scriptShare * 100, 1), 7),
      pad(f(s.layoutShare * 100, 1), 7),
      pad(f(s.taskShare * 100, 1), 6),
      pad(f(s.frames, 0), 6),
      pad(f(s.frameP50Ms, 1), 6),
      pad(f(s.frameP95Ms, 1), 6),
      pad(f(s.frameMaxMs, 0), 6),
    ].join(' '),
  );
}

const HEADER = [
  pad('t s', 5),
  pad('step', 6),
  pad('acc', 6),
  pad('links', 5),
  pad('heapMB', 7),
  pad('gcMB', 7),
  pad('nodes', 6),
  pad('merges', 6),
  pad('script%', 7),
  pad('layout%', 7),
  pad('task%', 6),
  pad('frames', 6),
  pad('p50ms', 6),
  pad('p95ms', 6),
  pad('maxms', 6),
].join(' ');

/** The first-third / last-third comparison of every series that could grow, printed. */
function analyse(samples: readonly Sample[]): { growth: Growth[]; unbounded: string[] } {
  const series: [string, (s: Sample) => number, number, number][] = [
    ['JS heap after GC, MB', (s) => s.heapAfterGcMB, 20, 2],
    ['JS heap, MB', (s) => s.heapMB, 20, 2],
    ['DOM nodes', (s) => s.nodes, 20, 200],
    ['frame p95, ms', (s) => s.frameP95Ms, 20, 5],
    ['frame p50, ms', (s) => s.frameP50Ms, 20, 2],
    ['script share, %', (s) => s.scriptShare * 100, 20, 2],
  ];
  const growth = series
    .map(([name, pick, pct, floor]) => growthOf(name, samples.map(pick), pct, floor))
    .filter((g): g is Growth => g !== undefined);
  console.log('\nfirst third -> last third (middle third):');
  for (const g of growth) {
    console.log(
      `  ${g.series.padEnd(24)} ${f(g.firstThird, 1)} -> ${f(g.lastThird, 1)} (${f(g.middleThird, 1)}), ` +
        `${g.changePct >= 0 ? '+' : ''}${f(g.changePct, 1)}%: ${g.verdict}`,
    );
  }
  const unbounded = growth.filter((g) => g.verdict === 'growing').map((g) => g.series);
  console.log(
    unbounded.length === 0
      ? 'verdict: heap, DOM and frame times stay bounded over the run'
      : `verdict: growing without a visible bound: ${unbounded.join('; ')}`,
  );
  return { growth, unbounded };
}

/** `--analyse run.json`: the table and verdict of a saved run, without running anything. */
function analyseSaved(path: string): void {
  const saved: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const samples =
    typeof saved === 'object' && saved !== null && 'samples' in saved ? saved.samples : undefined;
  if (!Array.isArray(samples)) throw new BenchError(`${path} has no samples`);
  // Our own output, read back: trusted to have the shape it was written with.
  const rows = samples as Sample[];
  console.log(HEADER);
  for (const s of rows) printRow(s);
  analyse(rows);
}

// ---- run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  await buildApp();
  const server = await startSignalingServer({
    host: '127.0.0.1',
    port: 0,
    staticDir: APP_DIR,
    log: () => {},
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
    headless: true,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await browser.close().catch(() => {});
    await server.close();
  };
  process.once('SIGINT', () => {
    console.log('interrupted: stopping');
    void stop().then(() => process.exit(130));
  });

  try {
    const room = `perf-${Date.now().toString(36)}`;
    const pages = await openTabs(browser, server, room);
    const watched = pages[0];
    if (watched === undefined) throw new BenchError('no tab opened');
    const training = await waitFor('the watched tab training', START_TIMEOUT_MS, async () => {
      const phase = await watched
        .getByTestId('phase')
        .getAttribute('data-value', { timeout: 1000 })
        .catch(() => null);
      if (phase === 'failed' || phase === 'closed') {
        throw new BenchError(`the watched tab stopped: ${phase}`);
      }
      return phase === 'training';
    });
    if (!training) throw new BenchError('the watched tab never trained');
    const linked = await waitFor(
      `${PEERS - 1} links on the watched tab`,
      START_TIMEOUT_MS,
      async () => (await fieldNumber(watched, 'link-count')) === PEERS - 1,
    );

    const cdp = await watched.context().newCDPSession(watched);
    await cdp.send('Performance.enable');
    await watched.evaluate(FRAME_RECORDER);
    let prev = await metricsOf(cdp);
    let prevAt = performance.now();
    const t0 = prevAt;
    const samples: Sample[] = [];
    const total = Math.max(1, Math.round((MINUTES * 60_000) / INTERVAL_MS));
    console.log(
      `${PEERS} tabs in room ${room} (${linked ? 'fully linked' : 'NOT fully linked'}); ` +
        `${total} samples every ${INTERVAL_MS / 1000} s; cpus ${cpus().length}, load ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(HEADER);
    for (let i = 0; i < total && !stopping; i++) {
      await new Promise((r) =>
        setTimeout(r, INTERVAL_MS - ((performance.now() - t0) % INTERVAL_MS)),
      );
      const frames = numbersOf(await watched.evaluate(TAKE_FRAMES)).sort((a, b) => a - b);
      const m = await metricsOf(cdp);
      const at = performance.now();
      const wallS = (at - prevAt) / 1000;
      const share = (name: MetricName) => (m[name] - prev[name]) / wallS;
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = await cdp.send('Runtime.getHeapUsage');
      await watched.evaluate(RESET_FRAMES);
      const sample: Sample = {
        t: (at - t0) / 1000,
        step: await fieldNumber(watched, 'step'),
        valAccuracy: await fieldNumber(watched, 'val-accuracy'),
        links: await fieldNumber(watched, 'link-count'),
        mergeItems: await watched.getByTestId('merge-item').count(),
        heapMB: m.JSHeapUsedSize / 2 ** 20,
        heapAfterGcMB: heap.usedSize / 2 ** 20,
        nodes: m.Nodes,
        listeners: m.JSEventListeners,
        scriptShare: share('ScriptDuration'),
        layoutShare: share('LayoutDuration'),
        styleShare: share('RecalcStyleDuration'),
        taskShare: share('TaskDuration'),
        layouts: m.LayoutCount - prev.LayoutCount,
        frames: frames.length,
        frameP50Ms: quantile(frames, 0.5),
        frameP95Ms: quantile(frames, 0.95),
        frameMaxMs: frames.length ? (frames[frames.length - 1] ?? Number.NaN) : Number.NaN,
      };
      samples.push(sample);
      printRow(sample);
      prev = m;
      prevAt = at;
    }

    const { growth, unbounded } = analyse(samples);

    const report = {
      bench: 'dashboard-perf',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg() },
      peers: PEERS,
      minutes: MINUTES,
      intervalS: INTERVAL_MS / 1000,
      room,
      fullyLinked: linked,
      notes:
        'One watched tab of many. heapAfterGcMB is read after a forced GC (HeapProfiler.collectGarbage); ' +
        'the frame recorder restarts after that GC, so its pause is not counted as a frame. ' +
        'Shares are the interval fractions of Chromium cumulative durations.',
      samples,
      growth,
      unbounded,
    };
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${args.out}`);
  } finally {
    await stop();
  }
}

const saved = args.analyse;
(saved === undefined ? main() : Promise.resolve().then(() => analyseSaved(saved))).catch(
  (e: unknown) => {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
    process.exitCode = 1;
  },
);
