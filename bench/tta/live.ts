/**
 * The `live` mode of the time-to-accuracy benchmark: one strategy of a scenario on real peers
 * (Node processes, or Chromium tabs with `browsers`), a fresh signaling server and room per
 * run, real WebRTC over loopback. The clock starts once every peer trains; the scenario's
 * timeline is applied on that clock; the accuracy curve is the peers' test-split evaluations;
 * bytes, steps and merges come from the peers' own reports at the end of the budget.
 *
 * @example
 *   const run = await runLive(await loadScenario('both'), 'dlion',
 *     { browsers: false, logDir: '/tmp/tta-logs', progress: (l) => console.error(l) });
 */

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import type { StrategyName } from '../../core';
import { createNetnsTopology, type NetnsTopology, netnsUnavailable } from '../../mesh/node';
import { startSignalingServer } from '../../signaling/server';
import { buildAppOnce, launchChromium, startTabPeer } from './live-browser';
import { startNodePeer } from './live-node';
import {
  fileSafe,
  LiveBenchError,
  type LivePeer,
  type PeerSnapshot,
  type TestReport,
} from './live-peer';
import { roomConfigFor } from './scenario';
import type { CurvePoint, LinkBytes, Scenario, StrategyRun, TimelineChange } from './types';

export { LiveBenchError } from './live-peer';

export interface LiveOptions {
  /** Chromium tabs instead of Node peer processes. */
  readonly browsers: boolean;
  /**
   * Each Node peer in its own network namespace, its uplink shaped by the kernel at the
   * scenario's rate (mesh/node/netns.ts), the app's shaper off.
   */
  readonly netns?: boolean | undefined;
  /** Peers' stderr / browser console logs, and the signaling server's log, go here. */
  readonly logDir: string;
  /** One human line every few seconds. */
  readonly progress: (line: string) => void;
  /** Aborting stops the run (every peer and the server are still stopped) with a LiveBenchError. */
  readonly signal?: AbortSignal | undefined;
}

/** How long the peers may take to join, load their data and start training. */
const JOIN_DEADLINE_S = 240;
const TICK_MS = 250;
const PROGRESS_EVERY_MS = 10_000;
/** The test images a tab evaluates on: worker/browser/start.ts's BROWSER_TEST_SAMPLES. */
const TAB_TEST_SAMPLES = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `strategy` on `scenario` for scenario.budgetS seconds of training and returns its
 * curve, bytes and steps. Every peer, the browser and the server are stopped before it
 * returns or throws. Throws LiveBenchError when the peers do not all train within 240 s,
 * when one fails or stops during the run, or for a scenario tabs cannot emulate.
 */
export async function runLive(
  scenario: Scenario,
  strategy: StrategyName,
  o: LiveOptions,
): Promise<StrategyRun> {
  const startedMs = performance.now();
  const tag = `[${o.browsers ? 'live-browsers' : o.netns === true ? 'live-netns' : 'live'} ${strategy}]`;
  if (o.browsers) checkTabsCanRun(scenario);
  const net = o.netns === true ? kernelShapedMesh(scenario) : undefined;
  await mkdir(o.logDir, { recursive: true });
  const prefix = `${scenario.name}-${strategy}`;
  const config = roomConfigFor(scenario, strategy);
  const room = `tta-${fileSafe(strategy)}-${randomUUID().slice(0, 8)}`;
  const staticDir = o.browsers ? await buildAppOnce((l) => o.progress(`${tag} ${l}`)) : undefined;
  if (o.browsers && scenario.testSamples !== TAB_TEST_SAMPLES) {
    o.progress(
      `${tag} note: tabs evaluate on ${TAB_TEST_SAMPLES} test images (the page's fixed number), not the scenario's ${scenario.testSamples}`,
    );
  }

  const serverLog = createWriteStream(join(o.logDir, `${fileSafe(prefix)}-server.log`));
  const server = await startSignalingServer({
    host: net?.rootAddress ?? '127.0.0.1',
    port: 0,
    ...(staticDir === undefined ? {} : { staticDir }),
    log: (line) => serverLog.write(`${line}\n`),
  }).catch((e: unknown) => {
    serverLog.end();
    net?.close();
    throw e;
  });
  const curve = createCurve(scenario);
  const peers: LivePeer[] = [];
  let browser: Browser | undefined;
  let result: Omit<StrategyRun, 'wallS'>;
  try {
    if (o.browsers) browser = await launchChromium();
    o.progress(`${tag} room ${room} on ${server.url}: starting ${scenario.peers.length} peers`);
    for (const [i, profile] of scenario.peers.entries()) {
      const common = {
        profile,
        serverUrl: server.url,
        room,
        config,
        testEveryS: scenario.evalEveryS,
        logDir: o.logDir,
        logPrefix: prefix,
        onTest: (r: TestReport) => curve.report(i, r),
      };
      peers.push(
        browser === undefined
          ? startNodePeer({
              ...common,
              testSamples: scenario.testSamples,
              siteLinks: scenario.siteLinks,
              ...(net === undefined
                ? {}
                : { wrap: (argv) => net.wrap(i, argv), kernelShaped: true }),
            })
          : await startTabPeer({ ...common, browser }),
      );
    }

    const t0 = await waitUntilTraining(peers, curve, tag, o);
    curve.start(t0);
    await checkRoomConfig(server.url, room, config, tag);
    o.progress(
      `${tag} all ${peers.length} peers training after ${((t0 - startedMs) / 1000).toFixed(0)} s; t=0, running ${scenario.budgetS} s`,
    );
    const endMs = t0 + scenario.budgetS * 1000;
    let nextChange = 0;
    let nextProgress = t0 + PROGRESS_EVERY_MS;
    for (;;) {
      const now = performance.now();
      if (now >= endMs) break;
      await sleep(Math.min(TICK_MS, endMs - now));
      await pollAll(peers, curve);
      throwIfAborted(o.signal, tag);
      throwOnFailure(peers, tag, (performance.now() - t0) / 1000);
      const t = (performance.now() - t0) / 1000;
      let change = scenario.timeline[nextChange];
      while (change !== undefined && change.atS <= t) {
        await applyChange(peers, change, tag, o, net);
        nextChange++;
        change = scenario.timeline[nextChange];
      }
      if (performance.now() >= nextProgress) {
        nextProgress += PROGRESS_EVERY_MS;
        o.progress(progressLine(tag, t, curve.points().at(-1), peers));
      }
    }
    // What the peers had done when the budget ran out: later steps and bytes do not count.
    await pollAll(peers, curve);
    curve.flush(endMs);
    result = summarise(scenario, strategy, curve.points(), peers, net !== undefined);
    o.progress(
      `${tag} done: ${curve.points().length} curve points, last acc ${fmtAcc(curve.points().at(-1)?.accuracy)}, ${(result.bytesSent / 1e6).toFixed(1)} MB sent`,
    );
  } finally {
    const how = await Promise.all(
      peers.map((p) => p.stop().catch((e: unknown) => `stop failed: ${String(e)}`)),
    );
    o.progress(
      `${tag} stopped: ${peers.map((p, i) => `${p.profile.name} ${how[i] ?? '?'}`).join(', ')}`,
    );
    await browser?.close().catch(() => {});
    await server.close();
    serverLog.end();
    net?.close();
  }
  return { ...result, wallS: (performance.now() - startedMs) / 1000 };
}

/**
 * The room must run the scenario's config: the first peer to join created it from its URL or
 * flags, and a field the page or run-peer did not pass on would otherwise go unnoticed.
 */
async function checkRoomConfig(
  serverUrl: string,
  room: string,
  want: Readonly<Record<string, unknown>>,
  tag: string,
): Promise<void> {
  let body: unknown;
  try {
    const res = await fetch(`${serverUrl}/api/rooms/${encodeURIComponent(room)}`);
    body = await res.json();
  } catch (e) {
    throw new LiveBenchError(
      `${tag} cannot read room ${room} from the API: ${(e as Error).message}`,
    );
  }
  const got =
    typeof body === 'object' && body !== null ? (body as { config?: unknown }).config : undefined;
  if (typeof got !== 'object' || got === null) {
    throw new LiveBenchError(`${tag} the API shows no config for room ${room}`);
  }
  const actual = got as Record<string, unknown>;
  const wrong = Object.keys(want).filter((k) => canonical(actual[k]) !== canonical(want[k]));
  if (wrong.length > 0) {
    throw new LiveBenchError(
      `${tag} room ${room} runs another config than the scenario's: ${wrong
        .map((k) => `${k} is ${JSON.stringify(actual[k])}, not ${JSON.stringify(want[k])}`)
        .join('; ')}`,
    );
  }
}

/** JSON with object keys sorted: the server's validator may order a nested object's keys its way. */
const canonical = (x: unknown): string =>
  JSON.stringify(x, (_key, value: unknown) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );

/** One poll round of every peer, then the test reports made before it began become points. */
async function pollAll(peers: readonly LivePeer[], curve: Curve): Promise<void> {
  const roundStart = performance.now();
  await Promise.all(peers.map((p) => p.poll()));
  curve.flush(roundStart);
}

/** A link's cap for the result: the emulated one, else the kernel's rate (--netns). */
function capOf(capBps: number | undefined, kernelMbps: number | undefined): { capMbps?: number } {
  if (capBps !== undefined) return { capMbps: (capBps * 8) / 1e6 };
  return kernelMbps === undefined ? {} : { capMbps: kernelMbps };
}

/** Peer i's uplink at the end of the run: its profile's, then the timeline's last change. */
function uplinkAtEnd(scenario: Scenario, i: number): number | undefined {
  let mbps = scenario.peers[i]?.uplinkMbps;
  for (const c of scenario.timeline)
    if (c.peer === i && c.uplinkMbps !== undefined) mbps = c.uplinkMbps;
  return mbps;
}

/**
 * The namespaces for --netns: a kernel rate per uplink. Latency needs netem, which this kind
 * of machine lacks, and site caps are per link pair, which one qdisc per uplink cannot show:
 * such scenarios are refused rather than run unlike their description.
 */
function kernelShapedMesh(scenario: Scenario): NetnsTopology {
  const why = netnsUnavailable();
  if (why !== undefined) throw new LiveBenchError(`--netns: ${why}`);
  const withLatency = scenario.peers.filter((p) => p.latencyMs !== undefined && p.latencyMs > 0);
  if (scenario.siteLinks !== undefined || withLatency.length > 0) {
    throw new LiveBenchError(
      `scenario ${scenario.name}: --netns shapes uplink rates only (no siteLinks, no latencyMs)`,
    );
  }
  return createNetnsTopology(
    scenario.peers.map((p) => ({
      uplinkBps: p.uplinkMbps === undefined ? undefined : p.uplinkMbps * 1e6,
    })),
    // Per link, as the scenarios mean uplinkMbps (and as the app's shaper applies it).
    { rootLink: true, shaping: 'per-link' },
  );
}

/** What tabs cannot do: the page has no added-latency parameter. */
function checkTabsCanRun(scenario: Scenario): void {
  const withLatency = scenario.peers.filter((p) => p.latencyMs !== undefined && p.latencyMs > 0);
  if (scenario.siteLinks !== undefined) {
    throw new LiveBenchError(
      `scenario ${scenario.name}: tabs cannot shape links by site (siteLinks); run it with Node peers or in sim mode`,
    );
  }
  if (withLatency.length > 0) {
    throw new LiveBenchError(
      `scenario ${scenario.name}: tabs cannot add latency (peers ${withLatency.map((p) => p.name).join(', ')} have latencyMs); run it with Node peers`,
    );
  }
}

function throwIfAborted(signal: AbortSignal | undefined, tag: string): void {
  if (signal?.aborted) throw new LiveBenchError(`${tag} aborted`);
}

/** A peer that failed, stopped or ended its process ends the run: its numbers would be wrong. */
function throwOnFailure(peers: readonly LivePeer[], tag: string, t: number): void {
  for (const p of peers) {
    const s = p.snapshot();
    const gone = p.failure();
    const why =
      gone ??
      (s.phase === 'failed' || s.phase === 'closed' || s.phase === 'finished'
        ? `phase ${s.phase}${s.detail ? ` (${s.detail})` : ''}`
        : undefined);
    if (why !== undefined) {
      throw new LiveBenchError(
        `${tag} peer ${p.profile.name} stopped at t=${t.toFixed(0)}s: ${why}`,
      );
    }
  }
}

/** Resolves with the moment (performance.now) every peer is in phase 'training'. */
async function waitUntilTraining(
  peers: readonly LivePeer[],
  curve: Curve,
  tag: string,
  o: LiveOptions,
): Promise<number> {
  const startMs = performance.now();
  const deadline = startMs + JOIN_DEADLINE_S * 1000;
  let nextProgress = startMs + PROGRESS_EVERY_MS;
  const states = () => peers.map((p) => `${p.profile.name} ${describe(p.snapshot())}`).join(', ');
  for (;;) {
    await pollAll(peers, curve);
    throwIfAborted(o.signal, tag);
    for (const p of peers) {
      const gone = p.failure();
      const s = p.snapshot();
      if (gone !== undefined || s.phase === 'failed') {
        throw new LiveBenchError(
          `${tag} peer ${p.profile.name} failed before training: ${gone ?? `phase failed (${s.detail})`}`,
        );
      }
    }
    const now = performance.now();
    if (peers.every((p) => p.snapshot().phase === 'training')) return now;
    if (now > deadline) {
      const late = peers.filter((p) => p.snapshot().phase !== 'training');
      throw new LiveBenchError(
        `${tag} peers not training after ${JOIN_DEADLINE_S} s: ${late
          .map((p) => `${p.profile.name} (${describe(p.snapshot())})`)
          .join(', ')}`,
      );
    }
    if (now >= nextProgress) {
      nextProgress += PROGRESS_EVERY_MS;
      o.progress(
        `${tag} waiting for training, ${((now - startMs) / 1000).toFixed(0)} s: ${states()}`,
      );
    }
    await sleep(TICK_MS);
  }
}

const describe = (s: PeerSnapshot): string =>
  s.phase === 'none' ? 'no phase yet' : `phase ${s.phase}${s.detail ? `: ${s.detail}` : ''}`;

async function applyChange(
  peers: readonly LivePeer[],
  c: TimelineChange,
  tag: string,
  o: LiveOptions,
  net: NetnsTopology | undefined,
): Promise<void> {
  const p = peers[c.peer];
  // parseScenario checked the index; a hand-built Scenario may not have been.
  if (p === undefined)
    throw new LiveBenchError(`${tag} timeline names peer ${c.peer}, but there are ${peers.length}`);
  try {
    if (net !== undefined && c.uplinkMbps !== undefined) net.setUplink(c.peer, c.uplinkMbps * 1e6);
    await p.apply({
      slowdown: c.slowdown,
      uplinkMbps: net === undefined ? c.uplinkMbps : undefined,
    });
  } catch (e) {
    throw new LiveBenchError(
      `${tag} could not apply the change at ${c.atS} s to ${p.profile.name}: ${(e as Error).message}`,
    );
  }
  const what = [
    c.slowdown === undefined ? '' : `slowdown ${c.slowdown}`,
    c.uplinkMbps === undefined ? '' : `uplink ${c.uplinkMbps} Mbit/s`,
  ].filter((x) => x !== '');
  o.progress(`${tag} t=${c.atS}s: ${p.profile.name} ${what.join(', ')}`);
}

const fmtAcc = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(3));

function progressLine(
  tag: string,
  t: number,
  last: CurvePoint | undefined,
  peers: readonly LivePeer[],
): string {
  const steps = peers.map((p) => `${p.profile.name}=${p.snapshot().status?.step ?? '-'}`);
  return `${tag} t=${t.toFixed(0)}s acc=${fmtAcc(last?.accuracy)} steps ${steps.join(' ')}`;
}

interface Curve {
  /** Queues a report; it becomes a point once flushed. */
  report(peer: number, r: TestReport): void;
  /**
   * Takes the queued reports up to `uptoMs` (performance.now), in time order. Tabs are
   * polled, so one tab's report may reach us after a later one of another tab; every report
   * made before a poll round began has arrived once the round is over.
   */
  flush(uptoMs: number): void;
  /** Points count from t0 (performance.now, ms) on, up to t0 + budget. */
  start(t0: number): void;
  points(): readonly CurvePoint[];
}

/**
 * The accuracy curve: each test evaluation made during the budget, once every peer has
 * reported one, adds a point with the mean and lowest of the peers' latest accuracies.
 * Evaluations before t0 still count as a peer's latest (the first point needs all of them).
 */
function createCurve(scenario: Scenario): Curve {
  const latest: (TestReport | undefined)[] = scenario.peers.map(() => undefined);
  const points: CurvePoint[] = [];
  let pending: { peer: number; r: TestReport }[] = [];
  let t0: number | undefined;
  const take = (peer: number, r: TestReport) => {
    latest[peer] = r;
    if (t0 === undefined || r.atMs < t0 || r.atMs > t0 + scenario.budgetS * 1000) return;
    const all = latest.filter((x): x is TestReport => x !== undefined);
    if (all.length < latest.length) return;
    points.push({
      t: (r.atMs - t0) / 1000,
      accuracy: all.reduce((s, x) => s + x.accuracy, 0) / all.length,
      minAccuracy: Math.min(...all.map((x) => x.accuracy)),
      step: all.reduce((s, x) => s + x.step, 0) / all.length,
    });
  };
  return {
    report: (peer, r) => pending.push({ peer, r }),
    flush(uptoMs) {
      const ready = pending.filter((x) => x.r.atMs <= uptoMs).sort((a, b) => a.r.atMs - b.r.atMs);
      pending = pending.filter((x) => x.r.atMs > uptoMs);
      for (const x of ready) take(x.peer, x.r);
    },
    start(at) {
      t0 = at;
    },
    points: () => [...points],
  };
}

/** The run's numbers from the peers' last reports, by profile name. */
function summarise(
  scenario: Scenario,
  strategy: StrategyName,
  curve: readonly CurvePoint[],
  peers: readonly LivePeer[],
  kernelShaped: boolean,
): Omit<StrategyRun, 'wallS'> {
  const snaps = peers.map((p) => p.snapshot());
  const nameOf = new Map<string, string>();
  snaps.forEach((s, i) => {
    const name = scenario.peers[i]?.name;
    if (s.id !== undefined && name !== undefined) nameOf.set(s.id, name);
  });
  const links: LinkBytes[] = [];
  const steps: Record<string, number> = {};
  let kept = 0;
  let rolledBack = 0;
  snaps.forEach((s, i) => {
    const from = scenario.peers[i]?.name ?? `peer${i}`;
    steps[from] = s.status?.step ?? 0;
    kept += s.merges.kept;
    rolledBack += s.merges.rolledBack;
    // A status lists the links open now: one that closed during the run is missing here.
    for (const l of s.status?.links ?? []) {
      links.push({
        from,
        to: nameOf.get(l.to) ?? l.to,
        bytesSent: l.bytesSent,
        sentFraction: l.sentFraction,
        estimatedMbps: (l.bandwidthBps * 8) / 1e6,
        ...capOf(l.capBps, kernelShaped ? uplinkAtEnd(scenario, i) : undefined),
      });
    }
  });
  return {
    strategy,
    curve,
    bytesSent: links.reduce((sum, l) => sum + l.bytesSent, 0),
    links,
    steps,
    merges: { kept, rolledBack },
  };
}
