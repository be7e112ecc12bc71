/**
 * Test support: a real signaling server in this process and real Node peers, each in its own
 * process (mesh/node/run-peer.ts), talking over real WebRTC. Every process a test starts is
 * stopped by `stopAll`.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { vi } from 'vitest';
import { startSignalingServer } from '../../signaling/server';

export interface ApiLink {
  to: string;
  bandwidthBps: number;
  rttMs: number | null;
  bytesSent: number;
  sentFraction: number;
}

export interface ApiPeer {
  id: string;
  name: string;
  kind: string;
  backend?: string;
  strategy?: string;
  step?: number;
  batchSize?: number;
  weight?: number;
  capacity?: number;
  loss?: number | null;
  valAccuracy?: number | null;
  links?: ApiLink[];
  merges?: unknown[];
}

export interface ApiRoom {
  room: string;
  config: Record<string, unknown>;
  peers: ApiPeer[];
}

export interface TestPeer {
  readonly name: string;
  readonly process: ChildProcess;
  /** Every JSON line the peer printed, oldest first. */
  readonly events: Record<string, unknown>[];
  readonly stderr: string[];
  send(line: Record<string, unknown>): void;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

export interface PeerSpec {
  readonly name: string;
  readonly config?: Record<string, unknown>;
  readonly slowdown?: number;
  readonly uplinkMbps?: number;
  readonly maxSteps?: number;
  readonly events?: string;
  readonly stateDir?: string;
}

export async function startMesh() {
  const server = await startSignalingServer({ port: 0, host: '127.0.0.1', log: () => {} });
  const peers: TestPeer[] = [];
  const room = `t${Math.random().toString(36).slice(2, 10)}`;
  const base = `http://127.0.0.1:${server.port}`;

  const spawnPeer = (spec: PeerSpec, roomName = room): TestPeer => {
    const args = ['--import', 'tsx', 'mesh/node/run-peer.ts', '--server', base, '--room', roomName];
    args.push('--name', spec.name);
    if (spec.config) args.push('--config', JSON.stringify(spec.config));
    if (spec.slowdown !== undefined) args.push('--slowdown', String(spec.slowdown));
    if (spec.uplinkMbps !== undefined) args.push('--uplink-mbps', String(spec.uplinkMbps));
    if (spec.maxSteps !== undefined) args.push('--max-steps', String(spec.maxSteps));
    if (spec.stateDir !== undefined) args.push('--state-dir', spec.stateDir);
    args.push('--events', spec.events ?? 'phase,joined,peer-left,refused,merge,evaluation,exit');
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const events: Record<string, unknown>[] = [];
    const stderr: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        stderr.push(`stdout: ${line}`);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 2000) stderr.shift();
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    const peer: TestPeer = {
      name: spec.name,
      process: child,
      events,
      stderr,
      send: (line) => {
        if (child.stdin?.writable) child.stdin.write(`${JSON.stringify(line)}\n`);
      },
      exited,
    };
    peers.push(peer);
    return peer;
  };

  const api = async (roomName = room): Promise<ApiRoom | undefined> => {
    const res = await fetch(`${base}/api/rooms/${roomName}`);
    if (res.status !== 200) return undefined;
    return (await res.json()) as ApiRoom;
  };

  const stopAll = async () => {
    for (const p of peers) if (p.process.exitCode === null) p.process.kill('SIGKILL');
    await Promise.all(peers.map((p) => p.exited));
    await server.close();
  };

  return { server, room, base, peers, spawnPeer, api, stopAll };
}

/**
 * Waits, with vitest's vi.waitFor, until `probe` returns a value that is not undefined, polling
 * every `everyMs`; fails after `timeoutMs` with `explain()` appended to the message. The mesh
 * tests' wait-for-a-condition: no sleeps as synchronisation.
 */
export function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 250,
  explain?: () => unknown,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await probe();
      if (v !== undefined) return v;
      const why = explain === undefined ? '' : `: ${String(explain())}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    },
    { timeout: timeoutMs, interval: everyMs },
  );
}

/** The peers in the API that report a status (a step) and have `links` links each. */
export const linkedPeers = (room: ApiRoom | undefined, links: number): ApiPeer[] =>
  (room?.peers ?? []).filter((p) => p.step !== undefined && (p.links?.length ?? 0) === links);
