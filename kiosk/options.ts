/**
 * The kiosk's command line: flags, their environment variables, defaults and the usage text
 * (`dlion kiosk --help`). Parsing is pure: argv and env in, options or a message out.
 */

import { parseArgs } from 'node:util';
import * as v from 'valibot';
import { PeerNameSchema, parseRoomConfig, RoomNameSchema } from '../core';
import { SiteLinksSchema, type SiteShaping, siteShapingFrom } from '../mesh';
import type { NodeBackendChoice } from '../mesh/node';

/** Exit codes, each with one meaning (listed in --help). */
export const EXIT = {
  /** Left the room cleanly (a signal, or --max-steps reached). */
  ok: 0,
  /** Anything unexpected (the trainer could not start, an internal error). */
  failure: 1,
  /** Bad flags or environment: usage printed. */
  usage: 2,
  /** The server refused the join token. */
  tokenRefused: 3,
  /** The server could not be reached within --connect-timeout. */
  unreachable: 4,
  /** The state directory, the --data files or the --model file are unusable; nothing was overwritten. */
  badState: 5,
  /** The room refused this peer (room full, room settings refused, the server's room limit). */
  roomRefused: 6,
} as const;

export interface KioskOptions {
  readonly server: string;
  readonly room: string;
  readonly name: string | undefined;
  readonly site: string | undefined;
  readonly token: string | undefined;
  readonly backend: NodeBackendChoice;
  readonly dataDir: string | undefined;
  /** The label column of a --data table, for a new room's task. */
  readonly labelColumn: string | undefined;
  readonly stateDir: string | undefined;
  /** A model.json for a new room (its task is derived from it). */
  readonly modelFile: string | undefined;
  /** Where the trained model is written in the TF.js Layers format. */
  readonly exportDir: string | undefined;
  /** Steps between exports with --export-dir (0: only when leaving). */
  readonly exportEvery: number;
  readonly slowdown: number;
  readonly uplinkMbps: number | undefined;
  /** Emulated micro-clouds: caps and latency by site pair. */
  readonly siteLinks: SiteShaping | undefined;
  /** Config fields for a new room (JSON). */
  readonly config: Readonly<Record<string, unknown>> | undefined;
  /** Give up (exit 4) when the server was not reached within this many seconds. */
  readonly connectTimeoutS: number;
  /** A progress line every so many steps. */
  readonly progressEvery: number;
  readonly maxSteps: number | undefined;
  /** Steps between checkpoints when a state directory is set. */
  readonly checkpointEvery: number;
}

interface Flag {
  readonly name: string;
  readonly env: string;
  readonly arg: string;
  readonly help: string;
}

/** Every flag with its environment variable; flags win over the environment. */
export const KIOSK_FLAGS: readonly Flag[] = [
  {
    name: 'server',
    env: 'DLION_SERVER',
    arg: 'URL',
    help: 'signaling server, e.g. https://edge-1:8080 (required)',
  },
  { name: 'room', env: 'DLION_ROOM', arg: 'NAME', help: 'room to join (required)' },
  {
    name: 'name',
    env: 'DLION_NAME',
    arg: 'N',
    help: 'peer name shown on the dashboard (default: the host name)',
  },
  { name: 'site', env: 'DLION_SITE', arg: 'S', help: 'the micro-cloud this box is in' },
  {
    name: 'token',
    env: 'DLION_TOKEN',
    arg: 'T',
    help: 'join token, where the server requires one',
  },
  {
    name: 'backend',
    env: 'DLION_BACKEND',
    arg: 'auto|webgpu|cpu',
    help: 'tfjs backend (default auto: WebGPU through Dawn when an adapter exists, else cpu)',
  },
  {
    name: 'data',
    env: 'DLION_DATA',
    arg: 'DIR',
    help: "the box's own data instead of its shard of the room's dataset: a folder with one subfolder of images per label, a CSV/TSV table with a header and a label column, or IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, optional t10k-*; plain or .gz)",
  },
  {
    name: 'label-column',
    env: 'DLION_LABEL_COLUMN',
    arg: 'NAME',
    help: "the column of a --data table that holds the label, for a room this kiosk creates (default: 'label', else the last column)",
  },
  {
    name: 'state-dir',
    env: 'DLION_STATE_DIR',
    arg: 'DIR',
    help: 'checkpoints and the peer identity (a restarted kiosk resumes as the same peer)',
  },
  {
    name: 'model',
    env: 'DLION_MODEL',
    arg: 'FILE',
    help: "a TF.js Layers model.json (tf.LayersModel.save, tfjs-converter) for a new room; its weight files beside it give a pretrained start, without them every peer starts from the room's seed",
  },
  {
    name: 'export-dir',
    env: 'DLION_EXPORT_DIR',
    arg: 'DIR',
    help: 'write the trained model here when leaving (model.json, weights.bin, task.json: tf.loadLayersModel loads it)',
  },
  {
    name: 'export-every',
    env: 'DLION_EXPORT_EVERY',
    arg: 'N',
    help: 'with --export-dir, also export every N steps (default 0: only when leaving)',
  },
  {
    name: 'slowdown',
    env: 'DLION_SLOWDOWN',
    arg: 'F',
    help: 'emulation: compute slowdown factor >= 1 (default 1)',
  },
  {
    name: 'uplink-mbps',
    env: 'DLION_UPLINK_MBPS',
    arg: 'M',
    help: 'emulation: cap on each outgoing link, Mbit/s',
  },
  {
    name: 'site-links',
    env: 'DLION_SITE_LINKS',
    arg: 'JSON',
    help: 'emulation: caps by site pair, e.g. {"intra":{"mbps":100,"latencyMs":1},"inter":{"mbps":5,"latencyMs":40}}',
  },
  {
    name: 'config',
    env: 'DLION_CONFIG',
    arg: 'JSON',
    help: 'settings for a new room, e.g. {"strategy":"dlion","model":"cnn"}',
  },
  {
    name: 'connect-timeout',
    env: 'DLION_CONNECT_TIMEOUT',
    arg: 'S',
    help: 'exit 4 when the server was not reached within S seconds (default 60)',
  },
  {
    name: 'progress-every',
    env: 'DLION_PROGRESS_EVERY',
    arg: 'N',
    help: 'a progress line every N steps (default 20)',
  },
  {
    name: 'max-steps',
    env: 'DLION_MAX_STEPS',
    arg: 'N',
    help: 'leave after N steps (default: train until stopped)',
  },
  {
    name: 'checkpoint-every',
    env: 'DLION_CHECKPOINT_EVERY',
    arg: 'N',
    help: 'steps between checkpoints with --state-dir (default 50)',
  },
];

/** The usage text, exit codes included. */
export function kioskHelp(): string[] {
  const width = Math.max(...KIOSK_FLAGS.map((f) => `--${f.name} ${f.arg}`.length));
  return [
    'dlion kiosk: a headless DLion peer for an edge box',
    '',
    'usage: dlion kiosk --server URL --room NAME [flags]',
    '',
    'flags (each also settable by its environment variable; flags win):',
    ...KIOSK_FLAGS.map(
      (f) => `  ${`--${f.name} ${f.arg}`.padEnd(width)}  ${f.env.padEnd(22)} ${f.help}`,
    ),
    `  ${'--help'.padEnd(width)}  ${''.padEnd(22)} this text`,
    '',
    'output: one JSON object per line on stdout (events, a progress line every few steps);',
    'SIGTERM or SIGINT leaves the room, writes a last checkpoint and exits 0.',
    '',
    'exit codes:',
    '  0  left the room cleanly (signal, or --max-steps reached)',
    '  1  unexpected failure (the trainer could not start, an internal error)',
    '  2  bad flags or environment',
    '  3  the server refused the join token',
    '  4  the server could not be reached within --connect-timeout',
    '  5  the state directory, the --data files or the --model file are unusable (nothing was overwritten)',
    '  6  the room refused this peer (room full, room settings refused, server room limit)',
  ];
}

export type ParsedKioskArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'run'; readonly options: KioskOptions }
  | { readonly kind: 'usage'; readonly message: string };

const SITE = /^[A-Za-z0-9_-]{1,64}$/;

class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Reads the kiosk's flags and environment.
 *
 * @example parseKioskArgs(['--server', 'http://edge:8080', '--room', 'lab'], process.env)
 */
export function parseKioskArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedKioskArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(KIOSK_FLAGS.map((f) => [f.name, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values;
  } catch (e) {
    return { kind: 'usage', message: (e as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  try {
    return { kind: 'run', options: readOptions(values, env) };
  } catch (e) {
    if (e instanceof UsageError) return { kind: 'usage', message: e.message };
    throw e;
  }
}

function readOptions(
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>>,
): KioskOptions {
  const get = (name: string): string | undefined => {
    const flag = KIOSK_FLAGS.find((f) => f.name === name)!;
    const fromFlag = values[name];
    if (typeof fromFlag === 'string') return fromFlag;
    const fromEnv = env[flag.env];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const bad = (name: string, why: string): never => {
    const flag = KIOSK_FLAGS.find((f) => f.name === name)!;
    throw new UsageError(`--${name} (${flag.env}) ${why}`);
  };
  const number = (
    name: string,
    min: number,
    integer: boolean,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined => {
    const text = get(name);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (
      text.trim() === '' ||
      !Number.isFinite(n) ||
      n < min ||
      n > max ||
      (integer && !Number.isInteger(n))
    ) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
      bad(name, `must be ${integer ? 'an integer' : 'a number'} ${range}, got '${text}'`);
    }
    return n;
  };
  const json = (name: string): unknown => {
    const text = get(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return bad(name, `must be JSON, got '${text.slice(0, 80)}'`);
    }
  };

  const server = get('server') ?? bad('server', 'is required: the signaling server URL');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return bad('server', `is not a URL: '${server}'`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    bad('server', `must be http(s):// or ws(s)://, got '${url.protocol}'`);
  }
  const room = get('room') ?? bad('room', 'is required: the room to join');
  if (!v.is(RoomNameSchema, room)) {
    bad('room', `'${room}' is not a room name (letters, digits, '_' and '-', at most 64)`);
  }
  const name = get('name');
  if (name !== undefined && !v.is(PeerNameSchema, name)) {
    bad('name', 'must be 1 to 64 printable characters');
  }
  const site = get('site');
  if (site !== undefined && !SITE.test(site)) {
    bad('site', `'${site}' is not a site name (letters, digits, '_' and '-', at most 64)`);
  }
  const backend = get('backend') ?? 'auto';
  if (backend !== 'auto' && backend !== 'webgpu' && backend !== 'cpu') {
    bad('backend', `must be auto, webgpu or cpu, got '${backend}'`);
  }
  const siteLinksInput = json('site-links');
  let siteLinks: SiteShaping | undefined;
  if (siteLinksInput !== undefined) {
    const r = v.safeParse(SiteLinksSchema, siteLinksInput);
    if (!r.success) {
      bad(
        'site-links',
        `is invalid: ${r.issues.map((i) => `${v.getDotPath(i) ?? '$'}: ${i.message}`).join('; ')}`,
      );
    } else {
      siteLinks = siteShapingFrom(r.output);
    }
  }
  const config = json('config');
  if (
    config !== undefined &&
    (typeof config !== 'object' || config === null || Array.isArray(config))
  ) {
    bad('config', 'must be a JSON object');
  }
  if (config !== undefined) {
    // Checked here as the server would check a new room's config: a typo is a usage error.
    const checked = parseRoomConfig(config);
    if (!checked.ok) bad('config', `is not a valid room config: ${checked.error.message}`);
  }
  return {
    server,
    room,
    name,
    site,
    token: get('token'),
    backend: backend as NodeBackendChoice,
    dataDir: get('data'),
    labelColumn: get('label-column'),
    stateDir: get('state-dir'),
    modelFile: get('model'),
    exportDir: get('export-dir'),
    exportEvery: number('export-every', 0, true) ?? 0,
    slowdown: number('slowdown', 1, false) ?? 1,
    uplinkMbps: number('uplink-mbps', 0.001, false),
    siteLinks,
    config: config as Record<string, unknown> | undefined,
    connectTimeoutS: number('connect-timeout', 1, false, 86_400) ?? 60,
    progressEvery: number('progress-every', 1, true) ?? 20,
    maxSteps: number('max-steps', 1, true),
    checkpointEvery: number('checkpoint-every', 1, true) ?? 50,
  };
}
