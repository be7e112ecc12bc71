/**
 * Loading a peer's data in the browser: only its own shard, the test subset it evaluates
 * on and the DKT probe, as eight gzipped IDX files from the server's /data/shard/ (worker/node/shard-files.ts).
 */

import { err, ok, type Result } from '../../core';
import {
  type ByteDataset,
  DataError,
  type Gunzip,
  loadDataset,
  MAX_IDX_DATA_BYTES,
  PROBE_SAMPLES,
  type RoomData,
  SHARD_PATH_PREFIX,
  SHARD_SPLITS,
  type ShardRequest,
  type ShardSplit,
  shardFileName,
  shardQuery,
} from '../data';

/** The largest file a gunzip may produce: the parser's data limit plus the biggest header. */
const MAX_GUNZIP_BYTES = MAX_IDX_DATA_BYTES + 64;

/**
 * Gunzip with the platform's DecompressionStream, stopping (and failing) past `limit` bytes
 * of output so that a gzip bomb costs at most that much memory.
 */
export function browserGunzip(limit = MAX_GUNZIP_BYTES): Gunzip {
  return async (bytes) => {
    // A copy into a fresh ArrayBuffer: Blob takes only ArrayBuffer-backed views.
    const stream = new Blob([bytes.slice()]).stream().pipeThrough(new DecompressionStream('gzip'));
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel();
        throw new Error(`gunzip output exceeds ${limit} bytes`);
      }
      chunks.push(value);
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  };
}

export interface BrowserDataOptions extends ShardRequest {
  /** The server's origin (or a base path), e.g. `location.origin`; no trailing slash needed. */
  readonly baseUrl: string;
}

/** The eight URLs of a shard, for the loader and for tests that watch the network. */
export function shardUrls(
  o: BrowserDataOptions,
): Record<ShardSplit, { images: string; labels: string }> {
  const base = o.baseUrl.replace(/\/+$/, '');
  const query = shardQuery(o);
  const url = (split: ShardSplit, part: 'images' | 'labels') =>
    `${base}${SHARD_PATH_PREFIX}${shardFileName(split, part)}?${query}`;
  return {
    train: { images: url('train', 'images'), labels: url('train', 'labels') },
    validation: { images: url('validation', 'images'), labels: url('validation', 'labels') },
    test: { images: url('test', 'images'), labels: url('test', 'labels') },
    probe: { images: url('probe', 'images'), labels: url('probe', 'labels') },
  };
}

async function download(
  url: string,
  fetchFn: typeof fetch,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetchFn(url, signal ? { signal } : {});
  } catch (e) {
    throw new DataError(
      'missing',
      `cannot fetch ${url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!res.ok) {
    // The server says why in a short plain-text body (a bad option, an absent dataset).
    const why = (await res.text().catch(() => '')).trim().slice(0, 300);
    throw new DataError('missing', `GET ${url} answered ${res.status}${why ? `: ${why}` : ''}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Downloads only the DKT probe of a room dataset (a peer that trains on its own data). Never
 * rejects: a failure is a DataError.
 */
export async function loadBrowserProbe(
  o: BrowserDataOptions,
  fetchFn: typeof fetch = fetch,
): Promise<Result<ByteDataset, DataError>> {
  const urls = shardUrls(o).probe;
  try {
    const [images, labels] = await Promise.all([
      download(urls.images, fetchFn),
      download(urls.labels, fetchFn),
    ]);
    const ds = await loadDataset(images, labels, browserGunzip());
    if (!ds.ok) return err(new DataError(ds.error.code, `probe: ${ds.error.message}`));
    return ok(ds.value);
  } catch (e) {
    if (e instanceof DataError) return err(e);
    return err(new DataError('missing', e instanceof Error ? e.message : String(e)));
  }
}

/**
 * Downloads, gunzips and parses a peer's shard (train, validation), its test subset and the
 * DKT probe. Never
 * rejects: a network failure, an HTTP error or a malformed file is a DataError.
 * Example: `await loadBrowserData({ baseUrl: location.origin, dataset: 'mnist', ... })`.
 */
export async function loadBrowserData(
  o: BrowserDataOptions,
  fetchFn: typeof fetch = fetch,
  signal?: AbortSignal,
): Promise<Result<RoomData, DataError>> {
  const urls = shardUrls(o);
  const gunzip = browserGunzip();
  try {
    const loaded = await Promise.all(
      SHARD_SPLITS.map(async (split): Promise<ByteDataset> => {
        const [images, labels] = await Promise.all([
          download(urls[split].images, fetchFn, signal),
          download(urls[split].labels, fetchFn, signal),
        ]);
        const ds = await loadDataset(images, labels, gunzip);
        if (!ds.ok) {
          throw new DataError(ds.error.code, `${split} split: ${ds.error.message}`);
        }
        return ds.value;
      }),
    );
    const [train, validation, test, probe] = loaded as [
      ByteDataset,
      ByteDataset,
      ByteDataset,
      ByteDataset,
    ];
    // Fewer than asked only when asked for more than the split holds outside the probe.
    if (test.count === 0 || test.count > o.testSamples) {
      return err(
        new DataError('bad-dataset', `asked for ${o.testSamples} test samples, got ${test.count}`),
      );
    }
    // Both datasets have 10 000 test images: the probe is always PROBE_SAMPLES of them.
    if (probe.count !== PROBE_SAMPLES) {
      return err(
        new DataError('bad-dataset', `the probe has ${probe.count} images, not ${PROBE_SAMPLES}`),
      );
    }
    return ok({ train, validation, test, probe });
  } catch (e) {
    if (e instanceof DataError) return err(e);
    return err(new DataError('missing', e instanceof Error ? e.message : String(e)));
  }
}
