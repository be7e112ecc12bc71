/**
 * Choosing the tfjs backend among webgpu, webgl and cpu (DESIGN.md 2). The wasm backend is
 * left out on purpose: it has no convolution gradients. A WebGPU adapter that is a real GPU is
 * taken at once. Otherwise (a software adapter such as SwiftShader or lavapipe, or no WebGPU)
 * every backend that starts is timed on a short probe, a dense layer's forward and backward
 * matrix products at a training batch's size, and the fastest is taken: on a machine without a
 * GPU, WebGPU through SwiftShader trained the mlp 4x slower than WebGL and 3x slower than the
 * cpu backend (docs/benchmarks.md), so "the first that exists" was the worst choice. The choice
 * and its reasons are reported so the dashboard can show them.
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

interface AdapterLike {
  readonly isFallbackAdapter?: boolean;
  readonly info?: {
    readonly vendor?: string;
    readonly architecture?: string;
    readonly device?: string;
    readonly description?: string;
    readonly isFallbackAdapter?: boolean;
  };
}

interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

/** Names that software WebGPU implementations give their adapters. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|basic render|warp/i;

/** What the WebGPU adapter is: missing (with why), a software one, or a GPU. */
type WebgpuProbe =
  | { readonly kind: 'missing'; readonly why: string }
  | { readonly kind: 'software' | 'gpu'; readonly name: string };

/**
 * Tells a software adapter from a GPU by the adapter's own word: `isFallbackAdapter`, or its
 * vendor, architecture, device and description naming a software renderer.
 * @example adapterKind({ info: { vendor: 'google', architecture: 'swiftshader' } }) // software
 */
export function adapterKind(adapter: AdapterLike): { kind: 'software' | 'gpu'; name: string } {
  const info = adapter.info ?? {};
  const words = [info.vendor, info.architecture, info.device, info.description].filter(
    (w): w is string => typeof w === 'string' && w !== '',
  );
  const name = words.join(' ') || 'unnamed adapter';
  const fallback = adapter.isFallbackAdapter === true || info.isFallbackAdapter === true;
  return { kind: fallback || SOFTWARE_ADAPTER.test(name) ? 'software' : 'gpu', name };
}

async function probeWebgpu(): Promise<WebgpuProbe> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (!nav?.gpu) {
    return {
      kind: 'missing',
      why: 'navigator.gpu is missing (no WebGPU in this runtime, or the page is not a secure context)',
    };
  }
  // tfjs only says "initialisation failed" when there is no adapter; ask first to say why.
  const adapter = (await nav.gpu.requestAdapter().catch(() => null)) as AdapterLike | null;
  if (!adapter) {
    return {
      kind: 'missing',
      why: 'no WebGPU adapter (GPU blocklisted or disabled, or no driver)',
    };
  }
  return adapterKind(adapter);
}

/**
 * Selects the backend to train on, or exactly `force` (a URL parameter or option) when given;
 * a forced backend that fails is an error. Without `force`: WebGPU on a GPU adapter at once;
 * else the fastest of the backends that start, by `probeMs`.
 */
export async function selectBackend(force?: BackendName): Promise<BackendChoice> {
  if (force !== undefined) {
    const why = await tryBackend(force);
    if (why === undefined) return { backend: force, note: '' };
    throw new Error(`no tfjs backend could start (${force}: ${why})`);
  }
  const reasons: string[] = [];
  const started: BackendName[] = [];
  for (const name of BACKENDS) {
    const why = await tryBackend(name);
    if (why !== undefined) {
      reasons.push(`${name}: ${why}`);
      continue;
    }
    if (name === 'webgpu' && webgpuAdapter?.kind === 'gpu') {
      return { backend: 'webgpu', note: '' };
    }
    started.push(name);
  }
  if (started.length === 0) throw new Error(`no tfjs backend could start (${reasons.join('; ')})`);
  if (started.length === 1) {
    const only = started[0]!;
    if ((await tryBackend(only)) !== undefined) throw new Error(`${only} stopped working`);
    return { backend: only, note: reasons.join('; ') };
  }
  const timed: { name: BackendName; ms: number }[] = [];
  for (const name of started) {
    if ((await tryBackend(name)) !== undefined) continue;
    timed.push({ name, ms: await probeMs() });
  }
  timed.sort((a, b) => a.ms - b.ms);
  const best = timed[0];
  if (best === undefined || (await tryBackend(best.name)) !== undefined) {
    throw new Error(`no tfjs backend could start after timing (${reasons.join('; ')})`);
  }
  const software =
    webgpuAdapter?.kind === 'software'
      ? `webgpu adapter is software (${webgpuAdapter.name}); `
      : '';
  const times = timed.map((t) => `${t.name} ${t.ms.toFixed(1)} ms`).join(', ');
  reasons.push(`${software}timed a training probe: ${times}; took ${best.name}, the fastest`);
  return { backend: best.name, note: reasons.join('; ') };
}

/** The WebGPU adapter seen by the latest tryBackend('webgpu'). */
let webgpuAdapter: { kind: 'software' | 'gpu'; name: string } | undefined;

/**
 * Milliseconds of one training probe on the current backend: a dense layer's forward and
 * backward products at batch 128 (784 -> 128, the mlp's first layer, the bulk of its work),
 * after one untimed run that compiles the kernels; the best of three.
 */
async function probeMs(): Promise<number> {
  const x = tf.randomUniform([128, 784]);
  const w = tf.randomUniform([784, 128]);
  const once = async () => {
    const out = tf.tidy(() => {
      const h = tf.relu(tf.matMul(x, w));
      const gw = tf.matMul(x, h, true, false);
      const gx = tf.matMul(h, w, false, true);
      return tf.add(tf.sum(gw), tf.sum(gx));
    });
    await out.data();
    out.dispose();
  };
  try {
    await once();
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await once();
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  } finally {
    x.dispose();
    w.dispose();
  }
}

async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    if (name === 'webgpu') {
      const probe = await probeWebgpu();
      if (probe.kind === 'missing') return probe.why;
      webgpuAdapter = probe;
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
