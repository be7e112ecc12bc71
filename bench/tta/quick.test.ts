/**
 * The benchmark's CI smoke run: `npm run bench -- --quick` as a user runs it (the CLI in its
 * own process, the real runtime and real tfjs training on the virtual clock), checked through
 * the files it writes. It checks that the harness works end to end, not the ratios.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchOutput } from './types';

const dir = mkdtempSync(join(tmpdir(), 'tta-quick-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: readonly string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'bench/tta.ts', ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('npm run bench -- --quick', () => {
  it('runs dlion and bsp in sim mode and writes the result, the report and the plots', async () => {
    const out = join(dir, 'quick.json');
    const report = join(dir, 'quick.md');
    const r = await run(['--quick', '--out', out, '--report', report, '--log-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(readFileSync(out, 'utf8')) as BenchOutput;
    expect(o).toMatchObject({ scenario: 'quick', mode: 'sim', targetAccuracy: 0.8 });
    expect(o.results.map((x) => x.strategy)).toEqual(['dlion', 'bsp']);
    for (const run of o.runs) {
      const first = run.curve[0]!;
      const last = run.curve[run.curve.length - 1]!;
      expect(first.t).toBe(0);
      expect(last.t).toBeCloseTo(o.budgetS, 6);
      // Real training: a fresh model is near 10%, every strategy learns something in the budget.
      expect(first.accuracy).toBeLessThan(0.3);
      expect(last.accuracy).toBeGreaterThan(first.accuracy + 0.3);
      expect(run.bytesSent).toBeGreaterThan(0);
      expect(run.links).toHaveLength(6);
    }
    const [dlion, bsp] = o.runs;
    // bsp sends the dense gradient on every link each step, dlion what each link's budget fits.
    const perStep = (x: typeof dlion) =>
      x!.bytesSent / Object.values(x!.steps).reduce((a, b) => a + b, 0);
    expect(perStep(bsp)).toBeGreaterThan(perStep(dlion));
    expect(readFileSync(report, 'utf8')).toContain('quick');
    expect(readFileSync(join(dir, 'quick-accuracy.svg'), 'utf8')).toMatch(
      /^<svg[\s\S]*<\/svg>\s*$/,
    );
    expect(r.stdout).toMatch(/^dlion .*time to 0\.8/m);
  }, 600_000);

  it('refuses bad flags with the usage and exit code 2', async () => {
    const r = await run(['--strategies', 'dlion,paxos']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown strategy 'paxos'");
    expect(r.stderr).toContain('usage: npm run bench');
  });
});
