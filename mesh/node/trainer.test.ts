/**
 * The Node trainer factory on real MNIST (mlp, cpu backend): the MeshTrainer it hands the mesh
 * steps, applies, refuses bad input as Error values, and checkpoints through a store.
 */

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { asPeerId, DEFAULT_ROOM_CONFIG, type RoomConfig } from '../../core';
import { createMemoryCheckpointStore } from '../../worker/checkpoint';
import { modelSpec } from '../../worker/model';
import { createFileCheckpointStore } from '../../worker/node/checkpoint-store';
import type { MeshTrainer, TrainerRequest } from '../types';
import {
  type NodeTrainerOptions,
  nodeCheckpointKey,
  nodeTrainerFactory,
  threadTrainerFactory,
} from './trainer';

const config: RoomConfig = { ...DEFAULT_ROOM_CONFIG, model: 'mlp', dataset: 'mnist', maxPeers: 8 };
const request: TrainerRequest = { peerId: asPeerId('p1'), config, slot: 3 };
const base: NodeTrainerOptions = { room: 'lab', name: 'node-1', testSamples: 200 };

const started: MeshTrainer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const t of started) await t.dispose();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function start(options: NodeTrainerOptions, req: TrainerRequest = request) {
  const t = await nodeTrainerFactory(options)(req);
  started.push(t);
  return t;
}

async function train(t: MeshTrainer, steps: number, batch = 32): Promise<void> {
  for (let i = 0; i < steps; i++) {
    const r = await t.step(batch);
    if (r instanceof Error) throw r;
    const a = await t.apply(r.gradient);
    if (a instanceof Error) throw a;
  }
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

describe('nodeTrainerFactory', () => {
  it('describes the model and steps on the cpu backend', async () => {
    const t = await start(base);
    const spec = modelSpec('mlp');
    expect(t.info.backend).toBe('cpu');
    expect(t.info.paramCount).toBe(spec.paramCount);
    expect(t.info.fingerprint).toBe(spec.fingerprint);
    expect(t.info.layerSizes).toEqual([784 * 128, 128, 128 * 10, 10]);
    expect(t.info.layerSizes.reduce((a, b) => a + b, 0)).toBe(t.info.paramCount);
    expect(await t.capacity()).toBe(0);

    const before = await t.getParams();
    const r = await t.step(32);
    if (r instanceof Error) throw r;
    expect(r.batchSize).toBe(32);
    expect(r.gradient).toHaveLength(t.info.paramCount);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeGreaterThan(0);
    expect(r.computeMs).toBeGreaterThanOrEqual(0);
    expect(await t.apply(r.gradient)).toBeUndefined();
    const after = await t.getParams();
    expect(sameBits(before, after)).toBe(false);
    await train(t, 2);
    expect(await t.steps()).toBe(3);
    expect(await t.capacity()).toBeGreaterThan(0);
    const ev = await t.evaluate('test');
    expect(ev.samples).toBe(200);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0);
  });

  it('refuses bad input as Error values and changes nothing', async () => {
    const t = await start(base);
    await train(t, 1);
    const before = await t.getParams();
    const bad = new Float32Array(t.info.paramCount);
    bad[7] = Number.NaN;
    const applied = await t.apply(bad);
    expect(applied).toBeInstanceOf(Error);
    expect(sameBits(await t.getParams(), before)).toBe(true);
    expect(await t.apply(new Float32Array(3))).toBeInstanceOf(Error);
    expect(await t.setParams(bad)).toBeInstanceOf(Error);
    expect(await t.mergeParams(new Float32Array(3), 0.5)).toBeInstanceOf(Error);
    expect(await t.setSlowdown(0.5)).toBeInstanceOf(Error);
    expect(await t.step(0)).toBeInstanceOf(Error);
    expect(sameBits(await t.getParams(), before)).toBe(true);
    expect(await t.steps()).toBe(1);
    // The momentum buffer was not touched either: the next good update matches a twin's.
    const twin = await start(base);
    await train(twin, 1);
    const g = new Float32Array(t.info.paramCount).fill(0.01);
    expect(await t.apply(g)).toBeUndefined();
    expect(await twin.apply(g)).toBeUndefined();
    expect(sameBits(await t.getParams(), await twin.getParams())).toBe(true);
  });

  it('in a thread, answers an array handed over twice with an Error, not with silence', async () => {
    const t = await threadTrainerFactory({ room: 'lab', name: 'thread-1', testSamples: 200 })(
      request,
    );
    started.push(t);
    const params = await t.getParams();
    // The first hand-over transfers the buffer to the thread; posting the emptied array again
    // would never be answered by worker_threads and would hold every later call.
    expect(await t.setParams(params)).toBeUndefined();
    expect(params.buffer.byteLength).toBe(0);
    expect(await t.mergeParams(params, 0.5)).toBeInstanceOf(Error);
    expect(await t.setParams(params)).toBeInstanceOf(Error);
    expect(await t.apply(params)).toBeInstanceOf(Error);
    // The queue behind it still runs.
    expect(await t.steps()).toBe(0);
  });

  it('saves a checkpoint and restores it into a second trainer', async () => {
    const store = createMemoryCheckpointStore();
    const t = await start({ ...base, store });
    await train(t, 3);
    expect(await t.saveCheckpoint()).toBeUndefined();
    expect(store.keys()).toEqual([nodeCheckpointKey('lab', 'node-1')]);

    const u = await start({ ...base, store });
    expect(await u.restoreCheckpoint()).toEqual({ restored: true, step: 3 });
    expect(await u.steps()).toBe(3);
    expect(sameBits(await u.getParams(), await t.getParams())).toBe(true);
    // Optimizer state came along: the same update lands the same on both.
    const g = new Float32Array(t.info.paramCount).fill(-0.02);
    await t.apply(g);
    await u.apply(g);
    expect(sameBits(await u.getParams(), await t.getParams())).toBe(true);
  });

  it('says why nothing was restored: missing key, another room, no store', async () => {
    const store = createMemoryCheckpointStore();
    const t = await start({ ...base, store, checkpointKey: 'shared' });
    const missing = await t.restoreCheckpoint();
    expect(missing).toEqual({ restored: false, reason: expect.stringMatching(/no checkpoint/) });
    expect(await t.saveCheckpoint()).toBeUndefined();

    const elsewhere = await start({ ...base, room: 'other', store, checkpointKey: 'shared' });
    const foreign = await elsewhere.restoreCheckpoint();
    expect(foreign.restored).toBe(false);
    expect(await elsewhere.steps()).toBe(0);

    const none = await start(base);
    expect(await none.saveCheckpoint()).toBeUndefined();
    expect(await none.restoreCheckpoint()).toEqual({
      restored: false,
      reason: expect.stringMatching(/no checkpoint store/),
    });
  });

  it('checkpoints into a state directory under a file-safe default key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-node-trainer-'));
    dirs.push(dir);
    const options = { ...base, name: 'kiosk 3/ünï', store: createFileCheckpointStore(dir) };
    const t = await start(options);
    await train(t, 2);
    expect(await t.saveCheckpoint()).toBeUndefined();
    expect(await readdir(dir)).toEqual([`${nodeCheckpointKey('lab', 'kiosk 3/ünï')}.dlck`]);
    const u = await start(options);
    expect(await u.restoreCheckpoint()).toEqual({ restored: true, step: 2 });
  });

  it('loads the shard of its slot, and the step fails after dispose', async () => {
    const a = await start(base, { ...request, slot: 0 });
    const b = await start(base, { ...request, slot: 1 });
    // Same room seed, same initial model; different shards, so different first gradients.
    expect(sameBits(await a.getParams(), await b.getParams())).toBe(true);
    const ra = await a.step(16);
    const rb = await b.step(16);
    if (ra instanceof Error || rb instanceof Error) throw new Error('step failed');
    expect(sameBits(ra.gradient, rb.gradient)).toBe(false);
    await a.dispose();
    await a.dispose();
    expect(await a.step(16)).toBeInstanceOf(Error);
    expect(await a.setParams(await b.getParams())).toBeInstanceOf(Error);
  });

  it('keeps distinct peers apart in the default key', () => {
    const keys = new Set(
      [
        ['lab', 'a b'],
        ['lab', 'a_b'],
        ['lab', 'a-b'],
        ['lab-a', 'b'],
      ].map(([room, name]) => nodeCheckpointKey(room!, name!)),
    );
    expect(keys.size).toBe(4);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
    expect(nodeCheckpointKey('r'.repeat(64), 'n'.repeat(64)).length).toBeLessThanOrEqual(128);
  });
});
