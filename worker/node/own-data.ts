/**
 * A person's own data read in Node (a kiosk's or the CLI's `--data PATH`): a folder with one
 * subfolder per label holding images (decoded and resized with sharp), a CSV/TSV table
 * (streamed with papaparse), or the IDX files a kiosk collects. The rules (labels, channels,
 * refusals, caps) are worker/data/local.ts's, the same a browser tab applies; this file only
 * walks folders, reads files and decodes them.
 *
 * Example: `const samples = await readOwnData('/data/photos', task, (p) => log(p.done))`.
 */

import { createReadStream } from 'node:fs';
import { opendir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import Papa from 'papaparse';
import sharp from 'sharp';
import { MAX_LABELS, type Task, type TaskInput } from '../../core';
import {
  checkIdxTask,
  DataError,
  idxSamples,
  isImageName,
  type LocalSamples,
  labelOfPath,
  MAX_IMAGE_FILE_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_LOCAL_FILES,
  MAX_TABLE_BYTES,
  type RefusalReason,
  rgbaToChannels,
  type SampleCollector,
  sampleCollector,
  sortLabels,
  type TableColumns,
  tableColumns,
  tableLabels,
  tableRow,
} from '../data';
import { findFile, LOCAL_FILES, readPair } from './local-data';

export type OwnDataLayout = 'idx' | 'images' | 'table';

/** The task fields reading own data looks at. */
export type OwnDataTask = Pick<Task, 'input' | 'labels' | 'data'>;

export interface OwnDataProgress {
  readonly done: number;
  /** Files in the folder, rows of the table (estimated from the bytes read until the end). */
  readonly total: number;
}

const ACCEPTED_LAYOUTS =
  'a folder with one subfolder per label holding images, a .csv/.tsv file with a header, ' +
  `or the IDX files ${LOCAL_FILES.trainImages} / ${LOCAL_FILES.trainLabels}`;
/** A table given as a file may end so; inside a folder only .csv and .tsv are looked for. */
const TABLE_FILE_EXTENSIONS = ['.csv', '.tsv', '.txt'];
const TABLE_DIR_EXTENSIONS = ['.csv', '.tsv'];
/** Image files decoded at once: enough to keep sharp's threads busy, few bytes held. */
const IMAGES_IN_FLIGHT = 4;
const IMAGE_PROGRESS_EVERY = 500;
const ROW_PROGRESS_EVERY = 5000;
const MIB = 2 ** 20;

const badLayout = (path: string, what: string) =>
  new DataError('bad-layout', `${path} ${what}: give ${ACCEPTED_LAYOUTS}`);

const isHidden = (name: string) => name.startsWith('.');
const hasExtension = (name: string, extensions: readonly string[]) =>
  extensions.includes(extname(name).toLowerCase());
/** A library's error message, one line and short enough for a summary. */
const shortMessage = (e: unknown): string => {
  const text = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

/** Which of the three layouts `path` holds, and for a table the file. */
export async function detectLayout(
  path: string,
): Promise<{ layout: OwnDataLayout; file?: string }> {
  const info = await stat(path).catch((e: unknown) => {
    throw new DataError('missing', `cannot read ${path}: ${shortMessage(e)}`);
  });
  if (info.isFile()) {
    if (hasExtension(path, TABLE_FILE_EXTENSIONS)) return { layout: 'table', file: path };
    throw badLayout(path, 'is a file that is not a .csv/.tsv/.txt table');
  }
  if (!info.isDirectory()) throw badLayout(path, 'is neither a file nor a folder');
  const idx = await Promise.all([
    findFile(path, LOCAL_FILES.trainImages),
    findFile(path, LOCAL_FILES.trainLabels),
  ]);
  if (idx.every((f) => f !== undefined)) return { layout: 'idx' };
  let subfolder = false;
  const tables: string[] = [];
  for await (const entry of await opendir(path)) {
    if (isHidden(entry.name)) continue;
    if (entry.isDirectory()) {
      subfolder = true;
      break;
    }
    if (entry.isFile() && hasExtension(entry.name, TABLE_DIR_EXTENSIONS)) tables.push(entry.name);
  }
  if (subfolder) return { layout: 'images' };
  if (tables.length === 1) return { layout: 'table', file: join(path, tables[0]!) };
  throw badLayout(
    path,
    tables.length > 1
      ? `holds ${tables.length} tables (${tables.slice(0, 3).join(', ')}) and no subfolders`
      : 'holds no label subfolders, no table and no IDX files',
  );
}

export interface ImageFile {
  /** Absolute path. */
  readonly path: string;
  /** Path under the chosen folder, '/'-separated: its first part is the label folder. */
  readonly rel: string;
  /** Bytes; -1 when it could not be stat-ed (reading it then refuses it as 'unreadable'). */
  readonly size: number;
}

export interface ImageFolderScan {
  /** The image files, sorted by rel; at most MAX_LOCAL_FILES (or the cap given). */
  readonly files: readonly ImageFile[];
  /** The subfolders holding images (a new task's labels), sorted with sortLabels. */
  readonly labelFolders: readonly string[];
  /** Names that are not images, and hidden files and folders (not walked). */
  readonly skipped: number;
  /** Image files past the cap: counted, not listed. */
  readonly overCap: number;
}

/** Files stat-ed at once while walking. */
const STAT_BATCH = 64;

async function sizeOf(path: string): Promise<number> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : -1;
  } catch {
    return -1;
  }
}

/**
 * The image files under `dir`, walked into every subfolder. Files right in `dir` are listed
 * too (reading refuses them as 'no-label-folder'). Symbolic links to files are followed,
 * links to folders are not (no loops). Past `maxFiles` images are only counted; which ones
 * are listed then depends on the order the file system lists them in.
 */
export async function scanImageFolder(
  dir: string,
  maxFiles = MAX_LOCAL_FILES,
): Promise<ImageFolderScan> {
  const root = resolve(dir);
  const files: ImageFile[] = [];
  const folders = new Set<string>();
  let skipped = 0;
  let overCap = 0;

  const walk = async (abs: string, rel: string): Promise<void> => {
    const subfolders: string[] = [];
    const found: { path: string; rel: string }[] = [];
    for await (const entry of await opendir(abs)) {
      if (isHidden(entry.name)) {
        skipped++;
        continue;
      }
      if (entry.isDirectory()) {
        subfolders.push(entry.name);
        continue;
      }
      if (!isImageName(entry.name) || !(entry.isFile() || entry.isSymbolicLink())) {
        skipped++;
        continue;
      }
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (rel !== '') folders.add(rel.split('/')[0]!);
      if (files.length + found.length >= maxFiles) overCap++;
      else found.push({ path: join(abs, entry.name), rel: childRel });
    }
    for (let i = 0; i < found.length; i += STAT_BATCH) {
      const batch = found.slice(i, i + STAT_BATCH);
      const sizes = await Promise.all(batch.map((f) => sizeOf(f.path)));
      batch.forEach((f, j) => {
        files.push({ ...f, size: sizes[j]! });
      });
    }
    for (const name of subfolders) {
      await walk(join(abs, name), rel === '' ? name : `${rel}/${name}`);
    }
  };

  await walk(root, '');
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, labelFolders: sortLabels([...folders]), skipped, overCap };
}

const noLabelFolders = (dir: string, labels: readonly string[]) =>
  new DataError(
    'bad-layout',
    `${dir} has no label subfolders holding images: put each label's images in a folder ` +
      `named for the label (${join(dir, (labels[0] ?? 'cat').replace(/\//g, '_'), '001.png')})`,
  );

/** One file's outcome: a decoded sample and its label, or why it is refused. */
type Decoded =
  | { readonly sample: Uint8Array; readonly label: number }
  | { readonly reason: RefusalReason; readonly detail: string };

type ImageInput = Extract<TaskInput, { kind: 'image' }>;

/**
 * Decodes image bytes into the task's h x w x c pixel bytes. 'stretch' is sharp's 'fill';
 * `autoOrient` applies the EXIF orientation as createImageBitmap does by default; the image
 * goes to sRGB 8-bit RGBA so that rgbaToChannels applies the one channel rule.
 */
async function decodeImage(bytes: Buffer, input: ImageInput, out: Uint8Array): Promise<void> {
  const fit = input.fit ?? 'stretch';
  const { data, info } = await sharp(bytes, {
    limitInputPixels: MAX_IMAGE_PIXELS,
    failOn: 'error',
    autoOrient: true,
  })
    .resize(input.width, input.height, {
      fit: fit === 'stretch' ? 'fill' : fit,
      kernel: 'linear',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4 || info.width !== input.width || info.height !== input.height) {
    throw new Error(`decoded to ${info.width} x ${info.height} x ${info.channels}, not RGBA`);
  }
  rgbaToChannels(data, input.channels, out);
}

/** Checks, reads and decodes one file; never throws (every failure is a refusal). */
async function decodeFile(
  file: ImageFile,
  input: ImageInput,
  labels: readonly string[],
): Promise<Decoded> {
  const tooLarge = (bytes: number): Decoded => ({
    reason: 'too-large',
    detail: `${(bytes / MIB).toFixed(1)} MiB, over the ${MAX_IMAGE_FILE_BYTES / MIB} MiB a file may take`,
  });
  if (file.size === 0) return { reason: 'empty', detail: 'a zero-byte file' };
  if (file.size > MAX_IMAGE_FILE_BYTES) return tooLarge(file.size);
  const where = labelOfPath(file.rel, labels, false);
  if ('reason' in where) return where;
  let bytes: Buffer;
  try {
    // Read here rather than handing sharp the path, so that a read error and a decode error
    // are told apart; at most IMAGES_IN_FLIGHT files' bytes are held at once.
    bytes = await readFile(file.path);
  } catch (e) {
    return { reason: 'unreadable', detail: shortMessage(e) };
  }
  if (bytes.length === 0) return { reason: 'empty', detail: 'a zero-byte file' };
  if (bytes.length > MAX_IMAGE_FILE_BYTES) return tooLarge(bytes.length);
  const sample = new Uint8Array(input.height * input.width * input.channels);
  try {
    await decodeImage(bytes, input, sample);
  } catch (e) {
    // sharp reads the size from the header and refuses before decoding any pixel.
    if (/pixel limit/i.test(shortMessage(e))) {
      return {
        reason: 'too-large',
        detail: `over the ${MAX_IMAGE_PIXELS / 1e6} million pixels an image may have`,
      };
    }
    return { reason: 'not-an-image', detail: shortMessage(e) };
  }
  return { sample, label: where.label };
}

/**
 * Runs `work` on 0..n-1 with at most `limit` in flight and hands the results to `use` in
 * index order; starts nothing more once `use` returns false. Returns how many were used.
 * `work` must not reject.
 */
async function inOrder<T>(
  n: number,
  limit: number,
  work: (i: number) => Promise<T>,
  use: (result: T, i: number) => boolean,
): Promise<number> {
  const running: Promise<T>[] = [];
  let started = 0;
  for (let i = 0; i < n; i++) {
    while (started < n && started < i + limit) running.push(work(started++));
    if (!use(await running.shift()!, i)) {
      await Promise.all(running);
      return i + 1;
    }
  }
  return n;
}

/** Refuses `count` items as 'over-cap' under one name. */
function refuseOverCap(c: SampleCollector, item: string, count: number, detail: string): void {
  for (let i = 0; i < count; i++) c.refuse(item, 'over-cap', detail);
}

async function readImageFolder(
  dir: string,
  task: OwnDataTask,
  onProgress?: (p: OwnDataProgress) => void,
): Promise<LocalSamples> {
  const input = task.input;
  if (input.kind !== 'image') {
    throw new DataError(
      'bad-layout',
      `${dir} is a folder of images, the task takes ${input.count} features (a .csv/.tsv table)`,
    );
  }
  const scan = await scanImageFolder(dir);
  if (scan.labelFolders.length === 0) throw noLabelFolders(dir, task.labels);
  const { files } = scan;
  const c = sampleCollector(task, 'images', files.length);
  const total = files.length;
  const used = await inOrder(
    files.length,
    IMAGES_IN_FLIGHT,
    (i) => decodeFile(files[i]!, input, task.labels),
    (result, i) => {
      const rel = files[i]!.rel;
      if ('reason' in result) c.refuse(rel, result.reason, result.detail);
      else c.add(rel, result.sample, result.label);
      if ((i + 1) % IMAGE_PROGRESS_EVERY === 0) onProgress?.({ done: i + 1, total });
      return !c.full();
    },
  );
  for (let i = used; i < files.length; i++) {
    c.refuse(files[i]!.rel, 'over-cap', 'the decoded samples are at their memory cap');
  }
  refuseOverCap(
    c,
    `${dir} (files past the cap)`,
    scan.overCap,
    `past the first ${MAX_LOCAL_FILES} files`,
  );
  onProgress?.({ done: total, total });
  return c.finish();
}

/** A header whose cells are all numbers is a data row: the table has no header. */
const looksNumeric = (cells: readonly string[]) =>
  cells.every((cell) => cell.trim() !== '' && Number.isFinite(Number(cell.trim())));

function headerColumns(file: string, cells: readonly string[], labelColumn?: string) {
  if (looksNumeric(cells)) {
    throw new DataError(
      'bad-table',
      `${file}: the first line holds numbers, not column names: a table needs a header`,
    );
  }
  try {
    return tableColumns(cells, labelColumn);
  } catch (e) {
    if (e instanceof DataError) throw new DataError(e.code, `${file}: ${e.message}`);
    throw e;
  }
}

interface TableVisitor {
  header(cells: string[]): void;
  /** A data row, its line (the header is line 1, empty lines not counted), the share read. */
  row(cells: string[], line: number, read: () => number): void;
}

/**
 * Streams a table once with papaparse (delimiter guessed from the first chunk, empty lines
 * skipped). A visitor that throws stops the stream and rejects with its error.
 */
async function streamTable(file: string, visit: TableVisitor): Promise<void> {
  const info = await stat(file).catch((e: unknown) => {
    throw new DataError('missing', `cannot read ${file}: ${shortMessage(e)}`);
  });
  if (info.size > MAX_TABLE_BYTES) {
    throw new DataError(
      'bad-table',
      `${file}: ${(info.size / 2 ** 30).toFixed(1)} GiB, over the ${MAX_TABLE_BYTES / 2 ** 30} GiB a table may take`,
    );
  }
  // A string stream: Node's decoder keeps a character split between chunks whole.
  const stream = createReadStream(file, { encoding: 'utf8' });
  const read = () => (info.size === 0 ? 1 : Math.min(1, stream.bytesRead / info.size));
  await new Promise<void>((done, fail) => {
    let line = 0;
    let failed = false;
    const stop = (e: unknown, parser?: Papa.Parser) => {
      if (failed) return;
      failed = true;
      parser?.abort();
      stream.destroy();
      fail(e);
    };
    Papa.parse<string[]>(stream, {
      skipEmptyLines: true,
      beforeFirstChunk: (chunk) => chunk.replace(/^\ufeff/, ''),
      chunk(results, parser) {
        if (failed) return;
        try {
          for (const cells of results.data) {
            line++;
            if (line === 1) visit.header(cells);
            else visit.row(cells, line, read);
          }
        } catch (e) {
          stop(e, parser);
        }
      },
      complete() {
        if (failed) return;
        if (line === 0)
          stop(new DataError('bad-table', `${file} is empty: a table needs a header`));
        else done();
      },
      error(e) {
        stop(new DataError('missing', `cannot read ${file}: ${shortMessage(e)}`));
      },
    });
  });
}

export interface TablePeek {
  readonly columns: TableColumns;
  /** The label column's distinct values, sorted (a new task's labels). */
  readonly labels: string[];
  /** Data rows (the header not counted). */
  readonly rows: number;
}

/**
 * Reads a table once without keeping its rows: its columns, its labels and its row count.
 * DataError 'bad-table' for a file over MAX_TABLE_BYTES, no header, no such label column, or
 * more distinct labels than a task may have.
 */
export async function peekTable(file: string, labelColumn?: string): Promise<TablePeek> {
  let columns: TableColumns | undefined;
  const values = new Set<string>();
  let rows = 0;
  await streamTable(file, {
    header(cells) {
      columns = headerColumns(file, cells, labelColumn);
    },
    row(cells) {
      rows++;
      const { label, header } = columns!;
      if (cells.length !== header.length) return;
      const value = cells[label]!.trim();
      if (value === '' || values.has(value)) return;
      values.add(value);
      if (values.size > MAX_LABELS) {
        throw new DataError(
          'bad-table',
          `${file}: the label column '${header[label]}' holds over ${MAX_LABELS} distinct values, more than a task's labels`,
        );
      }
    },
  });
  return { columns: columns!, labels: tableLabels(values), rows };
}

async function readTable(
  file: string,
  task: OwnDataTask,
  onProgress?: (p: OwnDataProgress) => void,
): Promise<LocalSamples> {
  const input = task.input;
  if (input.kind !== 'features') {
    throw new DataError(
      'bad-layout',
      `${file} is a table, the task takes ${input.height} x ${input.width} x ${input.channels} images (a folder with one subfolder per label)`,
    );
  }
  const labelColumn = task.data.kind === 'local' ? task.data.labelColumn : undefined;
  const name = basename(file);
  const c = sampleCollector(task, 'table');
  const features = new Float32Array(input.count);
  let columns: TableColumns | undefined;
  let rows = 0;
  await streamTable(file, {
    header(cells) {
      columns = headerColumns(file, cells, labelColumn);
      const n = columns.features.length;
      if (n !== input.count) {
        throw new DataError(
          'bad-table',
          `${file}: ${n} feature columns, the task takes ${input.count}`,
        );
      }
    },
    row(cells, line, read) {
      const item = `${name}:${line}`;
      if (c.full()) {
        c.refuse(item, 'over-cap', 'the decoded samples are at their memory cap');
      } else {
        const r = tableRow(cells, columns!, task.labels, features);
        if ('reason' in r) c.refuse(item, r.reason, r.detail);
        else c.add(item, features, r.label);
      }
      rows++;
      if (rows % ROW_PROGRESS_EVERY === 0) {
        onProgress?.({ done: rows, total: Math.max(rows, Math.round(rows / read())) });
      }
    },
  });
  onProgress?.({ done: rows, total: rows });
  return c.finish();
}

async function readIdxFolder(
  dir: string,
  task: OwnDataTask,
  onProgress?: (p: OwnDataProgress) => void,
): Promise<LocalSamples> {
  checkIdxTask(task, dir);
  const ds = await readPair(dir, LOCAL_FILES.trainImages, LOCAL_FILES.trainLabels);
  return idxSamples(ds, task, LOCAL_FILES.trainImages, onProgress);
}

/**
 * The task's samples from a person's own data at `path` (any of the three layouts), with
 * what was refused and why in `summary`. Throws DataError when the layout does not fit the
 * task or nothing usable is there; a bad file or row is refused, never thrown.
 */
export async function readOwnData(
  path: string,
  task: OwnDataTask,
  onProgress?: (p: OwnDataProgress) => void,
): Promise<LocalSamples> {
  const { layout, file } = await detectLayout(path);
  if (layout === 'images') return readImageFolder(path, task, onProgress);
  if (layout === 'table') return readTable(file!, task, onProgress);
  return readIdxFolder(path, task, onProgress);
}

const IDX_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * The labels a new task would take from the data at `path` (the label folders, a table's
 * label values, or IDX's ten digits), and a table's feature count.
 */
export async function ownDataLabels(
  path: string,
  labelColumn?: string,
): Promise<{ layout: OwnDataLayout; labels: string[]; features?: number }> {
  const { layout, file } = await detectLayout(path);
  if (layout === 'images') {
    const scan = await scanImageFolder(path);
    if (scan.labelFolders.length === 0) throw noLabelFolders(path, []);
    return { layout, labels: [...scan.labelFolders] };
  }
  if (layout === 'table') {
    const peek = await peekTable(file!, labelColumn);
    return { layout, labels: peek.labels, features: peek.columns.features.length };
  }
  return { layout, labels: [...IDX_LABELS] };
}
