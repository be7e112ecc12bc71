/**
 * Mesh benchmark: DLion against the synchronous baseline (and any other strategy) on three
 * real Node peers (mesh/node/run-peer.ts, one process each, WebRTC over loopback), with both
 * kinds of heterogeneity present: uplink caps of 2, 10 and 40 Mbit/s (run-peer's --uplink-mbps,
 * which caps each outgoing link of the peer), and the 10 Mbit/s peer slowed 4x. Measures
 * steps/s per peer and for the mesh, bytes per step on every link and the final validation
 * accuracy, over a fixed window that opens once every peer trains with 2 links and the step
 * counters have come together (plus a short settle). Peer logs and raw event streams land in
 * --log-dir.
 *
 *   npm run bench:mesh                                        # dlion then bsp, 60 s each
 *   npm run bench:mesh -- --seconds 30 --strategies dlion,bsp,hop --out mesh.json
 *   npm run bench:mesh -- --config '{"model":"cnn"}'          # extra room config fields
 *
 * Strategies run one after the other, each in a fresh room on a fresh signaling server: the
 * peers share the machine's cores, so two rooms at once would measure each other.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type PeerStatus, parsePeerStatus, STRATEGIES, type StrategyName } from '../core';
import { type SignalingServer, startSignalingServer } from '../signaling/server';

// ---- arguments ----------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    strategies: { type: 'string', default: 'dlion,bsp' },
    seconds: { type: 'string', default: '60' },
    out: { type: 'string' },
    /** Extra room config fields (JSON), the strategy aside. */
    config: { type: 'string' },
    /** Give up on a strategy whose peers are not all training with 2 links by then. */
    'warmup-timeout': { type: 'string', default: '240' },
    /** Seconds of training after warm-up that are not measured (tfjs kernels, first WDB round). */
    settle: { type: 'string', default: '10' },
    /** Warm-up also waits until the peers' step counters are this close (see runStrategy). */
    'align-steps': { type: 'string', default: '3' },
    /** How long, once linked, to wait for that before measuring anyway (flagged). */
    'align-timeout': { type: 'string', default: '600' },
    /** Where the peers' stderr goes; default a fresh folder under the OS temp dir. */
    'log-dir': { type: 'string' },
  },
});

class BenchError extends Error {
  override name = 'BenchError';
}

/** Bad command-line input: said once, plainly, with exit code 2. */
const usage = (message: string): never => {
  process.stderr.write(`mesh-compare: ${message}\n`);
  process.exit(2);
};

const positive = (name: string, text: string, min: number): number => {
  const n = Number(text);
  return !Number.isFinite(n) || n < min ? usage(`--${name} must be a number >= ${min}`) : n;
};

const isStrategy = (s: string): s is StrategyName => (STRATEGIES as readonly string[]).includes(s);

const strategies = args.strategies.split(',').map((s) => {
  const name = s.trim();
  return isStrategy(name)
    ? name
    : usage(`unknown strategy '${name}'; one of ${STRATEGIES.join(', ')}`);
});
const windowSec = positive('seconds', args.seconds, 1);
const warmupTimeoutSec = positive('warmup-timeout', args['warmup-timeout'], 1);
const settleSec = positive('settle', args.settle, 0);
const alignSteps = positive('align-steps', args['align-steps'], 0);
const alignTimeoutSec = positive('align-timeout', args['align-timeout'], 0);
let extraConfig: Record<string, unknown> = {};
if (args.config !== undefined) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args.config);
  } catch {
    usage('--config must be JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    usage('--config must be a JSON object');
  }
  extraConfig = parsed as Record<string, unknown>;
}
const logDir = args['log-dir'] ?? mkdtempSync(join(tmpdir(), 'mesh-compare-'));
mkdirSync(logDir, { recursive: true });

/** The command as typed, for the report (single-quoted where the shell would need it). */
const command = [
  'npx tsx bench/mesh-compare.ts',
  ...process.argv
    .slice(2)
    .map((a) => (/^[\w./,:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)),
].join(' ');

// ---- the three peers ------------------------------------------------------------------------

interface Profile {
  /** Also the peer's display name, so links read `2M->10M`. */
  readonly name: string;
  readonly uplinkMbps: number;
  readonly slowdown: number;
}

const PROFILES: readonly Profile[] = [
  { name: '2M', uplinkMbps: 2, slowdown: 1 },
  { name: '10M', uplinkMbps: 10, slowdown: 4 },
  { name: '40M', uplinkMbps: 40, slowdown: 1 },
];

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const runPeer = fileURLToPath(new URL('../mesh/node/run-peer.ts', import.meta.url));
const EVENTS = 'step,phase,evaluation,peer-left,refused';
const POLL_MS = 1000;
const PROGRESS_EVERY_MS = 10_000;
const CLOSE_GRACE_MS = 10_000;
const TERM_GRACE_MS = 5_000;
const STDERR_TAIL = 20;

const progress = (line: string) => process.stderr.write(`[mesh-compare] ${line}\n`);

/** One step event, stamped with this process's clock when it arrived. */
interface StepSample {
  readonly step: number;
  readonly batchSize: number;
  readonly computeMs: number;
  readonly iterationMs: number;
  readonly receivedMs: number;
}

type ExitHow = 'close' | 'sigterm' | 'sigkill' | 'early';

interface PeerProcess {
  readonly profile: Profile;
  readonly child: ChildProcess;
  readonly phases: string[];
  readonly steps: StepSample[];
  lastEvaluation?: { step: number; loss: number; accuracy: number };
  /** The run-peer's last line: {type:'exit', phase, refusals, status}. */
  exitEvent?: Record<string, unknown>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly exited: Promise<void>;
  readonly stderrTail: string[];
  warnLines: number;
  errorLines: number;
  /** stdout lines that were not JSON objects: counted and dropped. */
  badLines: number;
  refusals: number;
  peerLeft: string[];
}

const children = new Set<ChildProcess>();

function startPeer(
  profile: Profile,
  serverUrl: string,
  room: string,
  strategy: string,
): PeerProcess {
  const config = JSON.stringify({ ...extraConfig, strategy });
  // `node --import tsx` rather than `npx tsx`: one process per peer, so its pid is the peer.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      runPeer,
      '--server',
      serverUrl,
      '--room',
      room,
      '--name',
      profile.name,
      // Every peer carries the config: whichever joins first creates the room with it.
      '--config',
      config,
      '--slowdown',
      String(profile.slowdown),
      '--uplink-mbps',
      String(profile.uplinkMbps),
      '--events',
      EVENTS,
    ],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  const log: WriteStream = createWriteStream(
    join(logDir, `${strategy}-${profile.name}.stderr.log`),
  );
  // The raw event stream too, stamped on arrival: the timeline behind every number reported.
  const events: WriteStream = createWriteStream(
    join(logDir, `${strategy}-${profile.name}.events.jsonl`),
  );
  const peer: PeerProcess = {
    profile,
    child,
    phases: [],
    steps: [],
    exited: new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        peer.exit = { code, signal };
        children.delete(child);
        log.end();
        events.end();
        resolve();
      });
    }),
    stderrTail: [],
    warnLines: 0,
    errorLines: 0,
    badLines: 0,
    refusals: 0,
    peerLeft: [],
  };
  // A peer that exits early closes its stdin pipe; the write error is not ours to throw.
  child.stdin!.on('error', () => {});
  createInterface({ input: child.stdout! }).on('line', (line) => {
    events.write(`{"receivedMs":${performance.now().toFixed(1)},"line":${JSON.stringify(line)}}\n`);
    onStdout(peer, strategy, line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    log.write(`${line}\n`);
    peer.stderrTail.push(line);
    if (peer.stderrTail.length > STDERR_TAIL) peer.stderrTail.shift();
    if (line.includes('"level":"warn"')) peer.warnLines++;
    if (line.includes('"level":"error"')) peer.errorLines++;
  });
  return peer;
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const numberOr = (x: unknown, fallback: number): number =>
  typeof x === 'number' && Number.isFinite(x) ? x : fallback;

function onStdout(peer: PeerProcess, strategy: string, line: string): void {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    peer.badLines++;
    return;
  }
  if (!isRecord(event)) {
    peer.badLines++;
    return;
  }
  const tag = `[${strategy}] ${peer.profile.name}`;
  switch (event.type) {
    case 'step':
      peer.steps.push({
        step: numberOr(event.step, Number.NaN),
        batchSize: numberOr(event.batchSize, Number.NaN),
        computeMs: numberOr(event.computeMs, Number.NaN),
        iterationMs: numberOr(event.iterationMs, Number.NaN),
        receivedMs: performance.now(),
      });
      break;
    case 'phase':
      peer.phases.push(String(event.phase));
      progress(
        `${tag}: phase ${String(event.phase)}${event.detail ? ` (${String(event.detail)})` : ''}`,
      );
      break;
    case 'evaluation':
      peer.lastEvaluation = {
        step: numberOr(event.step, Number.NaN),
        loss: numberOr(event.loss, Number.NaN),
        accuracy: numberOr(event.accuracy, Number.NaN),
      };
      break;
    case 'peer-left':
      peer.peerLeft.push(`${String(event.peerId)}: ${String(event.reason)}`);
      progress(`${tag}: peer ${String(event.peerId)} left (${String(event.reason)})`);
      break;
    case 'refused':
      peer.refusals++;
      break;
    case 'exit':
      peer.exitEvent = event;
      break;
    default:
      break;
  }
}

/** Closes a peer the polite way first: stdin {"close":true}, then SIGTERM, then SIGKILL. */
async function stopPeer(peer: PeerProcess): Promise<ExitHow> {
  if (peer.exit) return 'early';
  peer.child.stdin!.write('{"close":true}\n');
  if (await exitsWithin(peer, CLOSE_GRACE_MS)) return 'close';
  peer.child.kill('SIGTERM');
  if (await exitsWithin(peer, TERM_GRACE_MS)) return 'sigterm';
  peer.child.kill('SIGKILL');
  await peer.exited;
  return 'sigkill';
}

async function exitsWithin(peer: PeerProcess, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([peer.exited.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

// Whatever ends this process, no peer outlives it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${signal}: stopping the peers`);
    for (const child of children) child.kill('SIGTERM');
    // The peers get a moment to leave their rooms; the exit handler kills what is left.
    setTimeout(() => process.exit(130), 3000).unref();
    void Promise.all([...children].map((c) => new Promise((r) => c.once('exit', r)))).then(() =>
      process.exit(130),
    );
  });
}

// ---- the room, as the API shows it ----------------------------------------------------------

interface RoomView {
  readonly atMs: number;
  /** Peers that have posted a status, by name. */
  readonly byName: ReadonlyMap<string, PeerStatus>;
  readonly nameOf: ReadonlyMap<string, string>;
  readonly peerCount: number;
}

async function viewRoom(serverUrl: string, room: string): Promise<RoomView | undefined> {
  const atMs = performance.now();
  let body: unknown;
  try {
    const res = await fetch(`${serverUrl}/api/rooms/${encodeURIComponent(room)}`);
    if (!res.ok) return undefined;
    body = await res.json();
  } catch {
    return undefined;
  }
  if (!isRecord(body) || !Array.isArray(body.peers)) return undefined;
  const byName = new Map<string, PeerStatus>();
  const nameOf = new Map<string, string>();
  for (const entry of body.peers) {
    // Entries without a live status are the bare PeerInfo: they count, but carry no numbers.
    if (isRecord(entry) && typeof entry.id === 'string' && typeof entry.name === 'string') {
      nameOf.set(entry.id, entry.name);
    }
    const status = parsePeerStatus(entry);
    if (status.ok) byName.set(status.value.name, status.value);
  }
  return { atMs, byName, nameOf, peerCount: body.peers.length };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- one strategy -----------------------------------------------------------------------------

interface PeerResult {
  name: string;
  uplinkMbps: number;
  slowdown: number;
  /** From the peer's own step events, over the window. */
  stepsPerSec: number;
  /** From the API's step counters (posted every second), as a cross-check. */
  apiStepsPerSec: number;
  samplesPerSec: number;
  meanBatch: number;
  meanComputeMs: number;
  meanIterationMs: number;
  /** Longest wait between two step events inside the window: a stall shows here. */
  maxStepGapMs: number;
  stepAtEnd: number;
  valAccuracy: number | null;
  valLoss: number | null;
  capacity: number | null;
  warnLines: number;
  errorLines: number;
  refusals: number;
  badStdoutLines: number;
  exit: string;
  stderrTail?: string[];
}

interface LinkResult {
  label: string;
  bytesSent: number;
  senderSteps: number;
  bytesPerStep: number;
  /** The sender's measured delivery rate at the end, in Mbit/s. */
  measuredMbps: number;
  sentFraction: number;
}

interface StrategyResult {
  strategy: StrategyName;
  room: string;
  ok: boolean;
  error?: string;
  config?: unknown;
  /** Seconds from spawning the peers until all trained with 2 links each. */
  linkedSec: number;
  /** Until, in addition, their step counters were within alignSteps. */
  warmupSec: number;
  windowSec: number;
  /** Whether the step counters came within alignSteps before the window opened. */
  aligned: boolean;
  /** Seconds from spawning the peers to the end of the window: how long the model trained. */
  trainedSec: number;
  /** Largest minus smallest step counter when the window opened and when it closed. */
  stepSpreadAtStart: number;
  stepSpreadAtEnd: number;
  /** 1-minute load average when the window opened and closed (own peers included): on a shared
   * machine, anything well above the 3 peers' share says other work was competing. */
  loadAvgAtStart: number;
  loadAvgAtEnd: number;
  /** Mean of the peers' step rates: global steps (one step of every peer) per second. */
  meshStepsPerSec: number;
  /** Training samples per second summed over the peers. */
  meshSamplesPerSec: number;
  meanValAccuracy: number | null;
  peers: PeerResult[];
  links: LinkResult[];
  logDir: string;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** Last step number seen at or before `ms`, or NaN. */
function stepAt(peer: PeerProcess, ms: number): number {
  let last = Number.NaN;
  for (const s of peer.steps) {
    if (s.receivedMs > ms) break;
    last = s.step;
  }
  return last;
}

/** Largest minus smallest latest step counter; NaN until every peer has stepped. */
function stepSpread(peers: readonly PeerProcess[]): number {
  const steps = peers.map((p) => p.steps.at(-1)?.step ?? Number.NaN);
  return Math.max(...steps) - Math.min(...steps);
}

async function runStrategy(strategy: StrategyName): Promise<StrategyResult> {
  const room = `bench-${strategy}-${Date.now().toString(36)}`;
  const server: SignalingServer = await startSignalingServer({
    port: 0,
    host: '127.0.0.1',
    log: () => {},
  });
  progress(`[${strategy}] server ${server.url}, room ${room}, peer logs in ${logDir}`);
  const startedMs = performance.now();
  const peers = PROFILES.map((p) => startPeer(p, server.url, room, strategy));
  const result: StrategyResult = {
    strategy,
    room,
    ok: false,
    linkedSec: Number.NaN,
    aligned: false,
    trainedSec: Number.NaN,
    warmupSec: Number.NaN,
    windowSec: Number.NaN,
    stepSpreadAtStart: Number.NaN,
    stepSpreadAtEnd: Number.NaN,
    loadAvgAtStart: Number.NaN,
    loadAvgAtEnd: Number.NaN,
    meshStepsPerSec: Number.NaN,
    meshSamplesPerSec: Number.NaN,
    meanValAccuracy: null,
    peers: [],
    links: [],
    logDir,
  };
  const exits = new Map<string, ExitHow>();
  try {
    const dead = () => peers.find((p) => p.exit !== undefined || p.phases.includes('failed'));

    // Warm-up, two stages. Linked: every peer training, and every peer's status listing its 2
    // links. Aligned: the peers' step counters within --align-steps of each other. The second
    // stage exists because the room's creator trains alone until the others' links are up and
    // they join at an earlier step; until they catch up, the creator waits at the gate, and a
    // window that opens then measures that catch-up rather than the strategy.
    const linkDeadline = startedMs + warmupTimeoutSec * 1000;
    let alignDeadline = Number.POSITIVE_INFINITY;
    let lastProgress = startedMs;
    let stage: 'linked' | 'aligned' = 'linked';
    for (;;) {
      const gone = dead();
      if (gone) throw new BenchError(`peer ${gone.profile.name} stopped during warm-up`);
      const view = await viewRoom(server.url, room);
      const now = performance.now();
      if (stage === 'linked') {
        const linked =
          view !== undefined &&
          peers.every(
            (p) =>
              p.phases.includes('training') &&
              (view.byName.get(p.profile.name)?.links.length ?? 0) >= PROFILES.length - 1,
          );
        if (linked) {
          result.linkedSec = (now - startedMs) / 1000;
          result.config = (await fetchConfig(server.url, room)) ?? null;
          progress(`[${strategy}] all linked after ${result.linkedSec.toFixed(1)} s`);
          stage = 'aligned';
          alignDeadline = now + alignTimeoutSec * 1000;
        }
      }
      if (stage === 'aligned' && stepSpread(peers) <= alignSteps) {
        result.aligned = true;
        break;
      }
      const state = () =>
        peers
          .map((p) => {
            const links = view?.byName.get(p.profile.name)?.links.length;
            return `${p.profile.name}: phases ${p.phases.join('>') || 'none'}, links ${links ?? 'no status'}, step ${p.steps.at(-1)?.step ?? '-'}`;
          })
          .join('; ');
      if (stage === 'linked' && now > linkDeadline) {
        throw new BenchError(
          `warm-up: the peers were not all training with 2 links within ${warmupTimeoutSec} s (${state()})`,
        );
      }
      // Not aligned in time: measure anyway, flagged, so that the numbers show what happened.
      if (stage === 'aligned' && now > alignDeadline) {
        progress(
          `[${strategy}] WARNING: step counters not within ${alignSteps} after ${alignTimeoutSec} s more; measuring anyway (${state()})`,
        );
        break;
      }
      if (now - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = now;
        progress(
          `[${strategy}] warming up ${((now - startedMs) / 1000).toFixed(0)} s, waiting until ${stage}: ${state()}`,
        );
      }
      await sleep(POLL_MS);
    }
    result.warmupSec = (performance.now() - startedMs) / 1000;
    progress(
      `[${strategy}] warm-up done after ${result.warmupSec.toFixed(1)} s (steps ${peers.map((p) => p.steps.at(-1)?.step).join('/')}); settling ${settleSec} s`,
    );
    await sleep(settleSec * 1000);

    // The window.
    const before = await viewRoom(server.url, room);
    if (!before) throw new BenchError('the room vanished from the API before the window');
    const t0 = performance.now();
    const step0 = peers.map((p) => stepAt(p, t0));
    result.stepSpreadAtStart = stepSpread(peers);
    result.loadAvgAtStart = loadavg()[0] ?? Number.NaN;
    progress(`[${strategy}] measuring ${windowSec} s`);
    let nextProgress = t0 + PROGRESS_EVERY_MS;
    while (performance.now() < t0 + windowSec * 1000) {
      const gone = dead();
      if (gone) throw new BenchError(`peer ${gone.profile.name} stopped during the window`);
      await sleep(Math.min(POLL_MS, Math.max(0, t0 + windowSec * 1000 - performance.now())));
      const now = performance.now();
      if (now >= nextProgress) {
        nextProgress += PROGRESS_EVERY_MS;
        const sec = (now - t0) / 1000;
        progress(
          `[${strategy}] ${sec.toFixed(0)}/${windowSec} s: ${peers
            .map((p, i) => {
              const s = stepAt(p, now);
              return `${p.profile.name} step ${s} (${((s - (step0[i] ?? Number.NaN)) / sec).toFixed(2)}/s)`;
            })
            .join(', ')}`,
        );
      }
    }
    const t1 = performance.now();
    const after = await viewRoom(server.url, room);
    if (!after) throw new BenchError('the room vanished from the API after the window');
    result.windowSec = (t1 - t0) / 1000;
    result.stepSpreadAtEnd = stepSpread(peers);
    result.trainedSec = (t1 - startedMs) / 1000;
    result.loadAvgAtEnd = loadavg()[0] ?? Number.NaN;

    result.peers = peers.map((p, i) => {
      const inWindow = p.steps.filter((s) => s.receivedMs > t0 && s.receivedMs <= t1);
      const s1 = stepAt(p, t1);
      let maxGap = 0;
      let prev = t0;
      for (const s of inWindow) {
        maxGap = Math.max(maxGap, s.receivedMs - prev);
        prev = s.receivedMs;
      }
      maxGap = Math.max(maxGap, t1 - prev);
      const a = before.byName.get(p.profile.name);
      const b = after.byName.get(p.profile.name);
      const apiSec = (after.atMs - before.atMs) / 1000;
      return {
        name: p.profile.name,
        uplinkMbps: p.profile.uplinkMbps,
        slowdown: p.profile.slowdown,
        stepsPerSec: (s1 - (step0[i] ?? Number.NaN)) / result.windowSec,
        apiStepsPerSec: a && b ? (b.step - a.step) / apiSec : Number.NaN,
        samplesPerSec: inWindow.reduce((sum, s) => sum + s.batchSize, 0) / result.windowSec,
        meanBatch: mean(inWindow.map((s) => s.batchSize)),
        meanComputeMs: mean(inWindow.map((s) => s.computeMs)),
        meanIterationMs: mean(inWindow.map((s) => s.iterationMs)),
        maxStepGapMs: maxGap,
        stepAtEnd: s1,
        valAccuracy: b?.valAccuracy ?? p.lastEvaluation?.accuracy ?? null,
        valLoss: b?.loss ?? p.lastEvaluation?.loss ?? null,
        capacity: b?.capacity ?? null,
        warnLines: 0,
        errorLines: 0,
        refusals: 0,
        badStdoutLines: 0,
        exit: '',
      };
    });
    result.links = linkResults(before, after);
    result.meshStepsPerSec = mean(result.peers.map((p) => p.stepsPerSec));
    result.meshSamplesPerSec = result.peers.reduce((s, p) => s + p.samplesPerSec, 0);
    const accuracies = result.peers.flatMap((p) => (p.valAccuracy === null ? [] : [p.valAccuracy]));
    result.meanValAccuracy = accuracies.length === 0 ? null : mean(accuracies);
    result.ok = true;
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    progress(`[${strategy}] FAILED: ${result.error}`);
  } finally {
    progress(`[${strategy}] closing the peers`);
    const how = await Promise.all(peers.map((p) => stopPeer(p)));
    for (const [i, p] of peers.entries()) exits.set(p.profile.name, how[i] ?? 'early');
    await server.close();
  }

  // What the peers said on the way out; their stderr tails where something went wrong.
  if (result.peers.length === 0) {
    result.peers = peers.map((p) => ({
      name: p.profile.name,
      uplinkMbps: p.profile.uplinkMbps,
      slowdown: p.profile.slowdown,
      stepsPerSec: Number.NaN,
      apiStepsPerSec: Number.NaN,
      samplesPerSec: Number.NaN,
      meanBatch: Number.NaN,
      meanComputeMs: Number.NaN,
      meanIterationMs: Number.NaN,
      maxStepGapMs: Number.NaN,
      stepAtEnd: p.steps.at(-1)?.step ?? Number.NaN,
      valAccuracy: p.lastEvaluation?.accuracy ?? null,
      valLoss: p.lastEvaluation?.loss ?? null,
      capacity: null,
      warnLines: 0,
      errorLines: 0,
      refusals: 0,
      badStdoutLines: 0,
      exit: '',
    }));
  }
  result.peers.forEach((r, i) => {
    const p = peers[i]!;
    r.warnLines = p.warnLines;
    r.errorLines = p.errorLines;
    r.refusals = p.refusals;
    r.badStdoutLines = p.badLines;
    const phase = p.exitEvent?.phase;
    r.exit = `${exits.get(p.profile.name)}, code ${p.exit?.code ?? 'none'}${p.exit?.signal ? ` (${p.exit.signal})` : ''}${typeof phase === 'string' ? `, phase ${phase}` : ''}`;
    const troubled =
      !result.ok || p.errorLines > 0 || exits.get(p.profile.name) !== 'close' || p.exit?.code !== 0;
    if (troubled) r.stderrTail = [...p.stderrTail];
  });
  return result;
}

async function fetchConfig(serverUrl: string, room: string): Promise<unknown> {
  try {
    const res = await fetch(`${serverUrl}/api/rooms/${encodeURIComponent(room)}`);
    const body: unknown = await res.json();
    return isRecord(body) ? body.config : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes per step on each link: its bytesSent delta over the sender's step delta, both from the API. */
function linkResults(before: RoomView, after: RoomView): LinkResult[] {
  const rows: LinkResult[] = [];
  for (const profile of PROFILES) {
    const a = before.byName.get(profile.name);
    const b = after.byName.get(profile.name);
    if (!a || !b) continue;
    const senderSteps = b.step - a.step;
    for (const link of b.links) {
      const earlier = a.links.find((l) => l.to === link.to);
      const bytesSent = link.bytesSent - (earlier?.bytesSent ?? 0);
      rows.push({
        label: `${profile.name}->${after.nameOf.get(link.to) ?? link.to}`,
        bytesSent,
        senderSteps,
        bytesPerStep: senderSteps > 0 ? bytesSent / senderSteps : Number.NaN,
        measuredMbps: (link.bandwidthBps * 8) / 1e6,
        sentFraction: link.sentFraction,
      });
    }
  }
  return rows.sort((x, y) => x.label.localeCompare(y.label, 'en', { numeric: true }));
}

// ---- report -----------------------------------------------------------------------------------

const fmt = (x: number | null, digits = 2): string =>
  x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
const bytes = (x: number): string => {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} MB`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} kB`;
  return `${x.toFixed(0)} B`;
};

function table(rows: readonly (readonly string[])[], indent = ''): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((cell, c) => cell.padEnd(widths[c] ?? 0))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

function report(results: readonly StrategyResult[], ratios: Ratios | undefined): string {
  const out: string[] = [];
  out.push(
    `mesh-compare: 3 Node peers (uplink cap per link 2, 10, 40 Mbit/s; the 10 Mbit/s peer slowed 4x), ${windowSec} s window after warm-up (2 links each, step counters within ${alignSteps}) + ${settleSec} s settle`,
  );
  out.push(
    "mesh steps/s: mean of the peers' step rates; samples/s: summed over the peers; bytes/step: link bytes over the sender's steps",
  );
  out.push('');
  out.push(
    table([
      [
        'strategy',
        'mesh steps/s',
        'samples/s',
        'mean val acc',
        'linked s',
        'warm-up s',
        'step spread start/end',
        'trained s',
        'load 1m start/end',
        'result',
      ],
      ...results.map((r) => [
        r.strategy,
        fmt(r.meshStepsPerSec),
        fmt(r.meshSamplesPerSec, 1),
        fmt(r.meanValAccuracy, 4),
        fmt(r.linkedSec, 1),
        fmt(r.warmupSec, 1),
        `${fmt(r.stepSpreadAtStart, 0)}/${fmt(r.stepSpreadAtEnd, 0)}`,
        fmt(r.trainedSec, 0),
        `${fmt(r.loadAvgAtStart, 1)}/${fmt(r.loadAvgAtEnd, 1)}`,
        r.ok ? (r.aligned ? 'ok' : 'ok, NOT ALIGNED when measured') : `FAILED: ${r.error}`,
      ]),
    ]),
  );
  for (const r of results) {
    out.push('');
    out.push(`${r.strategy}: per peer`);
    out.push(
      table(
        [
          [
            'peer',
            'uplink',
            'slow',
            'steps/s',
            'api steps/s',
            'batch',
            'compute ms',
            'iter ms',
            'max gap ms',
            'val acc',
            'exit',
          ],
          ...r.peers.map((p) => [
            p.name,
            `${p.uplinkMbps}M`,
            `${p.slowdown}x`,
            fmt(p.stepsPerSec),
            fmt(p.apiStepsPerSec),
            fmt(p.meanBatch, 1),
            fmt(p.meanComputeMs, 1),
            fmt(p.meanIterationMs, 1),
            fmt(p.maxStepGapMs, 0),
            fmt(p.valAccuracy, 4),
            p.exit,
          ]),
        ],
        '  ',
      ),
    );
    if (r.links.length > 0) {
      out.push(`${r.strategy}: per link`);
      out.push(
        table(
          [
            [
              'link',
              'bytes/step',
              'bytes in window',
              'sender steps',
              'measured Mbit/s',
              'sent fraction',
            ],
            ...r.links.map((l) => [
              l.label,
              bytes(l.bytesPerStep),
              bytes(l.bytesSent),
              String(l.senderSteps),
              fmt(l.measuredMbps),
              fmt(l.sentFraction, 3),
            ]),
          ],
          '  ',
        ),
      );
    }
  }
  if (ratios) {
    out.push('');
    out.push(
      `ratios dlion/bsp: mesh steps/s ${fmt(ratios.meshStepsPerSec)}x, samples/s ${fmt(ratios.meshSamplesPerSec)}x; per peer steps/s: ${Object.entries(
        ratios.peerStepsPerSec,
      )
        .map(([name, x]) => `${name} ${fmt(x)}x`)
        .join(', ')}`,
    );
  }
  out.push('');
  out.push(`command: ${command}`);
  return out.join('\n');
}

interface Ratios {
  meshStepsPerSec: number;
  meshSamplesPerSec: number;
  peerStepsPerSec: Record<string, number>;
}

function dlionOverBsp(results: readonly StrategyResult[]): Ratios | undefined {
  const d = results.find((r) => r.strategy === 'dlion' && r.ok);
  const b = results.find((r) => r.strategy === 'bsp' && r.ok);
  if (!d || !b) return undefined;
  const peerStepsPerSec: Record<string, number> = {};
  for (const p of d.peers) {
    const q = b.peers.find((x) => x.name === p.name);
    if (q) peerStepsPerSec[p.name] = p.stepsPerSec / q.stepsPerSec;
  }
  return {
    meshStepsPerSec: d.meshStepsPerSec / b.meshStepsPerSec,
    meshSamplesPerSec: d.meshSamplesPerSec / b.meshSamplesPerSec,
    peerStepsPerSec,
  };
}

// ---- main -------------------------------------------------------------------------------------

const startedAt = new Date().toISOString();
const results: StrategyResult[] = [];
for (const strategy of strategies) {
  if (interrupted) break;
  results.push(await runStrategy(strategy));
}
const ratios = dlionOverBsp(results);
console.log(report(results, ratios));

if (args.out !== undefined) {
  const json = {
    bench: 'mesh-compare',
    startedAt,
    command,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
    },
    windowSec,
    settleSec,
    profiles: PROFILES,
    extraConfig,
    results,
    ratiosDlionOverBsp: ratios ?? null,
  };
  // NaN is not JSON: it becomes null, which is what a reader of the file should see.
  writeFileSync(args.out, `${JSON.stringify(json, null, 2)}\n`);
  progress(`wrote ${args.out}`);
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
