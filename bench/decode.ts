/**
 * Decode benchmark, Node part: how fast a kiosk reads a person's own folder of images
 * (worker/node/own-data.ts, sharp). Writes Fashion-MNIST images as 28 x 28 PNG and JPEG files
 * and as 224 x 224 colour JPEG and PNG files (upscaled, tinted per label) into a temporary
 * folder, times readOwnData on each set, and prints a markdown table with images per second
 * and the process's peak resident memory. The folder is removed at the end.
 *
 *   npx tsx bench/decode.ts --node                # 2000 small images per format
 *   npx tsx bench/decode.ts --node --count 60000  # and the time and memory for 60,000
 *
 * Browser part (--browser): the same sets chosen in a real Chromium tab's join form (the
 * directory input, as a person does), decoded in the tab's Worker (createImageBitmap,
 * OffscreenCanvas) and kept in IndexedDB; timed from the choice to the summary, with the
 * peak resident memory of all the browser's processes (sampled from /proc every 100 ms).
 * The 224 x 224 sets come with a model.json whose input is 224 x 224 x 3, so the tab decodes
 * to that size. With --first-step, the 28 x 28 PNG set then joins and the time from the
 * choice to the first training step is printed.
 *
 *   npx tsx bench/decode.ts --browser [--count N] [--first-step]
 */

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { datasetLabels, type Task } from '../core';
import { startSignalingServer } from '../signaling';
import type { ByteDataset } from '../worker/data';
import { datasetDir } from '../worker/node/data';
import { LOCAL_FILES, readPair } from '../worker/node/local-data';
import { readOwnData } from '../worker/node/own-data';
import { buildAppOnce, launchChromium } from './tta/live-browser';

const { values: args } = parseArgs({
  options: {
    node: { type: 'boolean', default: false },
    browser: { type: 'boolean', default: false },
    'first-step': { type: 'boolean', default: false },
    count: { type: 'string', default: '2000' },
  },
});
if (!args.node && !args.browser) {
  console.error('usage: npx tsx bench/decode.ts --node|--browser [--count N] [--first-step]');
  process.exit(2);
}
const count = Number(args.count);
if (!(Number.isInteger(count) && count > 0)) {
  console.error(`--count takes a positive integer, not '${args.count}'`);
  process.exit(2);
}
/** Large images per format: enough for a steady rate, few enough to write quickly. */
const LARGE_COUNT = 200;
const LARGE_SIDE = 224;
/** Files written at once while preparing a set. */
const WRITE_CONCURRENCY = 8;
const LABELS = datasetLabels('fashion-mnist');
const folderOf = (label: number) => LABELS[label]!.replace(/\//g, '_');
/** A colour per label, so that the large images have three distinct channels. */
const TINTS = LABELS.map((_, i) => ({ r: 255 - i * 20, g: 80 + i * 15, b: 40 + i * 20 }));

type Format = 'png' | 'jpeg';
interface SetSpec {
  readonly name: string;
  readonly format: Format;
  readonly side: number;
  readonly channels: 1 | 3;
  readonly count: number;
}

const task = (side: number, channels: 1 | 3): Pick<Task, 'input' | 'labels' | 'data'> => ({
  input: { kind: 'image', height: side, width: side, channels, scale: 'unit', fit: 'stretch' },
  labels: [...LABELS],
  data: { kind: 'local' },
});

/** Writes `spec.count` Fashion-MNIST images (cycling through the 60,000) under dir/label/. */
async function writeSet(dir: string, spec: SetSpec, ds: ByteDataset): Promise<void> {
  await Promise.all(LABELS.map((_, l) => mkdir(join(dir, folderOf(l)), { recursive: true })));
  const size = ds.rows * ds.cols;
  const writeOne = (i: number) => {
    const k = i % ds.count;
    const label = ds.labels[k]!;
    let image = sharp(ds.images.subarray(k * size, (k + 1) * size), {
      raw: { width: ds.cols, height: ds.rows, channels: 1 },
    });
    if (spec.side !== ds.cols) {
      image = image
        .resize(spec.side, spec.side, { kernel: 'linear' })
        .toColourspace('srgb')
        .tint(TINTS[label]!);
    }
    image = spec.format === 'png' ? image.png() : image.jpeg({ quality: 90 });
    const ext = spec.format === 'png' ? 'png' : 'jpg';
    return image.toFile(join(dir, folderOf(label), `${String(i).padStart(6, '0')}.${ext}`));
  };
  let next = 0;
  const worker = async () => {
    while (next < spec.count) await writeOne(next++);
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
/** The process's peak resident set so far, in bytes (resourceUsage gives KiB). */
const peakRss = () => process.resourceUsage().maxRSS * 1024;

interface Row {
  readonly spec: SetSpec;
  readonly seconds: number;
  readonly kept: number;
  readonly rssAfter: number;
  readonly peak: number;
}

async function timeSet(dir: string, spec: SetSpec): Promise<Row> {
  const t0 = performance.now();
  const samples = await readOwnData(dir, task(spec.side, spec.channels));
  const seconds = (performance.now() - t0) / 1000;
  if (samples.summary.refusedTotal > 0) {
    throw new Error(`${spec.name}: ${samples.summary.refusedTotal} files refused`);
  }
  return {
    spec,
    seconds,
    kept: samples.summary.samples,
    rssAfter: process.memoryUsage().rss,
    peak: peakRss(),
  };
}

async function main(): Promise<void> {
  const ds = await readPair(
    datasetDir('fashion-mnist'),
    LOCAL_FILES.trainImages,
    LOCAL_FILES.trainLabels,
  );
  const sets: SetSpec[] = [
    { name: '28x28 grey PNG', format: 'png', side: 28, channels: 1, count },
    { name: '28x28 grey JPEG', format: 'jpeg', side: 28, channels: 1, count },
    { name: '224x224 RGB JPEG', format: 'jpeg', side: LARGE_SIDE, channels: 3, count: LARGE_COUNT },
    { name: '224x224 RGB PNG', format: 'png', side: LARGE_SIDE, channels: 3, count: LARGE_COUNT },
  ];
  const root = await mkdtemp(join(tmpdir(), 'bench-decode-'));
  const rows: Row[] = [];
  try {
    for (const spec of sets) {
      const dir = join(root, spec.name.replace(/\W+/g, '-'));
      const w0 = performance.now();
      await writeSet(dir, spec, ds);
      console.error(
        `wrote ${spec.count} ${spec.name} files in ${((performance.now() - w0) / 1000).toFixed(1)} s`,
      );
      if (args.node) rows.push(await timeSet(dir, spec));
      if (args.browser) rows.push(await timeSetInTab(root, dir, spec));
      // The next set's files replace this one's on disk.
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  console.log(
    `\nreadOwnData, Node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), ` +
      `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}\n`,
  );
  if (args.browser) {
    console.log(
      "Rows marked (tab): headless Chromium (/usr/bin/chromium), the join form's decoder Worker, kept in IndexedDB.\n",
    );
  }
  console.log('| set | files | task | seconds | images/s | RSS after (MiB) | peak RSS (MiB) |');
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const s = r.spec;
    console.log(
      `| ${s.name} | ${r.kept} | ${s.side}x${s.side}x${s.channels} stretch | ${r.seconds.toFixed(2)} | ` +
        `${Math.round(r.kept / r.seconds)} | ${mib(r.rssAfter)} | ${mib(r.peak)} |`,
    );
  }
  console.log(
    '\nPeak RSS is the process maximum so far (it includes writing the files and the dataset);',
  );
  console.log("in a tab, the sum of the browser's processes while decoding.");
  if (tab) {
    if (firstStepSeconds !== undefined) {
      console.log(
        `\nTab: from the folder chosen to the first training step: ${firstStepSeconds.toFixed(1)} s (28x28 PNG set).`,
      );
    }
    await tab.close();
  }
}

// ---- the browser part ------------------------------------------------------------------------

let tab: { page: Page; url: string; close(): Promise<void> } | undefined;
let firstStepSeconds: number | undefined;

async function openTab(): Promise<NonNullable<typeof tab>> {
  if (tab) return tab;
  const staticDir = await buildAppOnce((line) => console.error(line));
  const server = await startSignalingServer({
    host: '127.0.0.1',
    port: 0,
    staticDir,
    log: () => {},
  });
  const browser = await launchChromium();
  const page = await browser.newPage();
  tab = {
    page,
    url: server.url,
    async close() {
      await browser.close();
      await server.close();
    },
  };
  return tab;
}

/** The summed resident memory of every chromium process, in bytes (Linux /proc). */
async function browserRss(): Promise<number> {
  let total = 0;
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (!/^Name:\s*(chromium|chrome)/m.test(status)) continue;
    const kb = /^VmRSS:\s*(\d+)/m.exec(status)?.[1];
    if (kb) total += Number(kb) * 1024;
  }
  return total;
}

/** A model.json taking side x side x channels (pooling and a dense layer: decoding's input). */
async function writeModel(dir: string, side: number, channels: number): Promise<string> {
  await tf.setBackend('cpu');
  const model = tf.sequential({
    layers: [
      tf.layers.globalAveragePooling2d({ inputShape: [side, side, channels] }),
      tf.layers.dense({ units: LABELS.length, activation: 'softmax' }),
    ],
  });
  const path = join(dir, `model-${side}.json`);
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const json = { format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [] };
      await writeFile(path, JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return path;
}

async function timeSetInTab(root: string, dir: string, spec: SetSpec): Promise<Row> {
  const { page, url } = await openTab();
  const room = `bench-${spec.name.replace(/\W+/g, '-')}-${Date.now().toString(36)}`;
  await page.goto(`${url}/?name=bench&backend=cpu`);
  const form = page.getByTestId('join-form');
  await form.locator('input[name="room"]').fill(room);
  if (spec.side !== 28) {
    await page
      .getByTestId('model-files')
      .setInputFiles(await writeModel(root, spec.side, spec.channels));
  }
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await browserRss());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = performance.now();
  await page.getByTestId('data-folder').setInputFiles(dir);
  const summary = page.getByTestId('data-summary');
  const refused = page.getByTestId('data-error');
  await Promise.race([
    summary.waitFor({ timeout: 1_800_000 }),
    refused.waitFor({ timeout: 1_800_000 }).then(async () => {
      throw new Error(`${spec.name}: the tab refused the folder: ${await refused.textContent()}`);
    }),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  sampling = false;
  await sampler;
  const kept = Number(await summary.getAttribute('data-samples'));
  const rssAfter = await browserRss();
  if (spec.side === 28 && spec.format === 'png' && args['first-step']) {
    await form.getByRole('button', { name: 'Join' }).click();
    await page
      .getByTestId('step')
      .and(page.locator(':not([data-value=""]):not([data-value="0"])'))
      .waitFor({ timeout: 600_000 });
    firstStepSeconds = (performance.now() - t0) / 1000;
  }
  return { spec: { ...spec, name: `${spec.name} (tab)` }, seconds, kept, rssAfter, peak };
}

await main();
