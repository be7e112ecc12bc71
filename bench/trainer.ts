/**
 * Trainer benchmark: ms per step and samples/s for each model and backend, in Chromium
 * (webgpu, webgl, cpu, through the harness page's Worker) and in Node (cpu), at batch 32 and
 * 128. Each row: a few warm-up steps, then the median of the measured steps.
 *
 *   npm run bench:trainer                # every model
 *   npm run bench:trainer -- --quick     # mlp only, fewer steps
 *   npm run bench:trainer -- --json out.json
 *   npm run bench:trainer -- --runtime node --models mlp,cnn   # a subset
 */

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import type { ModelName } from '../core';
import { buildHarness } from '../playwright/build-harness';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../playwright/chromium';
import type { HarnessRunReport } from '../playwright/harness/api';
import { startServer } from '../playwright/server';
import type { BackendName } from '../worker/backend';
import { loadNodeData } from '../worker/node/data';
import { dawnAdapter as dawnAdapterName, installDawnGpu } from '../worker/node/dawn';
import type { OptimizerConfig } from '../worker/optimizer';
import { createTrainer } from '../worker/trainer';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    runtime: { type: 'string', default: 'all' },
    models: { type: 'string' },
  },
});

const ALL_MODELS: readonly ModelName[] = ['mlp', 'cnn', 'cnn-large', 'cnn-res', 'tabular-mlp'];
const MODELS: readonly ModelName[] = args.models
  ? (args.models.split(',') as ModelName[]).filter((m) => ALL_MODELS.includes(m))
  : args.quick
    ? ['mlp']
    : ALL_MODELS;
if (!['all', 'node', 'chromium'].includes(args.runtime ?? 'all')) {
  throw new Error(`--runtime must be all, node or chromium, got ${args.runtime}`);
}
const BATCHES = [32, 128] as const;
const BROWSER_BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'cpu'];
const NODE_BACKENDS: readonly BackendName[] = ['cpu', 'webgpu'];
const WARMUP = args.quick ? 2 : 3;
const STEPS = args.quick ? 5 : 15;
/** Per row: stop measuring after this long once 3 steps are in (slow CNNs on a CPU). */
const BUDGET_MS = args.quick ? 5_000 : 20_000;
const OPTIMIZER: OptimizerConfig = { kind: 'sgd', learningRate: 0.05, momentum: 0.9 };
// The same shard on both sides: peer 0 of 3, iid, MNIST.
const DATA = {
  dataset: 'mnist',
  seed: 1,
  peerIndex: 0,
  peerCount: 3,
  sharding: { kind: 'iid' },
  validationFraction: 0.1,
  testSamples: 500,
} as const;

interface Row {
  runtime: 'chromium' | 'node';
  backend: BackendName;
  model: ModelName;
  batch: number;
  steps: number;
  /** Median pure compute per step (forward, backward, read-back). */
  computeMs: number;
  /** Median step + apply as the caller sees it (Worker messages included in Chromium). */
  roundTripMs: number;
  samplesPerSec: number;
  error?: string;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function rowOf(
  runtime: Row['runtime'],
  backend: BackendName,
  model: ModelName,
  batch: number,
  steps: readonly { computeMs: number; roundTripMs: number }[],
): Row {
  const computeMs = median(steps.map((s) => s.computeMs));
  return {
    runtime,
    backend,
    model,
    batch,
    steps: steps.length,
    computeMs,
    roundTripMs: median(steps.map((s) => s.roundTripMs)),
    samplesPerSec: (batch * 1000) / computeMs,
  };
}

const failedRow = (
  runtime: Row['runtime'],
  backend: BackendName,
  model: ModelName,
  batch: number,
  error: string,
): Row => ({
  runtime,
  backend,
  model,
  batch,
  steps: 0,
  computeMs: Number.NaN,
  roundTripMs: Number.NaN,
  samplesPerSec: Number.NaN,
  error,
});

const log = (line: string) => process.stderr.write(`${line}\n`);

async function benchChromium(rows: Row[]): Promise<string> {
  const server = await startServer({ root: await buildHarness() });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
    headless: true,
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => globalThis.harness !== undefined);
    for (const model of MODELS) {
      for (const backend of BROWSER_BACKENDS) {
        for (const batch of BATCHES) {
          const options = {
            ...DATA,
            model,
            backend,
            batch,
            warmup: WARMUP,
            steps: STEPS,
            budgetMs: BUDGET_MS,
            optimizer: OPTIMIZER,
          };
          const r = await page.evaluate((o) => globalThis.harness!.run(o), options);
          if (!r.ok) {
            log(`chromium ${backend} ${model} b=${batch}: ${r.error.code}: ${r.error.message}`);
            rows.push(failedRow('chromium', backend, model, batch, r.error.message));
            continue;
          }
          const report: HarnessRunReport = r.value;
          if (report.info.backend !== backend)
            throw new Error(`asked for ${backend}, got ${report.info.backend}`);
          const row = rowOf('chromium', backend, model, batch, report.steps);
          log(
            `chromium ${backend} ${model} b=${batch}: ${row.computeMs.toFixed(1)} ms/step (${row.steps} steps)`,
          );
          rows.push(row);
        }
      }
    }
    return browser.version();
  } finally {
    await browser.close();
    await server.close();
  }
}

/**
 * Node rows: the cpu backend, and WebGPU through Dawn (what `dlion kiosk --backend auto` uses
 * when the box has a Vulkan driver; here that is Mesa's lavapipe, a CPU renderer).
 */
async function benchNode(rows: Row[]): Promise<void> {
  const data = await loadNodeData(DATA);
  const dawnMissing = await installDawnGpu();
  for (const backend of NODE_BACKENDS) {
    for (const model of MODELS) {
      for (const batch of BATCHES) {
        if (backend === 'webgpu' && dawnMissing !== undefined) {
          rows.push(failedRow('node', backend, model, batch, dawnMissing));
          continue;
        }
        await benchNodeRow(rows, data, backend, model, batch);
      }
    }
  }
}

async function benchNodeRow(
  rows: Row[],
  data: Awaited<ReturnType<typeof loadNodeData>>,
  backend: BackendName,
  model: ModelName,
  batch: number,
): Promise<void> {
  const trainer = await createTrainer(
    { model, seed: DATA.seed, peerIndex: 0, optimizer: OPTIMIZER, backend },
    data,
  );
  const warm: { computeMs: number; roundTripMs: number }[] = [];
  const measured: { computeMs: number; roundTripMs: number }[] = [];
  let spent = 0;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    if (measured.length >= 3 && spent >= BUDGET_MS) break;
    const t0 = performance.now();
    const step = await trainer.step(batch);
    if (!step.ok) throw step.error;
    const applied = trainer.apply(step.value.gradient);
    if (!applied.ok) throw applied.error;
    const record = { computeMs: step.value.computeMs, roundTripMs: performance.now() - t0 };
    if (i < WARMUP) warm.push(record);
    else {
      measured.push(record);
      spent += record.roundTripMs;
    }
  }
  trainer.dispose();
  const row = rowOf('node', backend, model, batch, measured);
  log(
    `node ${backend} ${model} b=${batch}: ${row.computeMs.toFixed(1)} ms/step (${row.steps} steps)`,
  );
  rows.push(row);
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

const rows: Row[] = [];
const dawnReason = await installDawnGpu();
const dawnAdapter =
  dawnReason === undefined
    ? `no GPU (Dawn's WebGPU adapter: ${dawnAdapterName()})`
    : `no GPU (no Dawn WebGPU adapter: ${dawnReason})`;
const chromiumVersion = args.runtime === 'node' ? 'not run' : await benchChromium(rows);
if (args.runtime !== 'chromium') await benchNode(rows);

const order = (r: Row) =>
  MODELS.indexOf(r.model) * 100 +
  (r.runtime === 'chromium'
    ? BROWSER_BACKENDS.indexOf(r.backend)
    : 3 + NODE_BACKENDS.indexOf(r.backend)) *
    10 +
  r.batch / 1000;
rows.sort((a, b) => order(a) - order(b));

const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(`# Trainer: ms per step${args.quick ? ' (quick)' : ''}\n`);
console.log(
  `Machine: ${cpu}, ${cpus().length} cores, ${dawnAdapter}; Node ${process.version}, Chromium ${chromiumVersion} (Debian, headless).`,
);
console.log(
  "NOTE: there is no GPU here. Chromium's WebGPU and WebGL run on SwiftShader, a software\n" +
    'renderer on the CPU: those rows measure SwiftShader, not a graphics card. Node webgpu rows\n' +
    "run tfjs' WebGPU backend through Dawn (the webgpu package, as `dlion kiosk --backend auto`)\n" +
    'on the Vulkan driver present: without a GPU that is Mesa lavapipe, also on the CPU.',
);
console.log(
  `Each row: ${WARMUP} warm-up steps, then the median of up to ${STEPS} steps (fewer where a row passed ` +
    `${BUDGET_MS / 1000} s). A step is one forward/backward pass on a batch of the peer's MNIST shard; ` +
    "compute is the trainer's own timing, step+apply adds the optimizer and (in Chromium) the Worker round trip.\n",
);
console.log(
  '| model | runtime | backend | batch | steps | compute ms/step | step+apply ms | samples/s |',
);
console.log('|---|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const backend =
    r.backend === 'cpu'
      ? r.backend
      : r.runtime === 'chromium'
        ? `${r.backend} (SwiftShader)`
        : `${r.backend} (Dawn)`;
  const cells = r.error
    ? [r.model, r.runtime, backend, r.batch, 0, `failed: ${r.error}`, '', '']
    : [
        r.model,
        r.runtime,
        backend,
        r.batch,
        r.steps,
        fmt(r.computeMs),
        fmt(r.roundTripMs),
        fmt(r.samplesPerSec, 0),
      ];
  console.log(`| ${cells.join(' | ')} |`);
}

if (args.json) {
  writeFileSync(
    args.json,
    `${JSON.stringify({ cpu, node: process.version, chromium: chromiumVersion, rows }, null, 2)}\n`,
  );
}
