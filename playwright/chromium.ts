/**
 * The browser every e2e test and browser benchmark runs: Debian's Chromium, headless, with
 * WebGPU switched on. On a machine without a GPU, WebGPU and WebGL are SwiftShader (on the CPU).
 */

/** Debian's package installs it here; CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  // Root in a container: Chromium's sandbox needs user namespaces it cannot have here.
  '--no-sandbox',
  // No update checks, sync or first-run pages: the machine is offline and runs must be quiet.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // WebGPU is behind this flag on Linux; without a GPU it runs on SwiftShader.
  '--enable-unsafe-webgpu',
];
