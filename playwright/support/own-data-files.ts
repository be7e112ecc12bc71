/**
 * Test data on disk, as a person would have it: Fashion-MNIST training images written as PNG
 * files in one folder per label (the label's name made folder-safe), and CSV tables. Shared by
 * the own-data specs; written with sharp from the real dataset files.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { datasetLabels } from '../../core';
import type { ByteDataset } from '../../worker/data';
import { loadTrainSplit } from '../../worker/node';

/** A label as a folder name: 'T-shirt/top' -> 'T-shirt_top' (labelKey matches them). */
export const folderName = (label: string): string => label.replace(/[^\p{L}\p{N}-]+/gu, '_');

export const FASHION = datasetLabels('fashion-mnist');

/** Fashion-MNIST's training split: the folders are cut from it, the test split scores. */
export const fashionImages = (): Promise<ByteDataset> => loadTrainSplit('fashion-mnist');

/**
 * Writes `perClass` images of each class in `classes` from `ds`, starting at the `skip`-th
 * image of each class, as `dir/<label>/<i>.png`. Returns how many it wrote.
 */
export async function writeFashionFolder(
  ds: ByteDataset,
  dir: string,
  classes: readonly number[],
  perClass: number,
  skip = 0,
): Promise<number> {
  let written = 0;
  for (const k of classes) {
    const folder = join(dir, folderName(FASHION[k]!));
    mkdirSync(folder, { recursive: true });
    let seen = 0;
    let taken = 0;
    for (let i = 0; i < ds.count && taken < perClass; i++) {
      if (ds.labels[i] !== k) continue;
      if (seen++ < skip) continue;
      const pixels = ds.images.subarray(i * 784, (i + 1) * 784);
      const png = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer();
      writeFileSync(join(folder, `${i}.png`), png);
      taken++;
      written++;
    }
  }
  return written;
}

/**
 * A learnable table: `rows` rows of 8 features and a label in a, b, c given by which of two
 * linear scores is larger; seeded, so every writer gets the same rule.
 */
export function learnableTable(rows: number, seed: number, separator = ','): string {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 4_294_967_296;
  };
  const lines = [['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'label'].join(separator)];
  for (let r = 0; r < rows; r++) {
    const f = Array.from({ length: 8 }, () => rand() * 2 - 1);
    const a = f[0]! + f[1]! - f[2]!;
    const b = f[3]! - f[4]! + f[5]!;
    const label = a > 0.3 ? 'a' : b > 0 ? 'b' : 'c';
    lines.push([...f.map((x) => x.toFixed(4)), label].join(separator));
  }
  return `${lines.join('\n')}\n`;
}
