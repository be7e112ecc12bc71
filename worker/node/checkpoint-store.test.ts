import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CheckpointStore, createMemoryCheckpointStore } from '../checkpoint';
import { createFileCheckpointStore } from './checkpoint-store';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The contract every CheckpointStore keeps; run against the in-memory and the file store. */
function contract(name: string, make: () => Promise<CheckpointStore>) {
  describe(`${name} checkpoint store`, () => {
    it('loads what was saved, bit for bit, and undefined for a missing key', async () => {
      const store = await make();
      expect(await store.load('peer-1')).toBeUndefined();
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
      await store.save('peer-1', bytes);
      expect(Buffer.from((await store.load('peer-1'))!).equals(Buffer.from(bytes))).toBe(true);
    });

    it('replaces on save, keeps keys apart, and removes (twice is fine)', async () => {
      const store = await make();
      await store.save('a', Uint8Array.of(1));
      await store.save('b', Uint8Array.of(2));
      await store.save('a', Uint8Array.of(3, 4));
      expect([...((await store.load('a')) ?? [])]).toEqual([3, 4]);
      expect([...((await store.load('b')) ?? [])]).toEqual([2]);
      await store.remove('a');
      await store.remove('a');
      expect(await store.load('a')).toBeUndefined();
      expect([...((await store.load('b')) ?? [])]).toEqual([2]);
    });

    it('is not changed by later changes to the saved array', async () => {
      const store = await make();
      const bytes = Uint8Array.of(9, 9, 9);
      await store.save('k', bytes);
      bytes[0] = 0;
      expect([...((await store.load('k')) ?? [])]).toEqual([9, 9, 9]);
    });
  });
}

contract('memory', async () => createMemoryCheckpointStore());
contract('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dlion-ckpt-'));
  dirs.push(dir);
  return createFileCheckpointStore(join(dir, 'state'));
});

describe('file checkpoint store', () => {
  it('refuses keys that would leave its directory and leaves no temporary files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dlion-ckpt-'));
    dirs.push(dir);
    const store = createFileCheckpointStore(dir);
    for (const key of ['../x', 'a/b', '', '.hidden', 'x'.repeat(200)]) {
      await expect(store.save(key, Uint8Array.of(1))).rejects.toThrow(/invalid checkpoint key/);
    }
    await store.save('ok', Uint8Array.of(1, 2));
    expect(await readdir(dir)).toEqual(['ok.dlck']);
  });
});
