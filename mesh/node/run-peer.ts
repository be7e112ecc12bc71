/**
 * A headless Node peer in its own process: joins a room on a signaling server and trains
 * with the cpu backend over real WebRTC (@roamhq/wrtc). Used by the mesh tests and the
 * dlion-vs-bsp measurement; the kiosk builds on it. Prints one JSON object per line
 * (MeshEvents, plus {type:'exit'}) on stdout, and reads emulation changes as JSON lines on
 * stdin, e.g. {"slowdown": 1} or {"uplinkBps": 2000000}.
 *
 *   tsx mesh/node/run-peer.ts --server http://127.0.0.1:8080 --room lab --name p1 \
 *     [--config '{"strategy":"bsp"}'] [--slowdown 4] [--uplink-mbps 2] [--max-steps 300] \
 *     [--state-dir DIR] [--events step,status,phase,...] [--test-every-s 5 --test-samples 2000]
 */

import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as v from 'valibot';
import {
  createPeer,
  type Emulation,
  type MeshEvent,
  SiteLinksSchema,
  type SiteShaping,
  siteShapingFrom,
} from '..';
import { nodeClock } from './clock';
import { nodeRtcConnector } from './rtc';
import { nodeSignaling } from './signaling';
import { threadTrainerFactory } from './trainer';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    room: { type: 'string' },
    name: { type: 'string' },
    token: { type: 'string' },
    site: { type: 'string' },
    config: { type: 'string' },
    slowdown: { type: 'string' },
    'uplink-mbps': { type: 'string' },
    'latency-ms': { type: 'string' },
    /** Caps and latency by site pair, JSON in Mbit/s and ms (as a scenario's siteLinks). */
    'site-links': { type: 'string' },
    'max-steps': { type: 'string' },
    'state-dir': { type: 'string' },
    'resume-id': { type: 'string' },
    /** The key the welcome gave with that id (its 'joined' event's resumeKey). */
    'resume-key': { type: 'string' },
    events: { type: 'string' },
    'test-samples': { type: 'string' },
    /** Benchmarks: evaluate on the test split every so many seconds (PeerOptions.testEveryMs). */
    'test-every-s': { type: 'string' },
  },
});

const fail = (message: string): never => {
  process.stderr.write(`run-peer: ${message}\n`);
  process.exit(2);
};
const num = (name: string, v: string | undefined, min: number): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number >= ${min}, got '${v}'`);
  return n;
};

const server = values.server ?? fail('--server URL is required');
const room = values.room ?? fail('--room NAME is required');
const name = values.name ?? `node-${randomUUID().slice(0, 6)}`;
let config: Record<string, unknown> | undefined;
if (values.config !== undefined) {
  try {
    config = JSON.parse(values.config) as Record<string, unknown>;
  } catch {
    fail('--config must be JSON');
  }
}
let siteLinks: SiteShaping | undefined;
if (values['site-links'] !== undefined) {
  let json: unknown;
  try {
    json = JSON.parse(values['site-links']);
  } catch {
    fail('--site-links must be JSON');
  }
  const checked = v.safeParse(SiteLinksSchema, json);
  if (!checked.success) fail(`--site-links is invalid: ${checked.issues[0]?.message}`);
  else siteLinks = siteShapingFrom(checked.output);
}
const slowdown = num('slowdown', values.slowdown, 1) ?? 1;
const uplinkMbps = num('uplink-mbps', values['uplink-mbps'], 0.001);
const latencyMs = num('latency-ms', values['latency-ms'], 0);
const maxSteps = num('max-steps', values['max-steps'], 1);
const testSamples = num('test-samples', values['test-samples'], 1) ?? 1000;
const testEveryS = num('test-every-s', values['test-every-s'], 0.1);
const wanted = new Set(
  (values.events ?? 'phase,joined,status,merge,peer-left,refused,rebalance').split(','),
);

const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const clock = nodeClock();

const peer = createPeer({
  room,
  name,
  kind: 'kiosk',
  ...(values.token === undefined ? {} : { token: values.token }),
  ...(values.site === undefined ? {} : { site: values.site }),
  ...(config === undefined ? {} : { config }),
  ...(values['resume-id'] === undefined ? {} : { resumePeerId: values['resume-id'] }),
  ...(values['resume-key'] === undefined ? {} : { resumeKey: values['resume-key'] }),
  emulation: {
    slowdown,
    ...(uplinkMbps === undefined ? {} : { uplinkBps: uplinkMbps * 1e6 }),
    ...(latencyMs === undefined ? {} : { latencyMs }),
    ...(siteLinks === undefined ? {} : { sites: siteLinks }),
  },
  signaling: nodeSignaling(server, clock),
  rtc: nodeRtcConnector(),
  // In a worker thread, as a browser tab runs it in a Web Worker: the main thread stays free
  // for the links (see trainer-thread.ts).
  createTrainer: threadTrainerFactory({
    room,
    name,
    testSamples,
    slowdown,
    ...(values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
  }),
  clock,
  random: Math.random,
  log: (level, message, fields) => {
    if (level !== 'debug')
      process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
  },
  ...(maxSteps === undefined ? {} : { maxSteps }),
  statusEveryMs: 1000,
  ...(testEveryS === undefined ? {} : { testEveryMs: testEveryS * 1000 }),
  checkpointEvery: values['state-dir'] === undefined ? 0 : 50,
});

peer.subscribe((e: MeshEvent) => {
  if (wanted.has(e.type)) print(e);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    const change = JSON.parse(line) as Partial<Emulation> & { close?: boolean };
    if (change.close) {
      void peer.close();
      return;
    }
    peer.setEmulation(change);
  } catch {
    process.stderr.write(`run-peer: ignored a stdin line that is not JSON\n`);
  }
});

const stop = () => {
  void peer.close();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await peer.stopped;
print({ type: 'exit', phase: peer.phase(), refusals: peer.refusals(), status: peer.status() });
process.exit(peer.phase() === 'failed' ? 1 : 0);
