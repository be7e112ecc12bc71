// Checkpoints in a real browser: the trainer's Worker saves to IndexedDB (idb-keyval), a
// reloaded page resumes from it, and a corrupt or foreign checkpoint means a fresh start with
// the reason, never a half-restored model.

import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';
import type { CheckpointProbe, CheckpointProbeOptions } from './harness/api';

async function probe(
  page: Page,
  mode: 'save' | 'restore',
  o: CheckpointProbeOptions,
): Promise<CheckpointProbe> {
  const r = await page.evaluate(
    ([m, opts]) =>
      m === 'save'
        ? globalThis.harness!.checkpointSave(opts)
        : globalThis.harness!.checkpointRestore(opts),
    [mode, o] as const,
  );
  if (!r.ok) throw new Error(`checkpoint ${mode} failed: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** Overwrites the IndexedDB entry the Worker reads, from the page (same origin, same database). */
async function writeRaw(page: Page, key: string, bytes: number[] | string): Promise<void> {
  await page.evaluate(
    ([k, value]) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('dlion-mesh');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction('checkpoints', 'readwrite');
          tx.objectStore('checkpoints').put(
            typeof value === 'string' ? value : Uint8Array.from(value),
            k,
          );
          tx.oncomplete = () => {
            open.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    [key, bytes] as const,
  );
}

test('a reloaded page resumes from its IndexedDB checkpoint, step and parameters included', async ({
  harnessPage,
}) => {
  const target = { key: 'room-a/peer-1', room: 'room-a', steps: 6 };
  const saved = await probe(harnessPage, 'save', target);
  expect(saved.step).toBe(6);
  await harnessPage.reload();
  await harnessPage.waitForFunction(() => globalThis.harness !== undefined);
  const restored = await probe(harnessPage, 'restore', { ...target, steps: 0 });
  expect(restored.outcome).toBe('restored');
  expect(restored.step).toBe(6);
  expect(restored.paramsHash).toBe(saved.paramsHash);
  // A checkpoint of another room is someone else's: the peer starts fresh and says why.
  const foreign = await probe(harnessPage, 'restore', {
    key: target.key,
    room: 'room-b',
    steps: 0,
  });
  expect(foreign.outcome).toMatch(/^fresh: .*room/);
  expect(foreign.step).toBe(0);
  expect(foreign.paramsHash).not.toBe(saved.paramsHash);
});

test('a corrupt or alien IndexedDB entry is refused with a reason and the peer starts fresh', async ({
  harnessPage,
}) => {
  const target = { key: 'room-c/peer-1', room: 'room-c', steps: 2 };
  const saved = await probe(harnessPage, 'save', target);
  const fresh = await probe(harnessPage, 'restore', {
    key: 'room-c/nobody',
    room: 'room-c',
    steps: 0,
  });
  expect(fresh.outcome).toMatch(/^fresh: /);
  // Garbage bytes under the key: refused by the checkpoint decoder.
  await writeRaw(
    harnessPage,
    target.key,
    Array.from({ length: 600 }, (_, i) => (i * 31) & 255),
  );
  const corrupt = await probe(harnessPage, 'restore', { ...target, steps: 0 });
  expect(corrupt.outcome).toMatch(/^fresh: /);
  expect(corrupt.step).toBe(0);
  expect(corrupt.paramsHash).not.toBe(saved.paramsHash);
  // Not even bytes (another app's value under our key): refused by the store.
  await writeRaw(harnessPage, target.key, 'not a checkpoint');
  const alien = await probe(harnessPage, 'restore', { ...target, steps: 0 });
  expect(alien.outcome).toMatch(/^fresh: .*not a checkpoint blob/);
});
