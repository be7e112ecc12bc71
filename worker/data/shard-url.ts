/**
 * The URL of a peer's shard files: the browser writes it, the server parses it (and refuses
 * anything else with a message), so both sides agree on one spelling of the shard options.
 *
 *   GET /data/shard/{train|validation|test}-{images|labels}.idx.gz
 *       ?dataset=mnist&seed=1&peer=0&peers=3&sharding=iid&validation=0.1&test=2000
 *   sharding: iid | classes:K (K in 1..10) | dirichlet:A (A in (0, 1000])
 */

import {
  DATASETS,
  type DatasetName,
  err,
  MAX_ROOM_PEERS,
  ok,
  type Result,
  type Sharding,
} from '../../core';
import { DataError } from './errors';

/** Where the shard files live on the server. */
export const SHARD_PATH_PREFIX = '/data/shard/';
export const SHARD_SPLITS = ['train', 'validation', 'test', 'probe'] as const;
export type ShardSplit = (typeof SHARD_SPLITS)[number];
export const SHARD_PARTS = ['images', 'labels'] as const;
export type ShardPart = (typeof SHARD_PARTS)[number];

/** The eight files of one shard (images and labels of each split), by name. */
export const SHARD_FILE_NAMES: readonly string[] = SHARD_SPLITS.flatMap((s) =>
  SHARD_PARTS.map((p) => shardFileName(s, p)),
);

/** Both datasets have 10 000 test images: a peer evaluates on at most that many. */
export const MAX_TEST_SAMPLES = 10_000;

/** Everything that determines a shard's files. */
export type ShardRequest = {
  readonly dataset: DatasetName;
  readonly seed: number;
  readonly peerIndex: number;
  readonly peerCount: number;
  readonly sharding: Sharding;
  /** In (0, 0.5], as in the room config: every peer holds a validation split. */
  readonly validationFraction: number;
  /** Test samples the peer evaluates on, 1..MAX_TEST_SAMPLES. */
  readonly testSamples: number;
};

/** A shard request whose test subset size may be left to the loader's default. */
export type ShardSpec = Omit<ShardRequest, 'testSamples'> & {
  /** Test samples the peer evaluates on; the loader's default when left out. */
  readonly testSamples?: number;
};

/** `train-images.idx.gz` and its siblings. */
export function shardFileName(split: ShardSplit, part: ShardPart): string {
  return `${split}-${part}.idx.gz`;
}

/** `iid`, `classes:2`, `dirichlet:0.5`. */
export function formatSharding(s: Sharding): string {
  if (s.kind === 'iid') return 'iid';
  return s.kind === 'classes' ? `classes:${s.classesPerPeer}` : `dirichlet:${s.alpha}`;
}

/** The query string (without '?') for a shard; parseShardQuery reads it back. */
export function shardQuery(r: ShardRequest): string {
  return new URLSearchParams({
    dataset: r.dataset,
    seed: String(r.seed),
    peer: String(r.peerIndex),
    peers: String(r.peerCount),
    sharding: formatSharding(r.sharding),
    validation: String(r.validationFraction),
    test: String(r.testSamples),
  }).toString();
}

const KEYS = ['dataset', 'seed', 'peer', 'peers', 'sharding', 'validation', 'test'] as const;

// Plain decimal integers only: Number() alone would take '0x10', '1e3', ' 7' and ''.
const INTEGER = /^(0|[1-9][0-9]{0,9})$/;
// Decimal numbers, optionally with an exponent: what String(number) writes for a fraction.
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;

const integerIn = (s: string, min: number, max: number): number | undefined => {
  if (!INTEGER.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
};

/**
 * Reads a shard request from a URL's query. Every parameter is required, appears once and is
 * checked against the same limits as the room config; an unknown parameter is refused too,
 * so that a typo is an error rather than a silent default. Never throws.
 */
export function parseShardQuery(params: URLSearchParams): Result<ShardRequest, DataError> {
  const bad = (message: string) => err(new DataError('bad-shard', message));
  // forEach, not keys(): the WebWorker lib types URLSearchParams without its iterators.
  const seen: string[] = [];
  params.forEach((_, key) => {
    seen.push(key);
  });
  for (const key of seen) {
    if (!(KEYS as readonly string[]).includes(key)) return bad(`unknown parameter '${key}'`);
    if (params.getAll(key).length > 1) return bad(`parameter '${key}' is given more than once`);
  }
  const get: Partial<Record<(typeof KEYS)[number], string>> = {};
  for (const key of KEYS) {
    const value = params.get(key);
    if (value === null) return bad(`missing parameter '${key}'`);
    get[key] = value;
  }
  const dataset = DATASETS.find((d) => d === get.dataset);
  if (dataset === undefined) return bad(`dataset must be one of ${DATASETS.join(', ')}`);
  const seed = integerIn(get.seed!, 0, 0xffff_ffff);
  if (seed === undefined) return bad('seed must be an integer in 0..4294967295');
  const peerCount = integerIn(get.peers!, 1, MAX_ROOM_PEERS);
  if (peerCount === undefined) return bad(`peers must be an integer in 1..${MAX_ROOM_PEERS}`);
  const peerIndex = integerIn(get.peer!, 0, peerCount - 1);
  if (peerIndex === undefined) return bad(`peer must be an integer in 0..${peerCount - 1}`);
  const sharding = parseSharding(get.sharding!);
  if (sharding === undefined) {
    return bad('sharding must be iid, classes:K (K in 1..10) or dirichlet:A (A in (0, 1000])');
  }
  const validation = DECIMAL.test(get.validation!) ? Number(get.validation) : Number.NaN;
  if (!(validation > 0 && validation <= 0.5)) return bad('validation must be a number in (0, 0.5]');
  const testSamples = integerIn(get.test!, 1, MAX_TEST_SAMPLES);
  if (testSamples === undefined) return bad(`test must be an integer in 1..${MAX_TEST_SAMPLES}`);
  return ok({
    dataset,
    seed,
    peerIndex,
    peerCount,
    sharding,
    validationFraction: validation,
    testSamples,
  });
}

function parseSharding(s: string): Sharding | undefined {
  if (s === 'iid') return { kind: 'iid' };
  const [kind, value, ...rest] = s.split(':');
  if (value === undefined || rest.length > 0) return undefined;
  if (kind === 'classes') {
    const k = integerIn(value, 1, 10);
    return k === undefined ? undefined : { kind: 'classes', classesPerPeer: k };
  }
  if (kind === 'dirichlet') {
    const alpha = DECIMAL.test(value) ? Number(value) : Number.NaN;
    return alpha > 0 && alpha <= 1000 ? { kind: 'dirichlet', alpha } : undefined;
  }
  return undefined;
}
