/**
 * One peer of a live run as a Node process: mesh/node/run-peer.ts with the scenario's
 * profile and the room config as flags, its JSON event lines read from stdout, its emulation
 * changed by JSON lines on stdin, its stderr kept in the log folder.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parsePeerStatus } from '../../core';
import type { SiteLinks } from '../../mesh';
import {
  EMPTY_SNAPSHOT,
  type EmulationChange,
  fileSafe,
  type LivePeer,
  type PeerSnapshot,
  settlesWithin,
  type TestReport,
} from './live-peer';
import type { PeerProfile } from './types';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_PEER = fileURLToPath(new URL('../../mesh/node/run-peer.ts', import.meta.url));
const EVENTS = 'evaluation,status,merge,phase,joined';
/** After {"close":true}: time to say bye on every link and leave the room. */
const CLOSE_GRACE_MS = 5000;
const TERM_GRACE_MS = 3000;

/** Every peer process this module started and that has not exited yet. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Whatever ends the runner's process (an uncaught error, process.exit), no peer outlives it.
 * Installed once, on the first spawn; SIGINT from a terminal reaches the peers on its own
 * (they share the foreground process group) and closes them.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export interface NodePeerOptions {
  readonly profile: PeerProfile;
  readonly serverUrl: string;
  readonly room: string;
  /** The room config (roomConfigFor): every peer carries it, the first to join creates the room. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly testEveryS: number;
  readonly testSamples: number;
  /** Where stderr goes: `${logPrefix}-${name}.stderr.log` in logDir. */
  readonly logDir: string;
  readonly logPrefix: string;
  readonly onTest: (report: TestReport) => void;
  /** Caps and latency by site pair (the scenario's siteLinks). */
  readonly siteLinks?: SiteLinks | undefined;
  /** Rewrites the command line (e.g. to run it in a network namespace). */
  readonly wrap?: ((argv: readonly string[]) => string[]) | undefined;
  /** The kernel shapes this peer's uplink: the app's shaper stays off (no --uplink-mbps). */
  readonly kernelShaped?: boolean | undefined;
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Spawns the peer; it joins at once. */
export function startNodePeer(o: NodePeerOptions): LivePeer {
  installExitHook();
  const p = o.profile;
  const args = [
    '--import',
    'tsx',
    RUN_PEER,
    '--server',
    o.serverUrl,
    '--room',
    o.room,
    '--name',
    p.name,
    '--config',
    JSON.stringify(o.config),
    '--slowdown',
    String(p.slowdown),
    '--test-every-s',
    String(o.testEveryS),
    '--test-samples',
    String(o.testSamples),
    '--events',
    EVENTS,
  ];
  if (p.uplinkMbps !== undefined && o.kernelShaped !== true) {
    args.push('--uplink-mbps', String(p.uplinkMbps));
  }
  if (p.latencyMs !== undefined) args.push('--latency-ms', String(p.latencyMs));
  if (p.site !== undefined) args.push('--site', p.site);
  if (o.siteLinks !== undefined) args.push('--site-links', JSON.stringify(o.siteLinks));
  // `node --import tsx` rather than `npx tsx`: one process per peer, so its pid is the peer.
  // `ip netns exec` execs the command in place: the pid is still the peer's.
  const argv =
    o.wrap === undefined ? [process.execPath, ...args] : o.wrap([process.execPath, ...args]);
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const stderrLog = createWriteStream(
    join(o.logDir, `${fileSafe(o.logPrefix)}-${fileSafe(p.name)}.stderr.log`),
  );

  let snap: PeerSnapshot = EMPTY_SNAPSHOT;
  let exitText: string | undefined;
  let badLines = 0;
  const exited = new Promise<void>((resolve) => {
    const ended = (text: string) => {
      exitText ??= text;
      running.delete(child);
      stderrLog.end();
      resolve();
    };
    child.once('exit', (code, signal) =>
      ended(`its process exited (code ${code ?? 'none'}${signal ? `, ${signal}` : ''})`),
    );
    // Emitted when the process could not be started at all (then 'exit' may never come).
    child.once('error', (e) => ended(`its process failed: ${e.message}`));
  });
  // A peer that exits early closes its stdin; the write error that follows is not ours to throw.
  child.stdin?.on('error', () => {});
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (l) => stderrLog.write(`${l}\n`));
  }

  const onLine = (line: string) => {
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      badLines++;
      return;
    }
    if (!isRecord(event)) {
      badLines++;
      return;
    }
    switch (event.type) {
      case 'phase':
        snap = {
          ...snap,
          phase: String(event.phase),
          detail: typeof event.detail === 'string' ? event.detail : '',
        };
        break;
      case 'joined':
        if (typeof event.peerId === 'string') snap = { ...snap, id: event.peerId };
        break;
      case 'status': {
        const status = parsePeerStatus(event.status);
        if (status.ok) snap = { ...snap, status: status.value };
        else badLines++;
        break;
      }
      case 'merge': {
        const m = event.merge;
        if (!isRecord(m) || typeof m.rolledBack !== 'boolean') {
          badLines++;
          break;
        }
        const { kept, rolledBack } = snap.merges;
        snap = {
          ...snap,
          merges: m.rolledBack
            ? { kept, rolledBack: rolledBack + 1 }
            : { kept: kept + 1, rolledBack },
        };
        break;
      }
      case 'evaluation':
        if (event.split !== 'test') break;
        if (finite(event.accuracy) && finite(event.step)) {
          o.onTest({ accuracy: event.accuracy, step: event.step, atMs: performance.now() });
        } else badLines++;
        break;
      default:
        break;
    }
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);

  const send = (line: Record<string, unknown>) => {
    if (child.stdin?.writable) child.stdin.write(`${JSON.stringify(line)}\n`);
  };

  let stopping: Promise<string> | undefined;
  const stop = async (): Promise<string> => {
    if (exitText !== undefined) return `had stopped: ${exitText}`;
    send({ close: true });
    if (await settlesWithin(exited, CLOSE_GRACE_MS)) return 'closed';
    child.kill('SIGTERM');
    if (await settlesWithin(exited, TERM_GRACE_MS)) return 'SIGTERM';
    child.kill('SIGKILL');
    await exited;
    return 'SIGKILL';
  };

  return {
    profile: p,
    snapshot: () => snap,
    failure: () => {
      if (exitText === undefined) return undefined;
      const bad = badLines > 0 ? `; ${badLines} unreadable stdout lines` : '';
      return `${exitText}${bad}`;
    },
    poll: async () => {},
    apply: async (change: EmulationChange) => {
      send({
        ...(change.slowdown === undefined ? {} : { slowdown: change.slowdown }),
        ...(change.uplinkMbps === undefined ? {} : { uplinkBps: change.uplinkMbps * 1e6 }),
      });
    },
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
