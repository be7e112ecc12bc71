/**
 * One peer of a live run as a Chromium tab: the dashboard (app/, built once per process into
 * dist/tta-app) opened with the scenario's profile and the room config in its URL, one
 * browser context per peer (own storage, as separate machines have). The tab is read through
 * `window.__dlion` (app/test-handle.ts), its emulation changed with the dashboard's own
 * controls, its console kept in the log folder.
 */

import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from '@playwright/test';
import { parsePeerStatus } from '../../core';
import {
  EMPTY_SNAPSHOT,
  type EmulationChange,
  fileSafe,
  LiveBenchError,
  type LivePeer,
  type PeerSnapshot,
  type TestReport,
} from './live-peer';
import type { PeerProfile } from './types';

/** Apart from dist/app (`npm start`) and dist/e2e-app (Playwright), which may be in use. */
const APP_DIR = fileURLToPath(new URL('../../dist/tta-app/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Failed polls in a row before the tab counts as gone (one may race a navigation). */
const POLL_FAILURES = 3;
const LEAVE_GRACE_MS = 5000;

let built: Promise<string> | undefined;

/**
 * Builds app/ with the dashboard's vite.config.ts, once per process (tens of seconds: tfjs is
 * bundled twice, page and Worker), as playwright/fixtures.ts does for the end-to-end tests.
 */
export function buildAppOnce(log: (line: string) => void): Promise<string> {
  built ??= (async () => {
    const t0 = performance.now();
    const { build } = await import('vite');
    await build({
      configFile: fileURLToPath(new URL('../../vite.config.ts', import.meta.url)),
      root: fileURLToPath(new URL('../../app/', import.meta.url)),
      logLevel: 'warn',
      build: { outDir: APP_DIR, emptyOutDir: true },
    });
    log(`app built into ${APP_DIR} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return APP_DIR;
  })();
  // A failed build is tried again by the next caller rather than remembered.
  built.catch(() => {
    built = undefined;
  });
  return built;
}

/** Headless Chromium, the system's one (never a downloaded build). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('@playwright/test');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface TabPeerOptions {
  readonly browser: Browser;
  readonly profile: PeerProfile;
  /** The signaling server that serves the built page. */
  readonly serverUrl: string;
  readonly room: string;
  /** The room config (roomConfigFor): every tab carries it, the first to join creates the room. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly testEveryS: number;
  /** `${logPrefix}-${name}.console.log` in logDir. */
  readonly logDir: string;
  readonly logPrefix: string;
  readonly onTest: (report: TestReport) => void;
}

/**
 * The join URL: the page's own parameters (app/params.ts). `config` carries the room fields
 * the URL has no parameter of its own for (sharding, maxPeers, globalBatch, ...); the cpu
 * backend, because SwiftShader's WebGL on a small machine is slower and flakier than it.
 */
export function tabUrl(
  serverUrl: string,
  room: string,
  profile: PeerProfile,
  config: Readonly<Record<string, unknown>>,
  testEveryS: number,
): string {
  const { strategy, model, dataset, ...rest } = config;
  const q = new URLSearchParams({
    room,
    name: profile.name,
    slowdown: String(profile.slowdown),
    backend: 'cpu',
    strategy: String(strategy),
    model: String(model),
    dataset: String(dataset),
    config: JSON.stringify(rest),
    testEverySec: String(testEveryS),
  });
  if (profile.uplinkMbps !== undefined) q.set('uplinkMbps', String(profile.uplinkMbps));
  return `${serverUrl}/?${q.toString()}`;
}

/** The part of app/test-handle.ts's DlionTestHandle read here (bench/ has no DOM types). */
interface PageHandle {
  phase(): string;
  id(): string | undefined;
  status(): unknown;
  testEvaluations(): readonly { step: number; accuracy: number; atMs: number }[];
  merges(): { kept: number; rolledBack: number };
}

interface PageView {
  readonly phase: string;
  readonly id: string | undefined;
  readonly status: unknown;
  readonly evaluations: readonly { step: number; accuracy: number; atMs: number }[];
  readonly merges: { kept: number; rolledBack: number };
  /** The page's performance.now() when it answered: turns the evaluations' atMs into ours. */
  readonly nowMs: number;
}

/** Runs in the page: what the handle says, evaluations from index `seen` on. */
const readPage = (seen: number): PageView | undefined => {
  const h = (globalThis as { __dlion?: PageHandle }).__dlion;
  if (h === undefined) return undefined;
  return {
    phase: h.phase(),
    id: h.id(),
    status: h.status(),
    evaluations: h.testEvaluations().slice(seen),
    merges: h.merges(),
    nowMs: performance.now(),
  };
};

const isStopped = (): boolean => {
  const phase = (globalThis as { __dlion?: PageHandle }).__dlion?.phase();
  return phase === 'closed' || phase === 'failed';
};

/** Opens the tab; its peer joins as soon as the page has loaded. */
export async function startTabPeer(o: TabPeerOptions): Promise<LivePeer> {
  const context = await o.browser.newContext();
  const log = createWriteStream(
    join(o.logDir, `${fileSafe(o.logPrefix)}-${fileSafe(o.profile.name)}.console.log`),
  );
  let page: Page;
  try {
    page = await context.newPage();
  } catch (e) {
    log.end();
    await context.close();
    throw e;
  }
  let gone: string | undefined;
  page.on('console', (m) => log.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => log.write(`[pageerror] ${e.message}\n`));
  page.on('crash', () => {
    gone = 'its tab crashed';
  });
  page.on('close', () => {
    gone ??= 'its tab was closed';
  });
  const url = tabUrl(o.serverUrl, o.room, o.profile, o.config, o.testEveryS);
  try {
    await page.goto(url);
  } catch (e) {
    log.end();
    await context.close();
    throw new LiveBenchError(`tab ${o.profile.name}: cannot open ${url}: ${(e as Error).message}`);
  }

  let snap: PeerSnapshot = EMPTY_SNAPSHOT;
  let seen = 0;
  let failedPolls = 0;
  let lastPollError = '';
  // The dashboard's emulation form holds both knobs; a change fills in both, so the one that
  // does not change is never reset by a field that started empty.
  let knobs: { slowdown: number; uplinkMbps: number | undefined } = {
    slowdown: o.profile.slowdown,
    uplinkMbps: o.profile.uplinkMbps,
  };

  const poll = async () => {
    if (gone !== undefined) return;
    let view: PageView | undefined;
    try {
      view = await page.evaluate(readPage, seen);
      failedPolls = 0;
    } catch (e) {
      failedPolls++;
      lastPollError = (e as Error).message;
      return;
    }
    const ourNow = performance.now();
    if (view === undefined) return;
    seen += view.evaluations.length;
    for (const e of view.evaluations) {
      if (!Number.isFinite(e.accuracy) || !Number.isFinite(e.step)) continue;
      o.onTest({ accuracy: e.accuracy, step: e.step, atMs: ourNow - (view.nowMs - e.atMs) });
    }
    const status = view.status === undefined ? undefined : parsePeerStatus(view.status);
    snap = {
      phase: view.phase,
      detail: view.phase === 'failed' ? `see ${log.path}` : '',
      id: view.id,
      status: status?.ok ? status.value : snap.status,
      merges: view.merges,
    };
  };

  let stopping: Promise<string> | undefined;
  const stop = async (): Promise<string> => {
    let how = 'left';
    try {
      if (gone === undefined) {
        // The dashboard's own button: bye on every link, then sig/leave.
        await page.getByTestId('leave').click({ timeout: 2000 });
        await page.waitForFunction(isStopped, undefined, { timeout: LEAVE_GRACE_MS });
      } else how = `had stopped: ${gone}`;
    } catch {
      how = 'closed without leaving';
    } finally {
      await context.close().catch(() => {});
      log.end();
    }
    return how;
  };

  return {
    profile: o.profile,
    snapshot: () => snap,
    failure: () =>
      gone ??
      (failedPolls >= POLL_FAILURES ? `its page stopped answering (${lastPollError})` : undefined),
    poll,
    apply: async (change: EmulationChange) => {
      knobs = {
        slowdown: change.slowdown ?? knobs.slowdown,
        uplinkMbps: change.uplinkMbps ?? knobs.uplinkMbps,
      };
      await page.getByTestId('slowdown-input').fill(String(knobs.slowdown));
      await page
        .getByTestId('uplink-input')
        .fill(knobs.uplinkMbps === undefined ? '' : String(knobs.uplinkMbps));
      await page.getByTestId('apply-emulation').click();
    },
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
