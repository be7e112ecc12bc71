import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeIdx, loadIdx } from '../data';
import { nodeGunzip } from './data';

describe('nodeGunzip', () => {
  it('inflates within its limit and refuses a gzip bomb past it, without inflating it all', async () => {
    const plain = encodeIdx({ type: 'u8', dims: [100, 28, 28], data: new Uint8Array(78_400) });
    const small = await nodeGunzip(1 << 20)(gzipSync(plain));
    expect(small.length).toBe(plain.length);
    // 64 MiB of zeros compress to about 64 KiB: a limit of 1 MiB stops it.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100_000);
    await expect(nodeGunzip(1 << 20)(bomb)).rejects.toThrow(/buffer|length|max/i);
    // Through the IDX loader, the refusal is a DataError 'gzip', not a throw.
    const r = await loadIdx(bomb, nodeGunzip(1 << 20));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('gzip');
  });
});
