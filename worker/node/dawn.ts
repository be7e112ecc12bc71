/**
 * WebGPU in Node through Dawn (the `webgpu` package), for kiosks on an edge box with a GPU
 * and a Vulkan driver. tfjs' WebGPU backend looks for `navigator.gpu`; Node has no such
 * thing, so this puts Dawn's GPU object there (and Dawn's GPU* constants on the global
 * object) before the backend is chosen. Without an adapter it says why, in one sentence.
 */

interface DawnModule {
  readonly create: (flags: string[]) => { requestAdapter(): Promise<unknown> };
  readonly globals: Record<string, unknown>;
}

let installed: Promise<string | undefined> | undefined;
let adapterDescription: string | undefined;

/** The adapter Dawn found (vendor, device, driver), once installDawnGpu succeeded. */
export const dawnAdapter = (): string | undefined => adapterDescription;

/**
 * Makes `navigator.gpu` a Dawn GPU when an adapter exists. Resolves undefined when WebGPU is
 * ready, or the reason it is not (no package, no Vulkan driver, no adapter). Runs once per
 * thread; later calls return the first answer.
 */
export function installDawnGpu(): Promise<string | undefined> {
  installed ??= install();
  return installed;
}

async function install(): Promise<string | undefined> {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    return `the webgpu package (Dawn) did not load: ${(e as Error).message.split('\n')[0]}`;
  }
  let gpu: ReturnType<DawnModule['create']>;
  try {
    gpu = dawn.create([]);
  } catch (e) {
    return `Dawn could not start: ${(e as Error).message.split('\n')[0]}`;
  }
  const adapter = (await gpu.requestAdapter().catch(() => null)) as {
    info?: { vendor?: string; device?: string; description?: string };
  } | null;
  if (!adapter) {
    return 'Dawn found no WebGPU adapter (no Vulkan driver such as mesa-vulkan-drivers, or no GPU it supports)';
  }
  const info = adapter.info;
  adapterDescription =
    [info?.vendor, info?.description || info?.device].filter((x) => x).join(': ') || 'unnamed';
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true });
  }
  // Node 21+ has a navigator of its own: keep its fields and add gpu.
  const nav = (globalThis as { navigator?: object }).navigator ?? {};
  Object.defineProperty(globalThis, 'navigator', {
    value: Object.assign(Object.create(nav), { gpu }),
    configurable: true,
    writable: true,
  });
  return undefined;
}
