/**
 * Reading a person's own data in Node, on real files in a temporary folder: PNG, JPEG and WebP
 * made with sharp from Fashion-MNIST pixels, CSV/TSV tables, IDX files, and broken files of
 * every kind a folder collects.
 */

import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzip as gunzipCallback, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetLabels, type Task } from '../../core';
import { type ByteDataset, DataError, encodeIdx, type LocalSamples, loadDataset } from '../data';
import {
  detectLayout,
  type OwnDataProgress,
  ownDataLabels,
  peekTable,
  readOwnData,
  scanImageFolder,
} from './own-data';

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION = datasetLabels('fashion-mnist');
const SIDE = 28;
const PIXELS = SIDE * SIDE;

type OwnTask = Pick<Task, 'input' | 'labels' | 'data'>;
const imageTask = (
  labels: readonly string[],
  o: { side?: number; channels?: 1 | 3; fit?: 'stretch' | 'cover' | 'contain' } = {},
): OwnTask => ({
  input: {
    kind: 'image',
    height: o.side ?? SIDE,
    width: o.side ?? SIDE,
    channels: o.channels ?? 1,
    scale: 'unit',
    ...(o.fit ? { fit: o.fit } : {}),
  },
  labels: [...labels],
  data: { kind: 'local' },
});
const tableTask = (labels: readonly string[], count: number, labelColumn?: string): OwnTask => ({
  input: { kind: 'features', count },
  labels: [...labels],
  data: labelColumn === undefined ? { kind: 'local' } : { kind: 'local', labelColumn },
});

/** A Fashion-MNIST label as a folder name ('T-shirt/top' -> 'T-shirt_top'). */
const folderOf = (label: number) => FASHION[label]!.replace(/\//g, '_');

let root: string;
let fashion: ByteDataset;
const image = (i: number) => fashion.images.subarray(i * PIXELS, (i + 1) * PIXELS);
const grey = (pixels: Uint8Array, width = SIDE, height = SIDE) =>
  sharp(pixels, { raw: { width, height, channels: 1 } });
const sample = (s: LocalSamples, i: number) => {
  const size = s.values.length / s.targets.length;
  return [...s.values.subarray(i * size, (i + 1) * size)];
};
/** Writes a file, making its folders. */
async function put(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
}
const dataError = async (p: Promise<unknown>): Promise<DataError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DataError);
  return e as DataError;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'own-data-'));
  const gunzip = (b: Uint8Array) =>
    new Promise<Uint8Array>((ok, fail) => {
      gunzipCallback(b, (e, out) => (e ? fail(e) : ok(out)));
    });
  const [images, labels] = await Promise.all([
    readFile(join(FASHION_DIR, 'train-images-idx3-ubyte.gz')),
    readFile(join(FASHION_DIR, 'train-labels-idx1-ubyte.gz')),
  ]);
  const ds = await loadDataset(new Uint8Array(images), new Uint8Array(labels), gunzip);
  if (!ds.ok) throw ds.error;
  fashion = ds.value;
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a folder of images', () => {
  it('reads grey PNGs in Fashion-MNIST label folders pixel for pixel', async () => {
    const dir = join(root, 'fashion');
    const n = 60;
    const rels: { rel: string; index: number }[] = [];
    for (let i = 0; i < n; i++) {
      const rel = `${folderOf(fashion.labels[i]!)}/${String(i).padStart(3, '0')}.png`;
      await mkdir(join(dir, folderOf(fashion.labels[i]!)), { recursive: true });
      await grey(image(i)).png().toFile(join(dir, rel));
      rels.push({ rel, index: i });
    }
    rels.sort((a, b) => (a.rel < b.rel ? -1 : 1));
    const progress: OwnDataProgress[] = [];
    const s = await readOwnData(dir, imageTask(FASHION), (p) => progress.push(p));

    expect(s.summary.format).toBe('images');
    expect(s.summary.samples).toBe(n);
    expect(s.summary.refusedTotal).toBe(0);
    const perLabel = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) perLabel[fashion.labels[i]!]! += 1;
    expect(s.summary.perLabel).toEqual(perLabel);
    // Samples come in file order (sorted by path), each the source image exactly.
    rels.forEach(({ index }, k) => {
      expect(s.targets[k]).toBe(fashion.labels[index]);
      expect(sample(s, k)).toEqual([...image(index)]);
    });
    expect(progress.at(-1)).toEqual({ done: n, total: n });
    expect(s.labels).toEqual(FASHION);

    const labels = await ownDataLabels(dir);
    expect(labels.layout).toBe('images');
    const present = [...new Set(fashion.labels.subarray(0, n))].map(folderOf).sort();
    expect(labels.labels).toEqual(present);
  });

  it('stretches, crops and pads to the task size, and converts channels by one rule', async () => {
    const red = [200, 30, 40];
    const blue = [20, 60, 220];
    const greyOf = ([r, g, b]: number[]) => Math.round(0.299 * r! + 0.587 * g! + 0.114 * b!);
    // Left half red, right half blue.
    const halves = (width: number, height: number) => {
      const rgb = new Uint8Array(width * height * 3);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) rgb.set(x < width / 2 ? red : blue, (y * width + x) * 3);
      }
      return sharp(rgb, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer();
    };
    const at = (s: LocalSamples, channels: number, x: number, y: number) => [
      ...s.values.subarray((y * SIDE + x) * channels, (y * SIDE + x + 1) * channels),
    ];

    await put(join(root, 'wide/a/wide.png'), await halves(56, 40));
    const grey1 = await readOwnData(join(root, 'wide'), imageTask(['a', 'b']));
    const rgb3 = await readOwnData(join(root, 'wide'), imageTask(['a', 'b'], { channels: 3 }));
    expect(grey1.values.length).toBe(PIXELS);
    expect(rgb3.values.length).toBe(PIXELS * 3);
    for (const y of [0, 13, 27]) {
      for (const x of [0, 11]) {
        expect(at(grey1, 1, x, y)).toEqual([greyOf(red)]);
        expect(at(rgb3, 3, x, y)).toEqual(red);
      }
      for (const x of [16, 27]) {
        expect(at(grey1, 1, x, y)).toEqual([greyOf(blue)]);
        expect(at(rgb3, 3, x, y)).toEqual(blue);
      }
    }

    // 56 x 28: 'cover' keeps the middle 28 columns at scale 1, 'contain' halves it and pads
    // 7 black rows above and below.
    await put(join(root, 'banner/a/banner.png'), await halves(56, 28));
    const cover = await readOwnData(
      join(root, 'banner'),
      imageTask(['a', 'b'], { channels: 3, fit: 'cover' }),
    );
    expect(at(cover, 3, 0, 5)).toEqual(red);
    expect(at(cover, 3, 13, 5)).toEqual(red);
    expect(at(cover, 3, 14, 5)).toEqual(blue);
    expect(at(cover, 3, 27, 5)).toEqual(blue);
    const contain = await readOwnData(
      join(root, 'banner'),
      imageTask(['a', 'b'], { channels: 3, fit: 'contain' }),
    );
    for (const x of [0, 13, 27]) {
      expect(at(contain, 3, x, 0)).toEqual([0, 0, 0]);
      expect(at(contain, 3, x, 6)).toEqual([0, 0, 0]);
      expect(at(contain, 3, x, 21)).toEqual([0, 0, 0]);
      expect(at(contain, 3, x, 27)).toEqual([0, 0, 0]);
    }
    expect(at(contain, 3, 2, 10)).toEqual(red);
    expect(at(contain, 3, 25, 17)).toEqual(blue);
  });

  it('decodes JPEG and WebP, and reads transparent pixels as black', async () => {
    const dir = join(root, 'formats');
    await put(join(dir, 'Trouser/a.jpg'), await grey(image(1)).jpeg({ quality: 100 }).toBuffer());
    await put(
      join(dir, 'Trouser/b.webp'),
      await grey(image(1)).webp({ lossless: true }).toBuffer(),
    );
    const s = await readOwnData(dir, imageTask(FASHION));
    expect(s.summary.samples).toBe(2);
    expect([...s.targets]).toEqual([1, 1]);
    const source = [...image(1)];
    const jpeg = sample(s, 0);
    const meanError = jpeg.reduce((sum, v, i) => sum + Math.abs(v - source[i]!), 0) / PIXELS;
    expect(meanError).toBeLessThan(2);
    expect(sample(s, 1)).toEqual(source); // lossless WebP

    // Left half transparent, a quarter half-transparent, the rest opaque.
    const rgba = new Uint8Array(PIXELS * 4);
    for (let p = 0; p < PIXELS; p++) {
      const x = p % SIDE;
      rgba.set([200, 100, 50, x < 14 ? 0 : x < 21 ? 128 : 255], p * 4);
    }
    await put(
      join(root, 'alpha/a/alpha.png'),
      await sharp(rgba, { raw: { width: SIDE, height: SIDE, channels: 4 } })
        .png()
        .toBuffer(),
    );
    const alpha = await readOwnData(join(root, 'alpha'), imageTask(['a', 'b']));
    const row = sample(alpha, 0).slice(0, SIDE);
    const opaque = Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50);
    const half = Math.round((0.299 * 200 + 0.587 * 100 + 0.114 * 50) * (128 / 255));
    expect(row).toEqual([
      ...new Array(14).fill(0),
      ...new Array(7).fill(half),
      ...new Array(7).fill(opaque),
    ]);
  });

  it('refuses each broken file with its reason and keeps every good one', async () => {
    const dir = join(root, 'mixed');
    const good = [0, 1, 2, 3, 4].map((k) => fashion.labels.indexOf(k % 2 === 0 ? 1 : 8, k * 50));
    for (const [k, i] of good.entries()) {
      await put(
        join(dir, folderOf(fashion.labels[i]!), `good${k}.png`),
        await grey(image(i)).png().toBuffer(),
      );
    }
    const png = await grey(image(0)).png().toBuffer();
    await put(join(dir, 'Trouser/empty.png'), new Uint8Array(0));
    await put(join(dir, 'Trouser/text.png'), 'this is not an image\n');
    await put(join(dir, 'Bag/truncated.png'), png.subarray(0, png.length >> 1));
    // 42 million pixels of one colour: a small file that sharp refuses from its header.
    await put(
      join(dir, 'Bag/huge.png'),
      await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#123456' } })
        .png({ compressionLevel: 1 })
        .toBuffer(),
    );
    // A sparse file over the 32 MiB a file may take: refused before it is read.
    await put(join(dir, 'Bag/big.png'), '');
    await truncate(join(dir, 'Bag/big.png'), 33 * 2 ** 20);
    await put(join(dir, 'Zebra/z.png'), png);
    await put(join(dir, 'loose.png'), png);
    await put(join(dir, 'Trouser/notes.txt'), 'notes');
    await put(join(dir, 'Trouser/.hidden.png'), png);

    const scan = await scanImageFolder(dir);
    expect(scan.skipped).toBe(2);
    expect(scan.overCap).toBe(0);
    expect(scan.files).toHaveLength(good.length + 7);
    expect(scan.labelFolders).toEqual(['Bag', 'Trouser', 'Zebra']);
    const capped = await scanImageFolder(dir, 4);
    expect(capped.files).toHaveLength(4);
    expect(capped.overCap).toBe(scan.files.length - 4);

    const s = await readOwnData(dir, imageTask(FASHION));
    expect(s.summary.samples).toBe(good.length);
    expect(s.summary.refused).toEqual({
      empty: 1,
      'not-an-image': 2,
      'too-large': 2,
      'unknown-label': 1,
      'no-label-folder': 1,
    });
    expect(s.summary.refusedTotal).toBe(7);
    const named = Object.fromEntries(s.summary.firstRefusals.map((r) => [r.item, r.reason]));
    expect(named).toEqual({
      'Bag/big.png': 'too-large',
      'Bag/huge.png': 'too-large',
      'Bag/truncated.png': 'not-an-image',
      'Trouser/empty.png': 'empty',
      'Trouser/text.png': 'not-an-image',
      'Zebra/z.png': 'unknown-label',
      'loose.png': 'no-label-folder',
    });
    const huge = s.summary.firstRefusals.find((r) => r.item === 'Bag/huge.png');
    expect(huge?.detail).toMatch(/million pixels/);
    // The good files, in path order: Bag/good1, Bag/good3, Trouser/good0, good2, good4.
    const order = [1, 3, 0, 2, 4];
    order.forEach((k, j) => {
      expect(s.targets[j]).toBe(fashion.labels[good[k]!]);
      expect(sample(s, j)).toEqual([...image(good[k]!)]);
    });
  });
});

describe('layouts', () => {
  it('tells the three layouts apart and refuses anything else', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const flat = join(root, 'flat');
    await put(join(flat, 'a.png'), await grey(image(0)).png().toBuffer());
    await put(join(flat, 'b.png'), await grey(image(1)).png().toBuffer());
    for (const dir of [empty, flat]) {
      const e = await dataError(readOwnData(dir, imageTask(FASHION)));
      expect(e.code).toBe('bad-layout');
      expect(e.message).toContain(dir);
      expect(e.message).toContain('one subfolder per label');
    }
    // Subfolders without images: the images layout, with no label folder.
    await mkdir(join(root, 'hollow/a'), { recursive: true });
    const hollow = await dataError(readOwnData(join(root, 'hollow'), imageTask(FASHION)));
    expect(hollow.code).toBe('bad-layout');
    expect(hollow.message).toMatch(/has no label subfolders/);

    await put(join(root, 'csvdir/t.csv'), 'x,label\n1,a\n');
    await put(join(root, 'notes.bin'), 'x');
    expect(await detectLayout(join(root, 'csvdir/t.csv'))).toEqual({
      layout: 'table',
      file: join(root, 'csvdir/t.csv'),
    });
    expect(await detectLayout(join(root, 'csvdir'))).toEqual({
      layout: 'table',
      file: join(root, 'csvdir/t.csv'),
    });
    expect((await detectLayout(join(root, 'fashion'))).layout).toBe('images');
    expect((await dataError(detectLayout(join(root, 'notes.bin')))).code).toBe('bad-layout');
    expect((await dataError(detectLayout(join(root, 'nowhere')))).code).toBe('missing');

    // An image folder for a task of features, a table for a task of images.
    const wrong = await dataError(readOwnData(join(root, 'fashion'), tableTask(['a', 'b'], 4)));
    expect(wrong.code).toBe('bad-layout');
    expect(wrong.message).toMatch(/features/);
    const wrongTable = await dataError(readOwnData(join(root, 'csvdir'), imageTask(['a', 'b'])));
    expect(wrongTable.code).toBe('bad-layout');
  });
});

describe('a table', () => {
  const header = 'f0,f1,f2,f3,f4,f5,f6,f7,label';
  const features = (i: number) => Array.from({ length: 8 }, (_, j) => i * 0.25 + j - 3);
  const good = Array.from({ length: 40 }, (_, i) => i);
  /** Rows 0..39 with bad ones among them; the line numbers count the header as line 1. */
  function table(sep: string): string {
    const lines = [header.replace(/,/g, sep)];
    for (const i of good) {
      lines.push([...features(i), String(i % 3)].join(sep));
      if (i === 4) lines.push(['1', '', '3', '4', '5', '6', '7', '8', '0'].join(sep)); // line 7
      if (i === 9) lines.push(['1', '2', 'abc', '4', '5', '6', '7', '8', '1'].join(sep)); // 13
      if (i === 14) lines.push(['1', '2', '3', '4', '5', '6', '7', '0'].join(sep)); // 19
      if (i === 19) lines.push([...features(0), '7'].join(sep)); // 25
    }
    return `${lines.join('\n')}\n\n`;
  }

  it('keeps the good rows with their values and refuses the bad ones by reason', async () => {
    const file = join(root, 'tables/data.csv');
    await put(file, table(','));
    const progress: OwnDataProgress[] = [];
    const s = await readOwnData(file, tableTask(['0', '1', '2'], 8), (p) => progress.push(p));
    expect(s.summary.format).toBe('table');
    expect(s.summary.samples).toBe(good.length);
    expect(s.values).toBeInstanceOf(Float32Array);
    good.forEach((i) => {
      expect(sample(s, i)).toEqual(features(i).map(Math.fround));
      expect(s.targets[i]).toBe(i % 3);
    });
    expect(s.summary.perLabel).toEqual([14, 13, 13]);
    expect(s.summary.refused).toEqual({ 'bad-row': 3, 'unknown-label': 1 });
    expect(s.summary.firstRefusals.map((r) => [r.item, r.reason])).toEqual([
      ['data.csv:7', 'bad-row'],
      ['data.csv:13', 'bad-row'],
      ['data.csv:19', 'bad-row'],
      ['data.csv:25', 'unknown-label'],
    ]);
    expect(progress.at(-1)).toEqual({ done: 44, total: 44 });

    const tsv = join(root, 'tables/data.tsv');
    await put(tsv, table('\t'));
    const t = await readOwnData(tsv, tableTask(['0', '1', '2'], 8));
    expect([...t.values]).toEqual([...s.values]);
    expect([...t.targets]).toEqual([...s.targets]);
    expect(t.summary.refused).toEqual(s.summary.refused);
  });

  it('refuses a header without the label column, the wrong feature count, or no header', async () => {
    const file = join(root, 'tables/named.csv');
    await put(file, table(','));
    const missing = await dataError(readOwnData(file, tableTask(['0', '1', '2'], 8, 'species')));
    expect(missing.code).toBe('bad-table');
    expect(missing.message).toContain(file);
    expect(missing.message).toMatch(/species/);
    expect((await dataError(peekTable(file, 'species'))).code).toBe('bad-table');

    const count = await dataError(readOwnData(file, tableTask(['0', '1', '2'], 5)));
    expect(count.code).toBe('bad-table');
    expect(count.message).toBe(`${file}: 8 feature columns, the task takes 5`);

    const bare = join(root, 'tables/bare.csv');
    await put(bare, '1,2,0\n3,4,1\n');
    expect((await dataError(peekTable(bare))).code).toBe('bad-table');
    const blank = join(root, 'tables/blank.csv');
    await put(blank, '');
    expect((await dataError(peekTable(blank))).code).toBe('bad-table');
  });

  it('peeks at columns, rows and labels, sorted numerically when numeric', async () => {
    const file = join(root, 'tables/peek.csv');
    await put(file, 'kind;a;b\n10;1;2\n9;1;2\n2;3;4\n10;5;6\n');
    const peek = await peekTable(file, 'kind');
    expect(peek.labels).toEqual(['2', '9', '10']);
    expect(peek.rows).toBe(4);
    expect(peek.columns.label).toBe(0);
    expect(peek.columns.features).toEqual([1, 2]);
    const named = join(root, 'tables/named-labels.csv');
    await put(named, 'x,y,label\n1,2,cat\n3,4,Dog\n5,6,cat\n');
    expect(await ownDataLabels(named)).toEqual({
      layout: 'table',
      labels: ['Dog', 'cat'],
      features: 2,
    });
  });
});

describe('IDX files', () => {
  it('reads the IDX training files as the same samples, by digit or by position', async () => {
    const dir = join(root, 'idx');
    const n = 300;
    const images = fashion.images.slice(0, n * PIXELS);
    const labels = fashion.labels.slice(0, n);
    await put(
      join(dir, 'train-images-idx3-ubyte'),
      encodeIdx({ type: 'u8', dims: [n, SIDE, SIDE], data: images }),
    );
    await put(
      join(dir, 'train-labels-idx1-ubyte.gz'),
      gzipSync(encodeIdx({ type: 'u8', dims: [n], data: labels })),
    );
    expect(await detectLayout(dir)).toEqual({ layout: 'idx' });
    expect((await ownDataLabels(dir)).labels).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
    ]);

    // Fashion names are not digits: ten labels take the IDX numbers by position.
    const byPosition = await readOwnData(dir, imageTask(FASHION));
    expect(byPosition.summary.format).toBe('idx');
    expect([...byPosition.values]).toEqual([...images]);
    expect([...byPosition.targets]).toEqual([...labels]);

    // Digit names match by name, in whatever order the task lists them.
    const reversed = ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'];
    const byName = await readOwnData(dir, imageTask(reversed));
    expect([...byName.targets]).toEqual([...labels].map((l) => 9 - l));

    // Two labels: only those digits are kept.
    const two = await readOwnData(dir, imageTask(['0', '1']));
    const kept = [...labels].filter((l) => l <= 1).length;
    expect(two.summary.samples).toBe(kept);
    expect(two.summary.refused).toEqual({ 'unknown-label': n - kept });

    const wrong = await dataError(readOwnData(dir, imageTask(FASHION, { channels: 3 })));
    expect(wrong.code).toBe('bad-layout');
  });
});
