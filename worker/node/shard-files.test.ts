import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_SAMPLES, parseIdx, type ShardRequest, shardQuery } from '../data';
import { loadNodeData } from './data';
import {
  cachedShardFiles,
  handleShardRequest,
  SHARD_CACHE_ENTRIES,
  shardFiles,
} from './shard-files';

const request: ShardRequest = {
  dataset: 'mnist',
  seed: 1,
  peerIndex: 1,
  peerCount: 3,
  sharding: { kind: 'classes', classesPerPeer: 2 },
  validationFraction: 0.1,
  testSamples: 500,
};

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

const unpack = (gz: Uint8Array | undefined) => {
  if (!gz) throw new Error('file missing');
  const parsed = parseIdx(new Uint8Array(gunzipSync(gz)));
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
};

describe('shardFiles', () => {
  it('holds exactly the samples loadNodeData gives the peer, as gzipped IDX', async () => {
    const [files, data] = await Promise.all([
      shardFiles(request),
      loadNodeData({ ...request, testSamples: request.testSamples }),
    ]);
    expect([...files.keys()].sort()).toEqual(
      [
        'probe-images.idx.gz',
        'probe-labels.idx.gz',
        'test-images.idx.gz',
        'test-labels.idx.gz',
        'train-images.idx.gz',
        'train-labels.idx.gz',
        'validation-images.idx.gz',
        'validation-labels.idx.gz',
      ].sort(),
    );
    for (const split of ['train', 'validation', 'test', 'probe'] as const) {
      const images = unpack(files.get(`${split}-images.idx.gz`));
      const labels = unpack(files.get(`${split}-labels.idx.gz`));
      const ds = data[split];
      expect(images.dims).toEqual([ds.count, 28, 28]);
      expect(labels.dims).toEqual([ds.count]);
      // Byte comparison through Buffer: a deep toEqual over megabytes takes a minute.
      expect(sameBytes(images.data, ds.images)).toBe(true);
      expect(sameBytes(labels.data, ds.labels)).toBe(true);
    }
    // A third of the training set in two classes, and only 500 test images: the files are
    // far smaller than the full 47 MB images file.
    expect(data.test.count).toBe(500);
    // The DKT probe: the same public images for every peer, none of them a test image.
    expect(data.probe.count).toBe(PROBE_SAMPLES);
    const testImages = new Set<string>();
    for (let i = 0; i < data.test.count; i++) {
      testImages.add(
        Buffer.from(data.test.images.subarray(i * 784, (i + 1) * 784)).toString('base64'),
      );
    }
    let shared = 0;
    for (let i = 0; i < data.probe.count; i++) {
      const key = Buffer.from(data.probe.images.subarray(i * 784, (i + 1) * 784)).toString(
        'base64',
      );
      if (testImages.has(key)) shared++;
    }
    expect(shared).toBe(0);
    const other = await loadNodeData({
      ...request,
      peerIndex: (request.peerIndex + 1) % request.peerCount,
    });
    expect(sameBytes(other.probe.images, data.probe.images)).toBe(true);
    expect(new Set(data.train.labels).size).toBe(2);
    expect(files.get('train-images.idx.gz')!.byteLength).toBeLessThan(8_000_000);
  });

  it('caches per option set, least recently used out first', async () => {
    const small = (seed: number): ShardRequest => ({
      ...request,
      seed,
      peerCount: 64,
      sharding: { kind: 'iid' },
      testSamples: 10,
    });
    const built: Promise<unknown>[] = [];
    const get = (seed: number) => {
      const p = cachedShardFiles(small(seed));
      built.push(p);
      return p;
    };
    const original = new Map<number, Promise<unknown>>();
    for (let s = 100; s < 100 + SHARD_CACHE_ENTRIES; s++) original.set(s, get(s));
    expect(SHARD_CACHE_ENTRIES).toBe(8);
    // Oldest first: 100 101 ... 107. A hit moves 100 to the end: 101 ... 107 100.
    expect(get(100)).toBe(original.get(100));
    void get(200); // a miss evicts the least recent: 101.  Now 102 ... 107 100 200.
    expect(get(100)).toBe(original.get(100)); // kept, being recent.  102 ... 107 200 100.
    expect(get(101)).not.toBe(original.get(101)); // rebuilt; evicts 102.  103 ... 107 200 100 101.
    expect(get(103)).toBe(original.get(103));
    expect(get(102)).not.toBe(original.get(102));
    await Promise.all(built);
  });
});

describe('handleShardRequest', () => {
  let server: Server;
  let base: string;
  let unhandled: string[];

  beforeAll(async () => {
    unhandled = [];
    server = createServer((req, res) => {
      void handleShardRequest(req.url ?? '/', res).then((handled) => {
        if (!handled) {
          unhandled.push(req.url ?? '');
          res.writeHead(418).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends a shard file as octet-stream that parses to the shard', async () => {
    const res = await fetch(`${base}/data/shard/validation-labels.idx.gz?${shardQuery(request)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-encoding')).toBeNull();
    const labels = unpack(new Uint8Array(await res.arrayBuffer()));
    const data = await loadNodeData(request);
    expect(sameBytes(labels.data, data.validation.labels)).toBe(true);
  });

  it('answers bad options with 400 and a message, unknown files with 404', async () => {
    const q = shardQuery(request);
    const cases: [string, number, string][] = [
      [`/data/shard/train-images.idx.gz?${q.replace('seed=1', 'seed=x')}`, 400, 'seed'],
      [`/data/shard/train-images.idx.gz?${q}&debug=1`, 400, 'debug'],
      ['/data/shard/train-images.idx.gz', 400, 'missing parameter'],
      [`/data/shard/full-images.idx.gz?${q}`, 404, 'no shard file'],
      [`/data/shard/train-images.idx?${q}`, 404, 'no shard file'],
      [`/data/mnist/train-images-idx3-ubyte?${q}`, 418, ''],
    ];
    for (const [path, status, fragment] of cases) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(status);
      expect(await res.text(), path).toContain(fragment);
    }
    expect(unhandled).toEqual([`/data/mnist/train-images-idx3-ubyte?${q}`]);
  });

  it('answers a shard the options cannot produce with 400, and stays up', async () => {
    // 64 peers and alpha 0.01: most peers draw no sample at all.
    const empty = {
      ...request,
      peerCount: 64,
      peerIndex: 63,
      sharding: { kind: 'dirichlet', alpha: 0.01 },
    } as const;
    let res: Response | undefined;
    for (let seed = 0; seed < 20; seed++) {
      res = await fetch(`${base}/data/shard/train-labels.idx.gz?${shardQuery({ ...empty, seed })}`);
      if (res.status !== 200) break;
    }
    expect(res?.status).toBe(400);
    expect(await res?.text()).toMatch(/^cannot build the shard: peer 63 of 64/);
    const ok = await fetch(`${base}/data/shard/test-labels.idx.gz?${shardQuery(request)}`);
    expect(ok.status).toBe(200);
  });
});
