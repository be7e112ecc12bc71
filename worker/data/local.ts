/**
 * A person's own data (DESIGN.md 10): a folder of images with one subfolder per label, or a
 * CSV/TSV table with a label column, turned into the task's samples on the peer that holds
 * them. Pure and platform-free: the browser (createImageBitmap, OffscreenCanvas) and Node
 * (sharp) shells decode and resize; this module maps labels, converts channels, parses rows,
 * counts what it refuses and why, and splits what it keeps.
 *
 * Rules, the same in a tab and a kiosk:
 * - A file's label is the name of the folder it sits in, right under the chosen folder
 *   (`chosen/Trouser/001.png`), matched to the task's labels by `labelIndex` (core).
 * - Pixels become the task's channels by one formula: grey = 0.299 R + 0.587 G + 0.114 B;
 *   grey to colour repeats the value; transparent pixels are composited over black.
 * - Nothing malformed is kept: a refused file or row is counted by reason, the first few
 *   named, and the rest of the data is used.
 */

import { inputSize, labelIndex, mulberry32, type Task, type TaskInput } from '../../core';
import { DataError } from './errors';
import type { Dataset } from './mnist';
import { permutation } from './shards';
import { subsetDataset } from './subset';

/** At most this many files are looked at (a folder of a million files is cut, with a message). */
export const MAX_LOCAL_FILES = 250_000;
/** Decoded samples take at most this many bytes; past it the rest is refused as 'over-cap'. */
export const MAX_LOCAL_BYTES = 512 * 1024 * 1024;
/** An image file over this many bytes is refused before it is read. */
export const MAX_IMAGE_FILE_BYTES = 32 * 1024 * 1024;
/** An image over this many pixels (width x height) is refused: a 8000 x 5000 photo fits. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** A CSV file over this many bytes is refused. */
export const MAX_TABLE_BYTES = 1024 * 1024 * 1024;
/** How many refused files a summary names; the rest are only counted. */
export const NAMED_REFUSALS = 8;

/** Why a file or row was not kept. */
export type RefusalReason =
  /** A zero-byte file. */
  | 'empty'
  /** Not an image the platform decodes (or a truncated one). */
  | 'not-an-image'
  /** Over MAX_IMAGE_FILE_BYTES or MAX_IMAGE_PIXELS. */
  | 'too-large'
  /** Its folder (or CSV value) is a label the task does not know. */
  | 'unknown-label'
  /** Not inside a label folder (a file right in the chosen folder). */
  | 'no-label-folder'
  /** A CSV row with a missing or non-numeric value, or the wrong column count. */
  | 'bad-row'
  /** Past MAX_LOCAL_FILES or MAX_LOCAL_BYTES. */
  | 'over-cap'
  /** The file could not be read at all. */
  | 'unreadable';

export interface Refusal {
  /** The file's path under the chosen folder, or `file:line` for a CSV row. */
  readonly item: string;
  readonly reason: RefusalReason;
  readonly detail: string;
}

/** What a person reads before training starts, and what a peer reports (no samples). */
export interface LocalDataSummary {
  readonly format: 'images' | 'table' | 'idx';
  /** Samples kept. */
  readonly samples: number;
  /** Samples kept per task label, in label order. */
  readonly perLabel: readonly number[];
  /** Refused files or rows, by reason. */
  readonly refused: Readonly<Partial<Record<RefusalReason, number>>>;
  readonly refusedTotal: number;
  /** The first NAMED_REFUSALS refusals. */
  readonly firstRefusals: readonly Refusal[];
}

/** The decoded samples as kept (in IndexedDB in a tab, in memory in a kiosk). */
export interface LocalSamples {
  /** The task's input and labels they were decoded for: reused only for the same. */
  readonly input: TaskInput;
  readonly labels: readonly string[];
  /** count x inputSize(input): pixel bytes for images, floats for a table. */
  readonly values: Uint8Array | Float32Array;
  /** count label indices. */
  readonly targets: Uint16Array;
  readonly summary: LocalDataSummary;
}

/** Whether kept samples were decoded for this task (same input, same labels). */
export const samplesFitTask = (s: Pick<LocalSamples, 'input' | 'labels'>, task: Task): boolean =>
  JSON.stringify(s.input) === JSON.stringify(task.input) &&
  s.labels.length === task.labels.length &&
  s.labels.every((l, i) => l === task.labels[i]);

/**
 * Collects samples into one growing buffer (never more than MAX_LOCAL_BYTES) and counts
 * refusals. Example: `const c = sampleCollector(task, 'images'); c.add(pixels, 3); c.finish()`.
 */
export function sampleCollector(
  task: Pick<Task, 'input' | 'labels'>,
  format: LocalDataSummary['format'],
  expected = 1024,
) {
  const size = inputSize(task.input);
  const floats = task.input.kind === 'features';
  const bytesPer = size * (floats ? 4 : 1);
  const maxCount = Math.max(1, Math.floor(MAX_LOCAL_BYTES / bytesPer));
  const alloc = (n: number) => (floats ? new Float32Array(n * size) : new Uint8Array(n * size));
  let values = alloc(Math.min(Math.max(expected, 16), maxCount));
  let targets = new Uint16Array(values.length / size);
  let count = 0;
  const perLabel = new Array<number>(task.labels.length).fill(0);
  const refused: Partial<Record<RefusalReason, number>> = {};
  const first: Refusal[] = [];
  let refusedTotal = 0;

  const refuse = (item: string, reason: RefusalReason, detail: string) => {
    refused[reason] = (refused[reason] ?? 0) + 1;
    refusedTotal++;
    if (first.length < NAMED_REFUSALS) first.push({ item, reason, detail });
  };
  return {
    /** Values per sample. */
    size,
    refuse,
    /** Whether another sample still fits under the caps. */
    full: () => count >= maxCount,
    /**
     * Keeps one sample: `sample` holds `size` values (bytes for images, finite floats for a
     * table), `label` an index into the task's labels. Refuses it as 'over-cap' when full.
     */
    add(item: string, sample: ArrayLike<number>, label: number): boolean {
      if (count >= maxCount) {
        refuse(item, 'over-cap', `over the ${MAX_LOCAL_BYTES / 2 ** 20} MiB of decoded samples`);
        return false;
      }
      if (sample.length !== size || !(Number.isInteger(label) && label >= 0)) {
        throw new DataError('bad-batch', `a sample of ${sample.length} values, label ${label}`);
      }
      if (count * size >= values.length) {
        const grown = alloc(Math.min(maxCount, count * 2));
        grown.set(values);
        values = grown;
        const t = new Uint16Array(grown.length / size);
        t.set(targets);
        targets = t;
      }
      values.set(sample, count * size);
      targets[count] = label;
      perLabel[label]! += 1;
      count++;
      return true;
    },
    /** The samples kept; throws DataError 'no-data' when none was. */
    finish(): LocalSamples {
      const summary: LocalDataSummary = {
        format,
        samples: count,
        perLabel,
        refused,
        refusedTotal,
        firstRefusals: first,
      };
      if (count === 0) {
        const why = first.map((r) => `${r.item}: ${r.detail}`).join('; ');
        throw new DataError('no-data', `no usable sample${why ? ` (${why})` : ''}`);
      }
      return {
        input: task.input,
        labels: [...task.labels],
        values: values.slice(0, count * size),
        targets: targets.slice(0, count),
        summary,
      };
    },
  };
}
export type SampleCollector = ReturnType<typeof sampleCollector>;

/**
 * The label folder of a file given by its path under the chosen folder ('Trouser/1.png', or
 * with the chosen folder's own name first when `rooted`, as a directory input gives it):
 * its label index, or why the file is refused.
 */
export function labelOfPath(
  path: string,
  labels: readonly string[],
  rooted: boolean,
): { label: number } | { reason: RefusalReason; detail: string } {
  const parts = path.split('/').filter((p) => p !== '');
  const rest = rooted ? parts.slice(1) : parts;
  if (rest.length < 2) {
    return { reason: 'no-label-folder', detail: 'not inside a label folder' };
  }
  const folder = rest[0]!;
  const label = labelIndex(labels, folder);
  return label === undefined
    ? { reason: 'unknown-label', detail: `'${folder}' is not one of the task's labels` }
    : { label };
}

/** The label folders of a set of paths under the chosen folder, sorted (a new task's labels). */
export function labelFolders(paths: readonly string[], rooted: boolean): string[] {
  const names = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/').filter((p) => p !== '');
    const rest = rooted ? parts.slice(1) : parts;
    if (rest.length >= 2) names.add(rest[0]!);
  }
  return sortLabels([...names]);
}

/** Label names in a stable order: numerically when all are numbers, else by code point. */
export function sortLabels(names: readonly string[]): string[] {
  const numeric = names.length > 0 && names.every((n) => /^-?\d+(\.\d+)?$/.test(n));
  return [...names].sort(
    numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  );
}

/** Image file names looked at in a label folder (others are skipped without a count). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp'] as const;
export const isImageName = (name: string): boolean => {
  const lower = name.toLowerCase();
  return (
    !lower.split('/').pop()!.startsWith('.') && IMAGE_EXTENSIONS.some((e) => lower.endsWith(e))
  );
};

/**
 * Writes `pixels` RGBA pixels (unpremultiplied, as getImageData and sharp's raw output give
 * them) into `out` as the task's channels: alpha composited over black, grey by luminance.
 */
export function rgbaToChannels(
  rgba: ArrayLike<number>,
  channels: 1 | 3,
  out: Uint8Array | number[],
): void {
  const pixels = rgba.length >> 2;
  for (let p = 0; p < pixels; p++) {
    const a = rgba[4 * p + 3]! / 255;
    const r = rgba[4 * p]! * a;
    const g = rgba[4 * p + 1]! * a;
    const b = rgba[4 * p + 2]! * a;
    if (channels === 1) {
      out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    } else {
      out[3 * p] = Math.round(r);
      out[3 * p + 1] = Math.round(g);
      out[3 * p + 2] = Math.round(b);
    }
  }
}

/** Where a table's label and features are, from its header. */
export interface TableColumns {
  readonly label: number;
  readonly features: readonly number[];
  readonly header: readonly string[];
}

/**
 * The label column ('label' by default, any case; else the last column) and the feature
 * columns (all the others) of a header. A DataError 'bad-table' names what is wrong.
 */
export function tableColumns(header: readonly string[], labelColumn?: string): TableColumns {
  const names = header.map((h) => h.trim());
  if (names.length < 2) {
    throw new DataError(
      'bad-table',
      `the header has ${names.length} column(s): a label and at least one feature are needed`,
    );
  }
  let label: number;
  if (labelColumn !== undefined) {
    label = names.indexOf(labelColumn);
    if (label < 0) {
      throw new DataError(
        'bad-table',
        `no label column '${labelColumn}' in the header (${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})`,
      );
    }
  } else {
    const byName = names.findIndex((n) => n.toLowerCase() === 'label');
    label = byName >= 0 ? byName : names.length - 1;
  }
  const features = names.map((_, i) => i).filter((i) => i !== label);
  return { label, features, header: names };
}

/**
 * Parses one row into `out` (features as floats): the label index, or why it is refused.
 * A value is a number when Number() of its trimmed text is finite and the text is not empty.
 */
export function tableRow(
  row: readonly string[],
  columns: TableColumns,
  labels: readonly string[],
  out: Float32Array,
): { label: number } | { reason: RefusalReason; detail: string } {
  if (row.length !== columns.header.length) {
    return {
      reason: 'bad-row',
      detail: `${row.length} columns, the header has ${columns.header.length}`,
    };
  }
  const name = row[columns.label]!.trim();
  const label = labelIndex(labels, name);
  if (label === undefined) {
    return {
      reason: 'unknown-label',
      detail: `label '${name.slice(0, 40)}' is not one of the task's labels`,
    };
  }
  const f = columns.features;
  for (let i = 0; i < f.length; i++) {
    const text = row[f[i]!]!.trim();
    const x = text === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(x) || Math.abs(x) > 3.4e38) {
      return {
        reason: 'bad-row',
        detail: `column '${columns.header[f[i]!]}' holds '${text.slice(0, 20)}', not a number`,
      };
    }
    out[i] = x;
  }
  return { label };
}

/** The label values of a table's rows, distinct and sorted (a new task's labels). */
export const tableLabels = (values: Iterable<string>): string[] =>
  sortLabels([...new Set([...values].map((v) => v.trim()).filter((v) => v !== ''))]);

/**
 * The task label of each IDX label number. IDX files carry numbers only: a number is the
 * task's label of that name ('3' in an MNIST task). When no label has that name and the task
 * has exactly 10 labels (Fashion-MNIST's 'T-shirt/top', 'Trouser', ...), number n is the
 * task's nth label: the order MNIST-style IDX files number their classes in.
 */
function idxLabelOf(labels: readonly string[], value: number): number | undefined {
  const named = labelIndex(labels, String(value));
  if (named !== undefined) return named;
  return labels.length === 10 && value < 10 ? value : undefined;
}

/** IDX files hold 28 x 28 grey images: a DataError 'bad-layout' unless the task takes them. */
export function checkIdxTask(task: Pick<Task, 'input'>, where: string): void {
  const input = task.input;
  if (input.kind === 'image' && input.height === 28 && input.width === 28 && input.channels === 1) {
    return;
  }
  const takes =
    input.kind === 'image'
      ? `${input.height} x ${input.width} x ${input.channels} images`
      : `${input.count} features`;
  throw new DataError(
    'bad-layout',
    `${where} holds IDX files of 28 x 28 grey images, the task takes ${takes}`,
  );
}

/** An IDX dataset's samples for the task (labels mapped by idxLabelOf, the rest refused). */
export function idxSamples(
  ds: Dataset,
  task: Pick<Task, 'input' | 'labels'>,
  item: string,
  onProgress?: (p: { done: number; total: number }) => void,
): LocalSamples {
  checkIdxTask(task, item);
  const size = 28 * 28;
  const labelOf = new Map<number, number | undefined>();
  const c = sampleCollector(task, 'idx', ds.count);
  for (let i = 0; i < ds.count; i++) {
    const value = ds.labels[i]!;
    if (!labelOf.has(value)) labelOf.set(value, idxLabelOf(task.labels, value));
    const label = labelOf.get(value);
    if (label === undefined) {
      c.refuse(`${item}:${i}`, 'unknown-label', `label ${value} is not one of the task's labels`);
    } else {
      c.add(`${item}:${i}`, ds.images.subarray(i * size, (i + 1) * size), label);
    }
    if ((i + 1) % 5000 === 0) onProgress?.({ done: i + 1, total: ds.count });
  }
  onProgress?.({ done: ds.count, total: ds.count });
  return c.finish();
}

/** The samples as a Dataset (sharing their memory). */
export function samplesDataset(s: LocalSamples): Dataset {
  const count = s.targets.length;
  const input = s.input;
  return {
    count,
    rows: input.kind === 'image' ? input.height : 1,
    cols: input.kind === 'image' ? input.width : input.count,
    channels: input.kind === 'image' ? input.channels : 1,
    classes: s.labels.length,
    images: s.values,
    labels: s.targets,
  };
}

/** The share of a peer's own samples held out to report its accuracy on. */
export const HELD_OUT_FRACTION = 0.1;

/** How many of `count` own samples are held out: HELD_OUT_FRACTION, 1 to `testSamples`. */
export const heldOutCount = (count: number, testSamples: number): number =>
  Math.max(1, Math.min(testSamples, Math.floor(count * HELD_OUT_FRACTION)));

/**
 * Splits own samples, seeded: a held-out test split (HELD_OUT_FRACTION, at most `testSamples`,
 * at least one sample), a validation split, and the rest to train on.
 */
export function splitSamples(
  s: LocalSamples,
  o: { readonly seed: number; readonly validationFraction: number; readonly testSamples: number },
): { train: Dataset; validation: Dataset; test: Dataset } {
  const all = samplesDataset(s);
  if (all.count < 3) {
    throw new DataError(
      'no-data',
      `${all.count} usable sample(s): at least 3 are needed (train, validation, held out)`,
    );
  }
  const order = permutation(all.count, mulberry32((o.seed ^ 0x5eed) >>> 0));
  const test = heldOutCount(all.count, o.testSamples);
  const validation = Math.max(1, Math.floor((all.count - test) * o.validationFraction));
  return {
    test: subsetDataset(all, order.subarray(0, test)),
    validation: subsetDataset(all, order.subarray(test, test + validation)),
    train: subsetDataset(all, order.subarray(test + validation)),
  };
}
