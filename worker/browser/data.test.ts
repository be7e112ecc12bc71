// The browser loader, run in Node against the real shard builder through an injected fetch
// (Node 20 has fetch's Response, Blob and DecompressionStream, as browsers do).

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PROBE_SAMPLES, type ShardRequest } from '../data';
import { loadNodeData } from '../node/data';
import { shardFiles } from '../node/shard-files';
import { type BrowserDataOptions, browserGunzip, loadBrowserData, shardUrls } from './data';

const request: ShardRequest = {
  dataset: 'mnist',
  seed: 3,
  peerIndex: 2,
  peerCount: 4,
  sharding: { kind: 'dirichlet', alpha: 0.5 },
  validationFraction: 0.2,
  testSamples: 300,
};
const options: BrowserDataOptions = { ...request, baseUrl: 'http://peer.test/' };

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

/** A fetch that serves the shard's files by name and records what was asked for. */
function fakeServer(
  files: ReadonlyMap<string, Uint8Array>,
  tamper?: (name: string, b: Uint8Array) => Uint8Array,
) {
  const asked: string[] = [];
  const fetchFn = (async (input: string | URL | Request) => {
    const url = new URL(String(input));
    asked.push(url.toString());
    const name = url.pathname.replace('/data/shard/', '');
    const bytes = files.get(name);
    if (!bytes) return new Response('no such file', { status: 404 });
    return new Response(tamper ? tamper(name, bytes) : bytes.slice(), { status: 200 });
  }) as typeof fetch;
  return { fetchFn, asked };
}

describe('loadBrowserData', () => {
  it('downloads the eight shard files only and yields what loadNodeData gives the peer', async () => {
    const [files, expected] = await Promise.all([shardFiles(request), loadNodeData(request)]);
    const server = fakeServer(files);
    const r = await loadBrowserData(options, server.fetchFn);
    if (!r.ok) throw r.error;
    expect(server.asked).toHaveLength(8);
    const urls = shardUrls(options);
    expect(new Set(server.asked)).toEqual(
      new Set(
        [urls.train, urls.validation, urls.test, urls.probe].flatMap((u) => [u.images, u.labels]),
      ),
    );
    for (const u of server.asked)
      expect(u).toMatch(/^http:\/\/peer\.test\/data\/shard\/[a-z]+-(images|labels)\.idx\.gz\?/);
    for (const split of ['train', 'validation', 'test', 'probe'] as const) {
      expect(r.value[split].count).toBe(expected[split].count);
      expect(sameBytes(r.value[split].images, expected[split].images)).toBe(true);
      expect(sameBytes(r.value[split].labels, expected[split].labels)).toBe(true);
    }
    expect(r.value.test.count).toBe(300);
    expect(r.value.probe.count).toBe(PROBE_SAMPLES);
  });

  it('reports an HTTP error with the server message, and a corrupt file as a DataError', async () => {
    const files = await shardFiles(request);
    const missing = new Map(files);
    missing.delete('validation-labels.idx.gz');
    const r1 = await loadBrowserData(options, fakeServer(missing).fetchFn);
    expect(r1.ok).toBe(false);
    if (!r1.ok) {
      expect(r1.error.name).toBe('DataError');
      expect(r1.error.code).toBe('missing');
      expect(r1.error.message).toMatch(/validation-labels.*404: no such file/);
    }
    // Cut the gzip stream short: the gunzip fails, and it is reported, not thrown.
    const truncated = fakeServer(files, (name, b) =>
      name === 'train-images.idx.gz' ? b.slice(0, b.length / 2) : b,
    );
    const r2 = await loadBrowserData(options, truncated.fetchFn);
    expect(r2.ok ? 'ok' : r2.error.code).toBe('gzip');
    // A valid gzip of a bad IDX file: the parser's error comes through with the split named.
    const garbage = fakeServer(files, (name, b) =>
      name === 'test-labels.idx.gz'
        ? new Uint8Array(gzipSync(Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 5, 1)))
        : b,
    );
    const r3 = await loadBrowserData(options, garbage.fetchFn);
    expect(r3.ok ? 'ok' : `${r3.error.code} ${r3.error.message}`).toMatch(/^truncated test split/);
    const offline = (async () => {
      throw new TypeError('network down');
    }) as typeof fetch;
    const r4 = await loadBrowserData(options, offline);
    expect(r4.ok ? 'ok' : r4.error.message).toMatch(/cannot fetch .*network down/);
  });
});

describe('browserGunzip', () => {
  it('inflates gzip and stops past its output limit', async () => {
    const plain = new Uint8Array(100_000).map((_, i) => i % 7);
    const gz = new Uint8Array(gzipSync(plain));
    expect(sameBytes(await browserGunzip()(gz), plain)).toBe(true);
    await expect(browserGunzip(50_000)(gz)).rejects.toThrow(/exceeds 50000 bytes/);
  });
});
