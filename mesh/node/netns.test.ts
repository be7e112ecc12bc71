/**
 * Real links, not our shaper: two Node peers (run-peer.ts, real WebRTC, real training), each in
 * its own network namespace, joined by veths through a bridge, each uplink shaped by the
 * kernel's token bucket (tc tbf), the app's shaper off. The signaling server runs in the hub
 * namespace. Each peer's estimate of its link must land within 20% of its uplink's kernel rate
 * and stay there. Skipped, with the reason, where namespaces cannot be made (not root).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createNetnsTopology, type NetnsTopology, netnsUnavailable } from './netns';

const unavailable = netnsUnavailable();
if (unavailable !== undefined) console.warn(`netns tests skipped: ${unavailable}`);

interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

const started: Proc[] = [];
let topology: NetnsTopology | undefined;

function run(argv: readonly string[]): Proc {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 5000) lines.splice(0, 1000);
  };
  createInterface({ input: child.stdout! }).on('line', keep);
  createInterface({ input: child.stderr! }).on('line', (l) => keep(`stderr: ${l}`));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const p = { child, lines, exited };
  started.push(p);
  return p;
}

afterEach(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await Promise.all(started.map((p) => p.exited));
  started.length = 0;
  topology?.close();
  topology = undefined;
});

/** The estimates (bits/s) of peer `p`'s one link, from its status events, oldest first. */
function estimates(p: Proc): number[] {
  const out: number[] = [];
  for (const line of p.lines) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as {
      type?: string;
      status?: { links?: { bandwidthBps: number }[] };
    };
    const link = e.type === 'status' ? e.status?.links?.[0] : undefined;
    if (link !== undefined) out.push(link.bandwidthBps * 8);
  }
  return out;
}

/** vi.waitFor on a boolean condition, with what is still missing in the message. */
const waitUntil = (what: string, ok: () => boolean, timeoutMs: number, explain: () => string) =>
  vi.waitFor(
    () => {
      if (!ok()) throw new Error(`timed out waiting for ${what}\n${explain()}`);
    },
    { timeout: timeoutMs, interval: 500 },
  );

/**
 * Starts the server in the hub and one peer per uplink rate; waits until every peer's last
 * `settled` reports all read within `tol` of its rate; returns the estimates.
 */
async function measure(uplinksBps: readonly number[], tol: number, settled: number) {
  const net = createNetnsTopology(uplinksBps.map((uplinkBps) => ({ uplinkBps })));
  topology = net;
  for (const [i, bps] of uplinksBps.entries()) {
    expect(net.qdisc(i)).toContain(`rate ${bps / 1e6}Mbit`);
  }
  const port = 8080;
  const server = run(
    net.wrap(-1, [
      process.execPath,
      'bin/dlion.mjs',
      'serve',
      '--host',
      net.hubAddress,
      '--port',
      String(port),
    ]),
  );
  await waitUntil(
    'the server',
    () => server.lines.some((l) => l.includes('websocket')),
    30_000,
    () => server.lines.join('\n'),
  );
  const room = `ns${Math.random().toString(36).slice(2, 8)}`;
  const peers = uplinksBps.map((_, i) =>
    run(
      net.wrap(i, [
        process.execPath,
        '--import',
        'tsx',
        'mesh/node/run-peer.ts',
        '--server',
        `http://${net.hubAddress}:${port}`,
        '--room',
        room,
        '--name',
        `ns${i}`,
        '--events',
        'status,exit',
      ]),
    ),
  );
  const close = (bps: number, rate: number) => Math.abs(bps - rate) / rate <= tol;
  const report = () =>
    peers
      .map(
        (p, i) =>
          `peer ${i} (uplink ${uplinksBps[i]! / 1e6} Mbit/s): ${estimates(p)
            .map((b) => (b / 1e6).toFixed(2))
            .join(' ')}\n${p.lines
            .filter((l) => l.startsWith('stderr'))
            .slice(-10)
            .join('\n')}`,
      )
      .join('\n');
  await waitUntil(
    `every estimate within ${tol * 100}% of its kernel rate for ${settled} reports`,
    () =>
      peers.every((p, i) => {
        const e = estimates(p);
        return e.length >= settled && e.slice(-settled).every((b) => close(b, uplinksBps[i]!));
      }),
    150_000,
    report,
  );
  const out = peers.map((p) => estimates(p));
  console.log(`netns estimates (Mbit/s):\n${report()}`);
  return out;
}

describe.skipIf(unavailable !== undefined)('estimates on kernel-shaped links (tc tbf)', () => {
  it('two peers with 2 and 4 Mbit/s uplinks each read their own rate within 20%', async () => {
    const [a, b] = await measure([2e6, 4e6], 0.2, 4);
    expect(a!.length).toBeGreaterThanOrEqual(4);
    expect(b!.length).toBeGreaterThanOrEqual(4);
  }, 200_000);

  it('two peers with 20 Mbit/s uplinks read 20 Mbit/s within 20%', async () => {
    await measure([20e6, 20e6], 0.2, 4);
  }, 200_000);
});
