/**
 * Signaling benchmark: relay latency (p50, p99) and server memory per connected client at 100,
 * 500 and 1000 WebSocket clients on loopback, for the DLion signaling server and, with the same
 * load shape in the same run, the signaling server shipped in the y-webrtc npm package.
 *
 *   npm run bench:signaling                 # 100, 500 and 1000 clients
 *   npm run bench:signaling -- --quick      # 100 clients only
 *   npm run bench:signaling -- --repeats 1  # one run per row instead of the median of 5
 *   npm run bench:signaling -- --json out.json
 *   npm run bench:signaling -- --federated  # one server alone, and two federated through Redis
 *
 * --federated: relay latency between two peers of one room on one federated server, and on
 * two servers joined through a Redis (Debian's redis-server, started here on a free port),
 * beside a lone server without Redis, at 100 and 1000 clients; and how many signals per
 * second go through Redis between the two servers when every pair sends at once.
 *
 * Each server runs in its own child process (a fresh one per row) so its memory is its own;
 * the clients all live in this process, where latency is send-to-receive on one clock.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PROTOCOL_VERSION } from '../core';
import { startRedis } from '../signaling/redis-test-support';
import { type Peer, type Protocol, withDeadline } from './signaling/clients';
import { dlionProtocol } from './signaling/dlion-client';
import { yWebrtcProtocol } from './signaling/y-webrtc-client';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repeats: { type: 'string', default: '5' },
    json: { type: 'string' },
    federated: { type: 'boolean', default: false },
  },
});

/**
 * Peers per room (DLion) or per topic (y-webrtc): DLion's default room cap (the room config's
 * maxPeers). Even, so the latency pairs (2j, 2j+1) share a room.
 */
const ROOM_SIZE = 16;
/** Measured relays per row, after WARMUP that are not counted. */
const MESSAGES = 2000;
const WARMUP = 200;
/** Senders take turns, so each one sends a message every MAX_PAIRS ms at most: no flood. */
const MAX_PAIRS = 50;
const SEND_INTERVAL_MS = 1;
const CONNECT_CONCURRENCY = 50;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const probe = fileURLToPath(new URL('./signaling/probe.ts', import.meta.url));

// ---- child processes ----------------------------------------------------------------------

const children = new Set<ChildProcess>();
// Whatever happens to this process, no server outlives it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

interface ServerProcess {
  port: number;
  /** process.memoryUsage() of the server, after a full GC. */
  memory(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

/**
 * Starts `entry` under Node with the memory probe preloaded and resolves once a line of its
 * stdout matches `ready` (whose first group is the port).
 */
async function startServer(
  entry: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--import', probe, entry],
    { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => children.delete(child));

  const port = await withDeadline(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = ready.exec(out);
        if (match) resolve(Number(match[1]));
      });
      void exited.then(() => reject(new Error(`${entry} exited before listening:\n${out}`)));
    }),
    30_000,
    `start of ${entry}`,
  );

  return {
    port,
    memory: () =>
      withDeadline(
        new Promise<NodeJS.MemoryUsage>((resolve) => {
          const onMessage = (message: unknown) => {
            if (!isMemoryReply(message)) return;
            child.off('message', onMessage);
            resolve(message.usage);
          };
          child.on('message', onMessage);
          child.send('mem');
        }),
        10_000,
        'memory reply',
      ),
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function isMemoryReply(m: unknown): m is { type: 'mem'; usage: NodeJS.MemoryUsage } {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'mem';
}

/** A port that was free a moment ago: y-webrtc's server prints PORT, not the bound port. */
async function freePort(): Promise<number> {
  const probeServer = createServer();
  await new Promise<void>((resolve) => probeServer.listen(0, '127.0.0.1', resolve));
  const { port } = probeServer.address() as AddressInfo;
  await new Promise<void>((resolve) => probeServer.close(() => resolve()));
  return port;
}

interface ServerUnderTest {
  name: string;
  protocol: Protocol;
  start(): Promise<ServerProcess>;
  wsUrl(port: number): string;
}

const yWebrtcBin = join(
  dirname(createRequire(import.meta.url).resolve('y-webrtc')),
  '..',
  'bin',
  'server.js',
);

const servers: ServerUnderTest[] = [
  {
    name: 'DLion',
    protocol: dlionProtocol(PROTOCOL_VERSION),
    start: () =>
      startServer(
        fileURLToPath(new URL('./signaling/run-dlion.ts', import.meta.url)),
        {},
        /port=(\d+)/,
      ),
    wsUrl: (port) => `ws://127.0.0.1:${port}/ws`,
  },
  {
    name: 'y-webrtc',
    protocol: yWebrtcProtocol,
    start: async () => {
      const port = await freePort();
      return startServer(yWebrtcBin, { PORT: String(port) }, /running on localhost: (\d+)/);
    },
    wsUrl: (port) => `ws://127.0.0.1:${port}`,
  },
];

// ---- one row: N clients on one server -----------------------------------------------------

interface Row {
  clients: number;
  server: string;
  p50Ms: number;
  p99Ms: number;
  rssPerClientKiB: number;
  heapPerClientKiB: number;
  idleRssMiB: number;
  loadedRssMiB: number;
  lost: number;
  extensions: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function connectAll(target: ServerUnderTest, url: string, n: number): Promise<Peer[]> {
  const peers: Peer[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const index = next++;
      peers[index] = await target.protocol.join(
        url,
        `room-${Math.floor(index / ROOM_SIZE)}`,
        index,
      );
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return peers;
}

async function relayLatencies(protocol: Protocol, peers: Peer[]) {
  // Neighbours (2j, 2j+1) share a room because ROOM_SIZE is even; take up to MAX_PAIRS of them
  // spread over all rooms.
  const allPairs = Math.floor(peers.length / 2);
  const count = Math.min(MAX_PAIRS, allPairs);
  const pairs = Array.from({ length: count }, (_, k) => {
    const j = Math.floor((k * allPairs) / count);
    return [peers[2 * j]!, peers[2 * j + 1]!] as const;
  });
  await Promise.all(pairs.map(([a, b], k) => protocol.pair(a, b, k)));

  const total = WARMUP + MESSAGES;
  const sentAt = new Float64Array(total).fill(Number.NaN);
  const receivedAt = new Float64Array(total).fill(Number.NaN);
  let received = 0;
  for (const [, b] of pairs) {
    b.onSignal = (seq, at) => {
      if (seq >= 0 && seq < total && Number.isNaN(receivedAt[seq]!)) {
        receivedAt[seq] = at;
        received++;
      }
    };
  }
  for (let seq = 0; seq < total; seq++) {
    const k = seq % pairs.length;
    const [a, b] = pairs[k]!;
    const text = protocol.signal(a, b, k, seq);
    sentAt[seq] = performance.now();
    a.ws.send(text);
    await sleep(SEND_INTERVAL_MS);
  }
  const deadline = performance.now() + 5000;
  while (received < total && performance.now() < deadline) await sleep(10);

  const latencies: number[] = [];
  for (let seq = WARMUP; seq < total; seq++) {
    const ms = receivedAt[seq]! - sentAt[seq]!;
    if (!Number.isNaN(ms)) latencies.push(ms);
  }
  latencies.sort((x, y) => x - y);
  return { latencies, lost: MESSAGES - latencies.length };
}

async function measure(target: ServerUnderTest, n: number): Promise<Row> {
  const server = await target.start();
  let peers: Peer[] = [];
  try {
    const idle = await server.memory();
    peers = await connectAll(target, target.wsUrl(server.port), n);
    const loaded = await server.memory();
    const { latencies, lost } = await relayLatencies(target.protocol, peers);
    if (latencies.length === 0) throw new Error(`${target.name}: no relayed message arrived`);
    const heap = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
    return {
      clients: n,
      server: target.name,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      rssPerClientKiB: (loaded.rss - idle.rss) / n / 1024,
      heapPerClientKiB: (heap(loaded) - heap(idle)) / n / 1024,
      idleRssMiB: idle.rss / 2 ** 20,
      loadedRssMiB: loaded.rss / 2 ** 20,
      lost,
      extensions: peers[0]?.ws.extensions || 'none',
    };
  } finally {
    for (const peer of peers) peer.close();
    await server.stop();
  }
}

// ---- federation: two servers, one Redis ---------------------------------------------------

const runDlion = fileURLToPath(new URL('./signaling/run-dlion.ts', import.meta.url));

interface FederatedRow {
  clients: number;
  setup: 'one server, no Redis' | 'one federated server' | 'two servers through Redis';
  p50Ms: number;
  p99Ms: number;
  lost: number;
  /** Signals per second when every pair sends BURST at once; received over elapsed. */
  signalsPerSec: number;
  burstLost: number;
}

/** Signals each sender sends back to back in the throughput phase. */
const BURST = 20;

async function connectSplit(urls: readonly string[], n: number, across: boolean): Promise<Peer[]> {
  const protocol = dlionProtocol(PROTOCOL_VERSION);
  const peers: Peer[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const index = next++;
      // Pairs (2j, 2j+1) share a room; across: the first of a pair on A, the second on B.
      const url = across && index % 2 === 1 ? urls[1]! : urls[0]!;
      peers[index] = await protocol.join(url, `room-${Math.floor(index / ROOM_SIZE)}`, index);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return peers;
}

/** Every pair (2j, 2j+1) sends BURST signals at once: signals per second end to end. */
async function burstThroughput(peers: Peer[]): Promise<{ perSec: number; lost: number }> {
  const protocol = dlionProtocol(PROTOCOL_VERSION);
  const pairs = Array.from(
    { length: Math.floor(peers.length / 2) },
    (_, j) => [peers[2 * j]!, peers[2 * j + 1]!] as const,
  );
  const total = pairs.length * BURST;
  let received = 0;
  let lastAt = 0;
  for (const [, b] of pairs) {
    b.onSignal = (_seq, at) => {
      received++;
      lastAt = at;
    };
  }
  const start = performance.now();
  for (const [k, [a, b]] of pairs.entries()) {
    for (let i = 0; i < BURST; i++) a.ws.send(protocol.signal(a, b, k, 100_000 + i));
  }
  const deadline = performance.now() + 20_000;
  while (received < total && performance.now() < deadline) await sleep(10);
  return { perSec: (received * 1000) / Math.max(1, lastAt - start), lost: total - received };
}

async function measureFederated(
  n: number,
  setup: FederatedRow['setup'],
  redisUrl: string,
): Promise<FederatedRow> {
  const federated = setup !== 'one server, no Redis';
  const env = (id: string): Record<string, string> =>
    federated ? { REDIS_URL: redisUrl, DLION_SERVER_ID: id } : {};
  const started = [await startServer(runDlion, env('bench-a'), /port=(\d+)/)];
  if (setup === 'two servers through Redis') {
    started.push(await startServer(runDlion, env('bench-b'), /port=(\d+)/));
  }
  let peers: Peer[] = [];
  try {
    const urls = started.map((s) => `ws://127.0.0.1:${s.port}/ws`);
    peers = await connectSplit(urls, n, started.length === 2);
    const { latencies, lost } = await relayLatencies(dlionProtocol(PROTOCOL_VERSION), peers);
    if (latencies.length === 0) throw new Error(`${setup}: no relayed message arrived`);
    const burst = await burstThroughput(peers);
    return {
      clients: n,
      setup,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      lost,
      signalsPerSec: burst.perSec,
      burstLost: burst.lost,
    };
  } finally {
    for (const peer of peers) peer.close();
    for (const s of started) await s.stop();
  }
}

async function runFederated(): Promise<void> {
  const redis = await startRedis();
  const setups: FederatedRow['setup'][] = [
    'one server, no Redis',
    'one federated server',
    'two servers through Redis',
  ];
  const fedSizes = args.quick ? [100] : [100, 1000];
  const out: FederatedRow[] = [];
  try {
    for (const n of fedSizes) {
      for (const setup of setups) {
        const reps: FederatedRow[] = [];
        for (let rep = 0; rep < repeats; rep++) {
          const row = await measureFederated(n, setup, redis.url);
          reps.push(row);
          console.error(
            `${setup}, ${n} clients, run ${rep + 1}/${repeats}: p50 ${row.p50Ms.toFixed(3)} ms, p99 ${row.p99Ms.toFixed(3)} ms, ${row.signalsPerSec.toFixed(0)} signals/s`,
          );
        }
        const m = (k: 'p50Ms' | 'p99Ms' | 'signalsPerSec') => median(reps.map((r) => r[k]));
        out.push({
          ...reps[0]!,
          p50Ms: m('p50Ms'),
          p99Ms: m('p99Ms'),
          signalsPerSec: m('signalsPerSec'),
          lost: reps.reduce((a, r) => a + r.lost, 0),
          burstLost: reps.reduce((a, r) => a + r.burstLost, 0),
        });
      }
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await redis.stop();
  }
  const lines = [
    `Command: npm run bench:signaling -- --federated${args.quick ? ' --quick' : ''}${repeats !== 5 ? ` --repeats ${repeats}` : ''}`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length}, Node ${process.version}, ${await redisVersion()}`,
    '',
    '| clients | setup | relay p50 (ms) | relay p99 (ms) | lost | signals/s, all pairs at once | lost in the burst |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...out.map(
      (r) =>
        `| ${r.clients} | ${r.setup} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.lost} | ${r.signalsPerSec.toFixed(0)} | ${r.burstLost} |`,
    ),
    '',
    `${repeats > 1 ? `Median of ${repeats} runs` : 'One run'} per row, fresh server processes (and the same Redis) per run. Latency: ${MESSAGES} relays after ${WARMUP} warm-up between up to ${MAX_PAIRS} pairs of one room taking turns, one message per ${SEND_INTERVAL_MS} ms; "two servers": the sender on one server, the receiver on the other. Signals/s: every pair sends ${BURST} signals back to back, received over the time to the last one. Servers, Redis and clients share this machine's cores.`,
  ];
  console.log(lines.join('\n'));
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ federated: out }, null, 2)}\n`);
}

async function redisVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('redis-server', ['--version']);
    let text = '';
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
    });
    child.on('close', () =>
      resolve(/v=(\S+)/.exec(text)?.[1] ? `Redis ${/v=(\S+)/.exec(text)![1]}` : 'Redis'),
    );
    child.on('error', () => resolve('Redis (version unknown)'));
  });
}

// ---- run and print ------------------------------------------------------------------------

const median = (xs: number[]) => {
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

type MeasuredKey =
  | 'p50Ms'
  | 'p99Ms'
  | 'rssPerClientKiB'
  | 'heapPerClientKiB'
  | 'idleRssMiB'
  | 'loadedRssMiB';

/** Each number of a row is the median of that number over the repeats; lost is their sum. */
function medianRow(runs: Row[]): Row {
  const m = (key: MeasuredKey) => median(runs.map((r) => r[key]));
  return {
    ...runs[0]!,
    p50Ms: m('p50Ms'),
    p99Ms: m('p99Ms'),
    rssPerClientKiB: m('rssPerClientKiB'),
    heapPerClientKiB: m('heapPerClientKiB'),
    idleRssMiB: m('idleRssMiB'),
    loadedRssMiB: m('loadedRssMiB'),
    lost: runs.reduce((sum, r) => sum + r.lost, 0),
  };
}

const sizes = args.quick ? [100] : [100, 500, 1000];
const repeats = Math.max(1, Number.parseInt(args.repeats, 10) || 1);
if (args.federated) {
  await runFederated();
  process.exit(0);
}
const runs: Row[] = [];
const rows: Row[] = [];
try {
  for (const n of sizes) {
    // Servers alternate within a size and a repeat, so drift of the machine hits both alike.
    for (let rep = 0; rep < repeats; rep++) {
      for (const target of servers) {
        const run = await measure(target, n);
        runs.push(run);
        console.error(
          `${target.name} ${n} clients, run ${rep + 1}/${repeats}: p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms, RSS ${run.rssPerClientKiB.toFixed(1)} KiB/client, heap ${run.heapPerClientKiB.toFixed(1)} KiB/client`,
        );
      }
    }
    for (const target of servers)
      rows.push(medianRow(runs.filter((r) => r.clients === n && r.server === target.name)));
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const table: string[] = [
  '| clients | server | p50 (ms) | p99 (ms) | RSS per client (KiB) | heap+external per client (KiB) | server RSS idle → loaded (MiB) | lost |',
  '|---:|---|---:|---:|---:|---:|---:|---:|',
];
for (const n of sizes) {
  const [ours, theirs] = servers.map(
    (s) => rows.find((r) => r.clients === n && r.server === s.name)!,
  );
  for (const r of [ours!, theirs!])
    table.push(
      `| ${n} | ${r.server} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.rssPerClientKiB, 1)} | ${fmt(r.heapPerClientKiB, 1)} | ${fmt(r.idleRssMiB, 1)} → ${fmt(r.loadedRssMiB, 1)} | ${r.lost} |`,
    );
  table.push(
    `| ${n} | **DLion / y-webrtc** | ${ratio(ours!.p50Ms, theirs!.p50Ms)} | ${ratio(ours!.p99Ms, theirs!.p99Ms)} | ${ratio(ours!.rssPerClientKiB, theirs!.rssPerClientKiB)} | ${ratio(ours!.heapPerClientKiB, theirs!.heapPerClientKiB)} | | |`,
  );
}
const extensions = [...new Set(rows.map((r) => `${r.server}: ${r.extensions}`))].join(', ');
console.log(
  [
    `Command: npm run bench:signaling${args.quick ? ' -- --quick' : ''}`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length}, Node ${process.version}`,
    '',
    ...table,
    '',
    `${repeats > 1 ? `Median of ${repeats} runs` : 'One run'} per row, each on a fresh server process. Rooms (topics) of ${ROOM_SIZE} clients; latency over ${MESSAGES} relays (after ${WARMUP} warm-up) between up to ${MAX_PAIRS} pairs taking turns, one message per ${SEND_INTERVAL_MS} ms; memory after a full GC in the server process. WebSocket extensions negotiated: ${extensions}.`,
  ].join('\n'),
);
if (args.json)
  writeFileSync(
    args.json,
    `${JSON.stringify({ machine: cpus()[0]?.model, cores: cpus().length, node: process.version, rows, runs }, null, 2)}\n`,
  );
