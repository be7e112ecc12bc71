/**
 * Serving a peer's shard to its browser: the eight gzipped IDX files of its train and
 * validation splits, its test subset and the DKT probe, cut by loadNodeData, so a browser never downloads
 * the whole dataset. The signaling server mounts handleShardRequest.
 */

import type { ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import {
  type ByteDataset,
  DataError,
  encodeIdx,
  parseShardQuery,
  SHARD_PARTS,
  SHARD_PATH_PREFIX,
  SHARD_SPLITS,
  type ShardPart,
  type ShardRequest,
  type ShardSplit,
  shardFileName,
} from '../data';
import { loadNodeData } from './data';

const gzip = promisify(gzipCallback);

/** The gzipped IDX bytes of one shard, keyed by file name (`train-images.idx.gz`, ...). */
export type ShardFiles = ReadonlyMap<string, Uint8Array>;

/** How many option sets keep their built files; a room of a few peers needs one each. */
export const SHARD_CACHE_ENTRIES = 8;

/**
 * Builds the eight files of a shard. Throws DataError when the dataset is missing or the
 * options give no valid shard (a Dirichlet draw that leaves the peer empty).
 */
export async function shardFiles(r: ShardRequest): Promise<ShardFiles> {
  const data = await loadNodeData({
    dataset: r.dataset,
    seed: r.seed,
    peerIndex: r.peerIndex,
    peerCount: r.peerCount,
    sharding: r.sharding,
    validationFraction: r.validationFraction,
    testSamples: r.testSamples,
  });
  const files = new Map<string, Uint8Array>();
  // One split at a time: at most one shard's plain IDX bytes are alive at once.
  for (const split of SHARD_SPLITS) {
    const ds: ByteDataset = data[split];
    const plain: Record<ShardPart, Uint8Array> = {
      images: encodeIdx({ type: 'u8', dims: [ds.count, ds.rows, ds.cols], data: ds.images }),
      labels: encodeIdx({ type: 'u8', dims: [ds.count], data: ds.labels }),
    };
    for (const part of SHARD_PARTS) {
      files.set(shardFileName(split, part), new Uint8Array(await gzip(plain[part])));
    }
  }
  return files;
}

// Promises, so that the eight requests a browser makes at once build the shard once.
const cache = new Map<string, Promise<ShardFiles>>();

/** The shard's files from a small LRU cache, built on a miss; a failed build is not kept. */
export function cachedShardFiles(r: ShardRequest): Promise<ShardFiles> {
  const key = JSON.stringify(r);
  let entry = cache.get(key);
  if (entry) {
    // Re-insert: a Map iterates in insertion order, so the first key is the least recent.
    cache.delete(key);
  } else {
    entry = shardFiles(r);
    entry.catch(() => {
      if (cache.get(key) === entry) cache.delete(key);
    });
  }
  cache.set(key, entry);
  while (cache.size > SHARD_CACHE_ENTRIES) {
    const oldest = cache.keys().next().value as string;
    cache.delete(oldest);
  }
  return entry;
}

const FILE_NAME = new RegExp(`^(${SHARD_SPLITS.join('|')})-(${SHARD_PARTS.join('|')})\\.idx\\.gz$`);

/**
 * Answers GET /data/shard/{train|validation|test}-{images|labels}.idx.gz?dataset=...&...
 * (query documented in worker/data/shard-url.ts). Returns false, without touching `res`, for
 * a path outside /data/shard/, so the caller can route it elsewhere; otherwise it sends
 * 200 with the gzipped IDX bytes as application/octet-stream (the gzip is the file format,
 * not a Content-Encoding, so the browser hands the bytes over as they are), 400 for bad
 * options, 404 for an unknown file or an absent dataset, 500 otherwise. Never rejects.
 * Example: `if (await handleShardRequest(req.url ?? '/', res)) return;`
 */
export async function handleShardRequest(url: string | URL, res: ServerResponse): Promise<boolean> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url, 'http://localhost') : url;
  } catch {
    return false;
  }
  if (!parsed.pathname.startsWith(SHARD_PATH_PREFIX)) return false;
  const name = parsed.pathname.slice(SHARD_PATH_PREFIX.length);
  const match = FILE_NAME.exec(name);
  if (!match) {
    send(
      res,
      404,
      `no shard file '${name}': expected {train|validation|test}-{images|labels}.idx.gz`,
    );
    return true;
  }
  const request = parseShardQuery(parsed.searchParams);
  if (!request.ok) {
    send(res, 400, request.error.message);
    return true;
  }
  try {
    const files = await cachedShardFiles(request.value);
    const bytes = files.get(shardFileName(match[1] as ShardSplit, match[2] as ShardPart));
    if (!bytes) throw new Error(`shard file ${name} was not built`);
    if (res.headersSent || res.destroyed) return true;
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(bytes.byteLength),
      // The same options always give the same bytes.
      'Cache-Control': 'public, max-age=3600',
    });
    res.end(bytes);
  } catch (e) {
    if (e instanceof DataError) {
      const status = e.code === 'missing' ? 404 : e.code === 'bad-shard' ? 400 : 500;
      send(res, status, `cannot build the shard: ${e.message}`);
    } else {
      send(res, 500, `cannot build the shard: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return true;
}

function send(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) return;
  const body = `${message}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}
