/**
 * Server configuration from command-line flags and the environment (flags win), validated
 * before anything listens, and a start-up summary with the secret redacted.
 * Example: `parseServerArgs(['--port', '9000'], process.env)`.
 */

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as v from 'valibot';
import {
  err,
  formatIssues,
  type IceServer,
  IceServerSchema,
  MAX_ICE_SERVERS,
  ok,
  type Result,
} from '../core';
import {
  DEFAULT_LIMITS,
  DEFAULT_OPTIONS,
  type SignalingLimits,
  type SignalingOptions,
} from './server';

/** What the flags and environment said; TLS files are read later by loadServerOptions. */
export interface ServerArgs {
  port: number;
  host: string;
  secret?: string;
  resumeSecret?: string;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  iceServers: IceServer[];
  staticDir: string;
  heartbeatMs: number;
  evictAfterMs: number;
  statusTtlMs: number;
  limits: SignalingLimits;
  /** Federation through Redis; undefined: a lone server (the default). */
  redisUrl?: string;
  serverId?: string;
  memberTtlMs: number;
}

interface Setting {
  readonly flag: string;
  readonly env: string;
  readonly help: string;
}

/** Every setting: its flag, its environment variable, and a line of help. */
export const SERVER_SETTINGS = {
  port: {
    flag: 'port',
    env: 'PORT',
    help: `TCP port (default ${DEFAULT_OPTIONS.port}; 0 picks one)`,
  },
  host: {
    flag: 'host',
    env: 'HOST',
    help: `address to listen on (default ${DEFAULT_OPTIONS.host})`,
  },
  secret: {
    flag: 'secret',
    env: 'DLION_SECRET',
    help: 'join-token secret; set it to require tokens',
  },
  resumeSecret: {
    flag: 'resume-secret',
    env: 'DLION_RESUME_SECRET',
    help: 'signs the keys that let a peer resume its id (default: --secret, else a random key per start; federated servers need the same one)',
  },
  tlsCert: {
    flag: 'tls-cert',
    env: 'DLION_TLS_CERT',
    help: 'PEM certificate file (with --tls-key: https/wss)',
  },
  tlsKey: { flag: 'tls-key', env: 'DLION_TLS_KEY', help: 'PEM private key file (with --tls-cert)' },
  iceServers: {
    flag: 'ice-servers',
    env: 'DLION_ICE_SERVERS',
    help: 'JSON array of RTCIceServer for STUN/TURN, e.g. \'[{"urls":"turn:edge:3478","username":"u","credential":"p"}]\' (default [])',
  },
  staticDir: {
    flag: 'static',
    env: 'DLION_STATIC',
    help: `dashboard folder (default ${DEFAULT_OPTIONS.staticDir})`,
  },
  heartbeatMs: {
    flag: 'heartbeat-ms',
    env: 'DLION_HEARTBEAT_MS',
    help: `heartbeat period told to peers (default ${DEFAULT_OPTIONS.heartbeatMs})`,
  },
  evictAfterMs: {
    flag: 'evict-after-ms',
    env: 'DLION_EVICT_AFTER_MS',
    help: `silence before a peer is evicted (default ${DEFAULT_OPTIONS.evictAfterMs})`,
  },
  statusTtlMs: {
    flag: 'status-ttl-ms',
    env: 'DLION_STATUS_TTL_MS',
    help: `how long a posted status is served (default ${DEFAULT_OPTIONS.statusTtlMs})`,
  },
  redis: {
    flag: 'redis',
    env: 'REDIS_URL',
    help: 'redis://host:port: federate with every server on this Redis (rooms span them; default: none)',
  },
  serverId: {
    flag: 'server-id',
    env: 'DLION_SERVER_ID',
    help: "this server's name in the federation (default host:port)",
  },
  memberTtlMs: {
    flag: 'member-ttl-ms',
    env: 'DLION_MEMBER_TTL_MS',
    help: `federated peers of a dead server expire after this (default ${DEFAULT_OPTIONS.memberTtlMs})`,
  },
  maxRooms: {
    flag: 'max-rooms',
    env: 'DLION_MAX_ROOMS',
    help: `rooms (default ${DEFAULT_LIMITS.maxRooms})`,
  },
  peersPerRoom: {
    flag: 'max-peers-per-room',
    env: 'DLION_MAX_PEERS_PER_ROOM',
    help: `peers per room (default ${DEFAULT_LIMITS.peersPerRoom}; a room's config may lower it)`,
  },
  socketsPerAddress: {
    flag: 'max-sockets-per-address',
    env: 'DLION_MAX_SOCKETS_PER_ADDRESS',
    help: `WebSockets per client address (default ${DEFAULT_LIMITS.socketsPerAddress})`,
  },
  maxMessageBytes: {
    flag: 'max-message-bytes',
    env: 'DLION_MAX_MESSAGE_BYTES',
    help: `largest message (default ${DEFAULT_LIMITS.maxMessageBytes})`,
  },
  messagesPerSecond: {
    flag: 'messages-per-second',
    env: 'DLION_MESSAGES_PER_SECOND',
    help: `sustained messages per socket (default ${DEFAULT_LIMITS.messagesPerSecond})`,
  },
  burst: {
    flag: 'burst',
    env: 'DLION_BURST',
    help: `message burst per socket (default ${DEFAULT_LIMITS.burst})`,
  },
  violationsBeforeClose: {
    flag: 'violations-before-close',
    env: 'DLION_VIOLATIONS_BEFORE_CLOSE',
    help: `refused messages before a socket is closed (default ${DEFAULT_LIMITS.violationsBeforeClose})`,
  },
  maxStatusBytes: {
    flag: 'max-status-bytes',
    env: 'DLION_MAX_STATUS_BYTES',
    help: `largest status report (default ${DEFAULT_LIMITS.maxStatusBytes})`,
  },
} as const satisfies Record<string, Setting>;

type SettingName = keyof typeof SERVER_SETTINGS;

const IceServersSchema = v.pipe(v.array(IceServerSchema), v.maxLength(MAX_ICE_SERVERS));

/** Parses the `serve` flags (without the command word) and the environment. Never throws. */
export function parseServerArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Result<ServerArgs, string> {
  let values: Record<string, string | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.values(SERVER_SETTINGS).map((s) => [s.flag, { type: 'string' as const }]),
      ),
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values as Record<string, string | undefined>;
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
  const raw = (name: SettingName): string | undefined => {
    const s = SERVER_SETTINGS[name];
    const fromFlag = values[s.flag];
    if (fromFlag !== undefined) return fromFlag;
    const fromEnv = env[s.env];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const where = (name: SettingName) =>
    `--${SERVER_SETTINGS[name].flag} (${SERVER_SETTINGS[name].env})`;
  const int = (name: SettingName, fallback: number, min: number, max: number): number | string => {
    const text = raw(name);
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text.trim())) return `${where(name)} must be an integer, not '${text}'`;
    const n = Number(text.trim());
    if (n < min || n > max) return `${where(name)} must be in ${min}..${max}, not ${n}`;
    return n;
  };

  const problems: string[] = [];
  const num = (name: SettingName, fallback: number, min: number, max = 2 ** 31 - 1): number => {
    const n = int(name, fallback, min, max);
    if (typeof n === 'string') {
      problems.push(n);
      return fallback;
    }
    return n;
  };

  const port = num('port', DEFAULT_OPTIONS.port, 0, 65535);
  const host = raw('host') ?? DEFAULT_OPTIONS.host;
  const secret = raw('secret');
  const resumeSecret = raw('resumeSecret');
  const tlsCertPath = raw('tlsCert');
  const tlsKeyPath = raw('tlsKey');
  if ((tlsCertPath === undefined) !== (tlsKeyPath === undefined)) {
    problems.push(`${where('tlsCert')} and ${where('tlsKey')} go together: give both or neither`);
  }
  let iceServers: IceServer[] = [...DEFAULT_OPTIONS.iceServers];
  const iceText = raw('iceServers');
  if (iceText !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(iceText);
      const checked = v.safeParse(IceServersSchema, json);
      if (checked.success) iceServers = checked.output;
      else problems.push(`${where('iceServers')}: ${formatIssues(checked.issues)[0]}`);
    } catch {
      problems.push(`${where('iceServers')} is not JSON`);
    }
  }
  const redisUrl = raw('redis');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    problems.push(`${where('redis')} must be a redis:// or rediss:// URL, not '${redisUrl}'`);
  }
  const serverId = raw('serverId');
  if (serverId !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(serverId)) {
    problems.push(`${where('serverId')} must be 1 to 128 letters, digits, and _ . : -`);
  }
  const limits: SignalingLimits = {
    maxMessageBytes: num('maxMessageBytes', DEFAULT_LIMITS.maxMessageBytes, 1024, 64 * 1024 * 1024),
    messagesPerSecond: num('messagesPerSecond', DEFAULT_LIMITS.messagesPerSecond, 1),
    burst: num('burst', DEFAULT_LIMITS.burst, 1),
    socketsPerAddress: num('socketsPerAddress', DEFAULT_LIMITS.socketsPerAddress, 1),
    peersPerRoom: num('peersPerRoom', DEFAULT_LIMITS.peersPerRoom, 1),
    maxRooms: num('maxRooms', DEFAULT_LIMITS.maxRooms, 1),
    violationsBeforeClose: num('violationsBeforeClose', DEFAULT_LIMITS.violationsBeforeClose, 1),
    maxStatusBytes: num('maxStatusBytes', DEFAULT_LIMITS.maxStatusBytes, 256),
  };
  const args: ServerArgs = {
    port,
    host,
    iceServers,
    staticDir: raw('staticDir') ?? DEFAULT_OPTIONS.staticDir ?? 'dist/app',
    heartbeatMs: num('heartbeatMs', DEFAULT_OPTIONS.heartbeatMs, 100, 600_000),
    evictAfterMs: num('evictAfterMs', DEFAULT_OPTIONS.evictAfterMs, 1),
    statusTtlMs: num('statusTtlMs', DEFAULT_OPTIONS.statusTtlMs, 1),
    memberTtlMs: num('memberTtlMs', DEFAULT_OPTIONS.memberTtlMs, 300),
    limits,
    ...(redisUrl !== undefined ? { redisUrl } : {}),
    ...(serverId !== undefined ? { serverId } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(resumeSecret !== undefined ? { resumeSecret } : {}),
    ...(tlsCertPath !== undefined ? { tlsCertPath } : {}),
    ...(tlsKeyPath !== undefined ? { tlsKeyPath } : {}),
  };
  if (args.evictAfterMs <= args.heartbeatMs) {
    problems.push(`${where('evictAfterMs')} must exceed ${where('heartbeatMs')}`);
  }
  return problems.length > 0 ? err(problems.join('\n')) : ok(args);
}

/** Turns parsed args into server options, reading the TLS files. Rejects when they cannot be read. */
export async function loadServerOptions(
  args: ServerArgs,
  log: (line: string) => void,
): Promise<SignalingOptions> {
  const tls =
    args.tlsCertPath !== undefined && args.tlsKeyPath !== undefined
      ? {
          cert: await readFile(args.tlsCertPath, 'utf8'),
          key: await readFile(args.tlsKeyPath, 'utf8'),
        }
      : undefined;
  return {
    port: args.port,
    host: args.host,
    iceServers: args.iceServers,
    staticDir: args.staticDir,
    heartbeatMs: args.heartbeatMs,
    evictAfterMs: args.evictAfterMs,
    statusTtlMs: args.statusTtlMs,
    memberTtlMs: args.memberTtlMs,
    limits: args.limits,
    log,
    ...(args.redisUrl !== undefined ? { redisUrl: args.redisUrl } : {}),
    ...(args.serverId !== undefined ? { serverId: args.serverId } : {}),
    ...(args.secret !== undefined ? { secret: args.secret } : {}),
    ...(args.resumeSecret !== undefined ? { resumeSecret: args.resumeSecret } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** The start-up summary, one setting a line; the secret is never printed. */
export function describeServerArgs(args: ServerArgs): string[] {
  const ice = args.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
  return [
    `  listen        ${args.host}:${args.port}${args.tlsCertPath ? ' (TLS)' : ''}`,
    `  tls           ${args.tlsCertPath ? `cert ${args.tlsCertPath}, key ${args.tlsKeyPath}` : 'off (plain http/ws)'}`,
    `  join tokens   ${args.secret !== undefined ? 'required (secret set, redacted)' : 'off (open server: anyone who reaches it can join)'}`,
    `  resume keys   ${args.resumeSecret !== undefined ? 'signed with --resume-secret (redacted)' : args.secret !== undefined ? 'signed with the join secret' : 'a random key of this start (ids resume until a restart)'}`,
    `  ice servers   ${ice.length > 0 ? ice.join(', ') : 'none (peers connect on the local network only)'}`,
    `  dashboard     ${args.staticDir}`,
    `  heartbeat     every ${args.heartbeatMs} ms, evict after ${args.evictAfterMs} ms; status kept ${args.statusTtlMs} ms`,
    `  federation    ${args.redisUrl !== undefined ? `Redis ${args.redisUrl.replace(/\/\/[^@/]*@/, '//***@')} as ${args.serverId ?? 'host:port'}, members expire after ${args.memberTtlMs} ms` : 'off (one server, rooms in memory)'}`,
    `  limits        ${args.limits.maxRooms} rooms, ${args.limits.peersPerRoom} peers/room, ${args.limits.socketsPerAddress} sockets/address, ${args.limits.maxMessageBytes} B/message, ${args.limits.messagesPerSecond} msg/s (burst ${args.limits.burst}), close after ${args.limits.violationsBeforeClose} violations`,
  ];
}

/** Help text for the flags, one a line. */
export function serverFlagsHelp(): string[] {
  return Object.values(SERVER_SETTINGS).map(
    (s) => `  --${s.flag.padEnd(24)} ${s.env.padEnd(30)} ${s.help}`,
  );
}
