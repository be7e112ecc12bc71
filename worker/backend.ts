/**
 * Choosing the tfjs backend: webgpu, then webgl, then cpu (DESIGN.md 2). The wasm backend is
 * left out on purpose: it has no convolution gradients. The choice actually made, and why a
 * better one was not, is reported so the dashboard can show it.
 */

import * as tf from '@tensorflow/tfjs';

export const BACKENDS = ['webgpu', 'webgl', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendChoice {
  readonly backend: BackendName;
  /** Why faster backends were not used (empty when the first choice worked). */
  readonly note: string;
}

/** Registers the WebGPU backend on first use; its module touches `navigator` when loaded. */
async function registerWebgpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-webgpu');
}

interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

/** Why WebGPU cannot work here, or undefined when it might. */
async function webgpuUnavailable(): Promise<string | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (!nav?.gpu) {
    return 'navigator.gpu is missing (no WebGPU in this runtime, or the page is not a secure context)';
  }
  // tfjs only says "initialisation failed" when there is no adapter; ask first to say why.
  const adapter = await nav.gpu.requestAdapter().catch(() => null);
  if (!adapter) return 'no WebGPU adapter (GPU blocklisted or disabled, or no driver)';
  return undefined;
}

/**
 * Selects the first backend of webgpu -> webgl -> cpu that initialises, or exactly `force`
 * (a URL parameter or option) when given; a forced backend that fails is an error.
 */
export async function selectBackend(force?: BackendName): Promise<BackendChoice> {
  const order = force ? [force] : BACKENDS;
  const reasons: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === undefined) return { backend: name, note: reasons.join('; ') };
    reasons.push(`${name}: ${why}`);
  }
  throw new Error(`no tfjs backend could start (${reasons.join('; ')})`);
}

async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    if (name === 'webgpu') {
      const missing = await webgpuUnavailable();
      if (missing) return missing;
      await registerWebgpu();
    }
    if (
      name === 'webgl' &&
      typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined'
    ) {
      const hasDocument = typeof (globalThis as { document?: unknown }).document !== 'undefined';
      if (!hasDocument) return 'no OffscreenCanvas or document to create a WebGL context';
    }
    // setBackend resolves false (and logs) when the backend's initialisation fails.
    const ok = await tf.setBackend(name);
    if (!ok) return 'initialisation failed';
    await tf.ready();
    return tf.getBackend() === name ? undefined : `tfjs chose ${tf.getBackend()} instead`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
