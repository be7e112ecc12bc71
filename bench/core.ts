/**
 * Core micro-benchmark: exact top-k selection and the wire codec at P = 100k, 1M and 10M with
 * k = 1% and 10%. Prints a markdown table (median of repeated runs after a warm-up).
 *
 *   npm run bench:core                 # full table
 *   npm run bench:core -- --quick      # P = 100k and 1M only
 *   npm run bench:core -- --json out.json
 */

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import {
  createTopKScratch,
  decodeMessage,
  denseUpdateBytes,
  encodeUpdate,
  mulberry32,
  selectTopK,
  type UpdateMeta,
} from '../core';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } },
});

/** Seeded normal-ish values (sum of uniforms), like a gradient: many small, few large. */
function gradientLike(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rand() + rand() + rand() - 1.5) * 1e-3;
  return v;
}

/** Median wall time in ms of `fn` over `reps` runs after `warmup` runs. */
function time(fn: () => void, reps: number, warmup = 5): number {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)]!;
}

interface Row {
  P: number;
  kPercent: number;
  topkMs: number;
  sparseEncodeDecodeMs: number;
  sparseBytes: number;
  denseEncodeDecodeMs: number;
  denseGBps: number;
  denseFreshGBps: number;
}

const sizes = args.quick ? [100_000, 1_000_000] : [100_000, 1_000_000, 10_000_000];
const rows: Row[] = [];
for (const P of sizes) {
  const values = gradientLike(P, P);
  const scratch = createTopKScratch(P);
  const reps = P >= 10_000_000 ? 5 : 21;
  const meta: UpdateMeta = {
    step: 1,
    batchSize: 64,
    capacity: 1000,
    weight: 0.5,
    paramCount: P,
    valueType: 'f32',
  };
  let sink = 0;
  // A peer sending every step reuses its output buffer (encodeUpdate's `out`); a fresh buffer
  // costs page faults on first touch, measured separately.
  const out = new Uint8Array(denseUpdateBytes(P, 'f32'));
  const denseCycle = (reuse: boolean) => () => {
    const bytes = encodeUpdate(meta, { encoding: 'dense', values }, reuse ? out : undefined);
    const r = decodeMessage(bytes);
    if (!r.ok) throw r.error;
    sink += bytes.length;
  };
  const denseMs = time(denseCycle(true), reps);
  const denseFreshMs = time(denseCycle(false), reps);
  for (const kPercent of [1, 10]) {
    const k = Math.round((P * kPercent) / 100);
    const topkMs = time(() => {
      sink += selectTopK(values, k, scratch).length;
    }, reps);
    const indices = selectTopK(values, k, scratch).slice();
    const picked = new Float32Array(k);
    for (let i = 0; i < k; i++) picked[i] = values[indices[i]!]!;
    let sparseBytes = 0;
    const sparseMs = time(() => {
      const bytes = encodeUpdate(meta, { encoding: 'sparse', indices, values: picked }, out);
      const r = decodeMessage(bytes);
      if (!r.ok) throw r.error;
      sparseBytes = bytes.length;
    }, reps);
    rows.push({
      P,
      kPercent,
      topkMs,
      sparseEncodeDecodeMs: sparseMs,
      sparseBytes,
      denseEncodeDecodeMs: denseMs,
      // Bytes of the dense message per second of encode + decode together.
      denseGBps: (4 * P) / (denseMs / 1000) / 1e9,
      denseFreshGBps: (4 * P) / (denseFreshMs / 1000) / 1e9,
    });
  }
  if (sink < 0) console.log(sink);
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const lines = [
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length}, Node ${process.version}`,
  '',
  '| P | k | top-k (ms) | sparse encode+decode (ms) | sparse message | dense encode+decode (ms) | dense GB/s | dense GB/s, fresh buffer |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.P.toLocaleString('en')} | ${r.kPercent}% | ${fmt(r.topkMs)} | ${fmt(r.sparseEncodeDecodeMs)} | ${(r.sparseBytes / 1024).toFixed(0)} KiB | ${fmt(r.denseEncodeDecodeMs)} | ${fmt(r.denseGBps)} | ${fmt(r.denseFreshGBps)} |`,
  ),
  '',
  'Targets: top-k of 1M in < 15 ms; encode + decode of a 1% sparse 1M update in < 5 ms; dense encode + decode > 1 GB/s.',
];
console.log(lines.join('\n'));
if (args.json)
  writeFileSync(
    args.json,
    `${JSON.stringify({ machine: cpus()[0]?.model, node: process.version, rows }, null, 2)}\n`,
  );
