/**
 * A person's own data in a tab (DESIGN.md 9), decoded in a Web Worker with the platform's
 * decoders: createImageBitmap for PNG, JPEG, WebP (whatever the browser decodes), an
 * OffscreenCanvas to resize and read the pixels, and PapaParse for CSV/TSV (the same parser a
 * kiosk uses). The rules (labels, channels, refusals, caps) are worker/data/local.ts's, the
 * same as a kiosk's. Nothing here touches the network.
 */

import Papa from 'papaparse';
import { MAX_LABELS, type Task } from '../../core';
import {
  checkIdxTask,
  DataError,
  idxSamples,
  isImageName,
  type LocalSamples,
  labelOfPath,
  loadDataset,
  MAX_IMAGE_FILE_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_LOCAL_FILES,
  MAX_TABLE_BYTES,
  rgbaToChannels,
  type SampleCollector,
  sampleCollector,
  tableColumns,
  tableLabels,
  tableRow,
} from '../data';
import { browserGunzip } from './data';

/** A chosen file and its path under the chosen folder ('Trouser/001.png'; a table: its name). */
export interface ChosenFile {
  readonly file: File;
  readonly path: string;
}

export interface DecodeProgress {
  readonly done: number;
  readonly total: number;
}

/** Files decoded at once: enough to keep the decoder busy, few enough to bound memory. */
const IN_FLIGHT = 4;

const isTable = (name: string) => /\.(csv|tsv|txt)$/i.test(name);

/**
 * Decodes the chosen files for `task`: label folders of images for an image task, one table
 * for a features task. Throws DataError when nothing usable is left (the summary of what was
 * refused is in its message); otherwise every refusal is in the samples' summary.
 */
export async function decodeChosen(
  files: readonly ChosenFile[],
  task: Pick<Task, 'input' | 'labels' | 'data'>,
  onProgress: (p: DecodeProgress) => void = () => {},
): Promise<LocalSamples> {
  if (task.input.kind === 'features') {
    const tables = files.filter((f) => isTable(f.file.name));
    if (tables.length !== 1) {
      throw new DataError(
        'bad-layout',
        `this room's task takes a table: choose one .csv or .tsv file (got ${tables.length})`,
      );
    }
    return decodeTable(tables[0]!, task, onProgress);
  }
  const idx = idxPair(files);
  if (idx) return decodeIdx(idx, task, onProgress);
  return decodeImages(files, task, onProgress);
}

const IDX_NAMES = { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' };

/** The chosen IDX training pair (plain or .gz), if the files hold one. */
function idxPair(files: readonly ChosenFile[]): { images: File; labels: File } | undefined {
  const find = (base: string) =>
    files.find((f) => f.file.name === base || f.file.name === `${base}.gz`)?.file;
  const images = find(IDX_NAMES.images);
  const labels = find(IDX_NAMES.labels);
  return images && labels ? { images, labels } : undefined;
}

/** IDX files, as a kiosk reads them: the parser is worker/data's, gunzip the platform's. */
async function decodeIdx(
  files: { images: File; labels: File },
  task: Pick<Task, 'input' | 'labels'>,
  onProgress: (p: DecodeProgress) => void,
): Promise<LocalSamples> {
  checkIdxTask(task, files.images.name);
  const [images, labels] = await Promise.all(
    [files.images, files.labels].map(async (f) => new Uint8Array(await f.arrayBuffer())),
  );
  const ds = await loadDataset(images!, labels!, browserGunzip());
  if (!ds.ok) throw new DataError(ds.error.code, `${files.images.name}: ${ds.error.message}`);
  return idxSamples(ds.value, task, files.images.name, onProgress);
}

async function decodeImages(
  files: readonly ChosenFile[],
  task: Pick<Task, 'input' | 'labels'>,
  onProgress: (p: DecodeProgress) => void,
): Promise<LocalSamples> {
  const input = task.input;
  if (input.kind !== 'image') throw new DataError('bad-layout', 'the task takes features');
  const images = files.filter((f) => isImageName(f.path));
  if (images.length === 0) {
    throw new DataError(
      'bad-layout',
      'no image files: choose a folder with one subfolder per label, holding PNG, JPEG or WebP images',
    );
  }
  if (!images.some((f) => f.path.split('/').filter((p) => p !== '').length >= 2)) {
    throw new DataError(
      'bad-layout',
      'the folder has no label subfolders: put each image in a folder named after its label',
    );
  }
  const sorted = [...images].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const used = sorted.slice(0, MAX_LOCAL_FILES);
  const c = sampleCollector(task, 'images', used.length);
  for (const f of sorted.slice(MAX_LOCAL_FILES)) {
    c.refuse(f.path, 'over-cap', `past the first ${MAX_LOCAL_FILES} files`);
  }
  const canvas = new OffscreenCanvas(input.width, input.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new DataError('bad-layout', 'this browser has no 2d OffscreenCanvas');
  const sample = new Uint8Array(c.size);
  let done = 0;
  // Decoding runs IN_FLIGHT files ahead; samples are kept in file order (runs are repeatable).
  const pending: Promise<ImageBitmap | Refused>[] = [];
  const start = (i: number) => {
    if (i < used.length) pending.push(openImage(used[i]!));
  };
  for (let i = 0; i < IN_FLIGHT; i++) start(i);
  for (let i = 0; i < used.length; i++) {
    const f = used[i]!;
    const opened = await pending.shift()!;
    start(i + IN_FLIGHT);
    if (c.full()) {
      if (!('reason' in opened)) opened.close();
      c.refuse(f.path, 'over-cap', 'over the cap on decoded samples');
    } else if ('reason' in opened) {
      c.refuse(f.path, opened.reason, opened.detail);
    } else {
      const label = labelOfPath(f.path, task.labels, false);
      if ('reason' in label) c.refuse(f.path, label.reason, label.detail);
      else {
        draw(ctx, opened, input.width, input.height, input.fit ?? 'stretch');
        rgbaToChannels(
          ctx.getImageData(0, 0, input.width, input.height).data,
          input.channels,
          sample,
        );
        c.add(f.path, sample, label.label);
      }
      if (!('reason' in opened)) opened.close();
    }
    done++;
    if (done % 200 === 0) onProgress({ done, total: used.length });
  }
  onProgress({ done, total: used.length });
  return c.finish();
}

type Refused = { reason: 'empty' | 'too-large' | 'not-an-image' | 'unreadable'; detail: string };

async function openImage(f: ChosenFile): Promise<ImageBitmap | Refused> {
  if (f.file.size === 0) return { reason: 'empty', detail: 'a zero-byte file' };
  if (f.file.size > MAX_IMAGE_FILE_BYTES) {
    return { reason: 'too-large', detail: `${f.file.size} bytes, over ${MAX_IMAGE_FILE_BYTES}` };
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(f.file);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { reason: 'not-an-image', detail: why.slice(0, 120) || 'the browser cannot decode it' };
  }
  if (bitmap.width * bitmap.height > MAX_IMAGE_PIXELS) {
    const detail = `${bitmap.width} x ${bitmap.height} pixels, over ${MAX_IMAGE_PIXELS}`;
    bitmap.close();
    return { reason: 'too-large', detail };
  }
  return bitmap;
}

/** Draws the bitmap into the task's w x h by the task's fit rule, over black. */
function draw(
  ctx: OffscreenCanvasRenderingContext2D,
  img: ImageBitmap,
  w: number,
  h: number,
  fit: 'stretch' | 'cover' | 'contain',
): void {
  ctx.globalCompositeOperation = 'copy';
  ctx.fillStyle = 'rgba(0, 0, 0, 1)';
  ctx.fillRect(0, 0, w, h);
  ctx.globalCompositeOperation = 'source-over';
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'medium';
  if (fit === 'stretch') {
    ctx.drawImage(img, 0, 0, w, h);
    return;
  }
  const scale =
    fit === 'cover'
      ? Math.max(w / img.width, h / img.height)
      : Math.min(w / img.width, h / img.height);
  const dw = img.width * scale;
  const dh = img.height * scale;
  ctx.drawImage(img, (w - dw) / 2, (h - dh) / 2, dw, dh);
}

async function decodeTable(
  chosen: ChosenFile,
  task: Pick<Task, 'input' | 'labels' | 'data'>,
  onProgress: (p: DecodeProgress) => void,
): Promise<LocalSamples> {
  const input = task.input;
  if (input.kind !== 'features') throw new DataError('bad-layout', 'the task takes images');
  const name = chosen.file.name;
  if (chosen.file.size > MAX_TABLE_BYTES) {
    throw new DataError('bad-table', `${name}: ${chosen.file.size} bytes, over ${MAX_TABLE_BYTES}`);
  }
  const labelColumn = task.data.kind === 'local' ? task.data.labelColumn : undefined;
  let c: SampleCollector | undefined;
  let columns: ReturnType<typeof tableColumns> | undefined;
  let failure: Error | undefined;
  let line = 0;
  const row = new Float32Array(input.count);
  await new Promise<void>((resolve) => {
    Papa.parse<string[]>(chosen.file, {
      skipEmptyLines: true,
      step: (result, parser) => {
        line++;
        try {
          if (columns === undefined) {
            columns = tableColumns(result.data, labelColumn);
            if (columns.features.length !== input.count) {
              throw new DataError(
                'bad-table',
                `${name}: ${columns.features.length} feature columns, the task takes ${input.count}`,
              );
            }
            c = sampleCollector(task, 'table', Math.ceil(chosen.file.size / 64));
            return;
          }
          const parsed = tableRow(result.data, columns, task.labels, row);
          if ('reason' in parsed) c!.refuse(`${name}:${line}`, parsed.reason, parsed.detail);
          else c!.add(`${name}:${line}`, row, parsed.label);
          if (line % 5000 === 0) onProgress({ done: result.meta.cursor, total: chosen.file.size });
        } catch (e) {
          failure = e instanceof Error ? e : new Error(String(e));
          parser.abort();
        }
      },
      complete: () => resolve(),
      error: (e) => {
        failure = new DataError('bad-table', `${name}: ${e.message}`);
        resolve();
      },
    });
  });
  if (failure) throw failure;
  if (c === undefined) throw new DataError('bad-table', `${name}: no header row`);
  onProgress({ done: chosen.file.size, total: chosen.file.size });
  return c.finish();
}

/** A table's feature count and label values (sorted), for the task of a new room. */
export async function peekTable(
  file: File,
  labelColumn?: string,
): Promise<{ features: number; labels: string[] }> {
  let columns: ReturnType<typeof tableColumns> | undefined;
  let failure: Error | undefined;
  const values = new Set<string>();
  await new Promise<void>((resolve) => {
    Papa.parse<string[]>(file, {
      skipEmptyLines: true,
      step: (result, parser) => {
        try {
          if (columns === undefined) columns = tableColumns(result.data, labelColumn);
          else if (result.data.length === columns.header.length) {
            values.add(result.data[columns.label]!);
            if (values.size > MAX_LABELS) {
              throw new DataError('bad-table', `${file.name}: over ${MAX_LABELS} distinct labels`);
            }
          }
        } catch (e) {
          failure = e instanceof Error ? e : new Error(String(e));
          parser.abort();
        }
      },
      complete: () => resolve(),
      error: (e) => {
        failure = new DataError('bad-table', `${file.name}: ${e.message}`);
        resolve();
      },
    });
  });
  if (failure) throw failure;
  if (columns === undefined) throw new DataError('bad-table', `${file.name}: no header row`);
  return { features: columns.features.length, labels: tableLabels(values) };
}
