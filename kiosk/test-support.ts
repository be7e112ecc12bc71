/**
 * Tests' handle on a kiosk process: `node bin/dlion.mjs kiosk ARGS`, as an operator runs it,
 * with its JSON lines parsed as they come, its stderr kept, and its exit code awaited.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface KioskProcess {
  readonly process: ChildProcess;
  /** Every JSON line printed, oldest first. */
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts a kiosk; the caller stops it (kill, or its own exit) and awaits `exited`. */
export function spawnKiosk(
  args: readonly string[],
  env: Record<string, string> = {},
): KioskProcess {
  const child = spawn(process.execPath, ['bin/dlion.mjs', 'kiosk', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      stderr.push(`stdout (not JSON): ${line}`);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 2000) stderr.shift();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { process: child, lines, stderr, exited };
}

/** The last line of `type` printed so far. */
export const lastLine = (k: KioskProcess, type: string): Record<string, unknown> | undefined =>
  [...k.lines].reverse().find((l) => l.type === type);
