import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { adapterKind, selectBackend } from './backend';

describe('telling a software WebGPU adapter from a GPU', () => {
  it('reads the adapter info that Chromium, Dawn and Mesa give', () => {
    expect(adapterKind({ info: { vendor: 'google', architecture: 'swiftshader' } }).kind).toBe(
      'software',
    );
    expect(
      adapterKind({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6)' } }).kind,
    ).toBe('software');
    expect(adapterKind({ info: { description: 'Microsoft Basic Render Driver' } }).kind).toBe(
      'software',
    );
    expect(adapterKind({ isFallbackAdapter: true, info: { vendor: 'x' } }).kind).toBe('software');
    expect(adapterKind({ info: { vendor: 'nvidia', architecture: 'hopper' } })).toEqual({
      kind: 'gpu',
      name: 'nvidia hopper',
    });
    expect(adapterKind({}).kind).toBe('gpu');
  });
});

describe('selectBackend in Node (no WebGPU, no WebGL)', () => {
  it('takes cpu, the only one that starts, and says why the others did not', async () => {
    const choice = await selectBackend();
    expect(choice.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.note).toMatch(/webgpu: .*navigator\.gpu/);
    expect(choice.note).toMatch(/webgl: /);
  });

  it('a forced backend that cannot start is an error naming it', async () => {
    await expect(selectBackend('webgl')).rejects.toThrow(/webgl/);
  });
});
