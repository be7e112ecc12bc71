import { existsSync } from 'node:fs';
import { join } from 'node:path';
/**
 * `dlion`: the command line (bin/dlion.mjs runs it through tsx).
 *   dlion [serve] [flags]      start the signaling server (the default command)
 *   dlion token ROOM [--ttl SECONDS] [--secret S]   print a join token for ROOM
 */

import { parseArgs } from 'node:util';
import * as v from 'valibot';
import { RoomNameSchema } from '../core';
import { describeServerArgs, loadServerOptions, parseServerArgs, serverFlagsHelp } from './config';
import { startSignalingServer } from './server';
import { createToken, DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS } from './tokens';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly error: (line: string) => void;
}

const consoleIo: CliIo = {
  out: (line) => console.log(line),
  error: (line) => console.error(line),
};

const HELP = (): string[] => [
  'dlion: DLion mesh, decentralized training for micro-clouds',
  '',
  'usage:',
  '  dlion [serve] [flags]                      start the signaling server, API and dashboard',
  '  dlion token ROOM [--ttl SECONDS] [--secret S]',
  `                                             print a join token for ROOM (ttl default ${DEFAULT_TOKEN_TTL_SECONDS} s;`,
  '                                             the secret defaults to DLION_SECRET)',
  '  dlion kiosk --server URL --room NAME [flags]',
  '                                             a headless peer for an edge box (dlion kiosk --help)',
  '  dlion export (--state-dir DIR | --checkpoint FILE) --out OUT [--task FILE]',
  '                                             a kept checkpoint as a TF.js Layers model',
  '  dlion --help                               this text',
  '',
  'serve flags (flag, environment variable, meaning; flags win over the environment):',
  ...serverFlagsHelp(),
];

/** Runs one command; resolves to the exit code (serve resolves after a graceful shutdown). */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo = consoleIo,
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    for (const line of HELP()) io.out(line);
    return 0;
  }
  if (first === 'token') return tokenCommand(rest, env, io);
  if (first === undefined || first === 'serve') return serveCommand(rest, env, io);
  if (first.startsWith('-')) return serveCommand(argv, env, io);
  io.error(`dlion: unknown command '${first}' (try dlion --help)`);
  return 2;
}

function tokenCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): number {
  let parsed: ReturnType<typeof parseTokenArgs>;
  try {
    parsed = parseTokenArgs(argv);
  } catch (e) {
    io.error(`dlion token: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const [room, ...extra] = parsed.positionals;
  if (room === undefined || extra.length > 0) {
    io.error('dlion token: give exactly one ROOM (dlion token ROOM [--ttl SECONDS])');
    return 2;
  }
  if (!v.is(RoomNameSchema, room)) {
    io.error(
      `dlion token: '${room}' is not a room name (letters, digits, '_' and '-', at most 64)`,
    );
    return 2;
  }
  const secret = parsed.values.secret ?? env.DLION_SECRET;
  if (secret === undefined || secret === '') {
    io.error(
      'dlion token: no secret: pass --secret S or set DLION_SECRET (the server must use the same one)',
    );
    return 2;
  }
  const ttlText = parsed.values.ttl ?? String(DEFAULT_TOKEN_TTL_SECONDS);
  const ttl = Number(ttlText);
  if (!/^\d+$/.test(ttlText) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
    io.error(`dlion token: --ttl must be an integer in 1..${MAX_TOKEN_TTL_SECONDS} seconds`);
    return 2;
  }
  io.out(createToken(secret, room, ttl));
  return 0;
}

const parseTokenArgs = (argv: readonly string[]) =>
  parseArgs({
    args: [...argv],
    options: { ttl: { type: 'string' }, secret: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });

async function serveCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  const parsed = parseServerArgs(argv, env);
  if (!parsed.ok) {
    for (const line of parsed.error.split('\n')) io.error(`dlion serve: ${line}`);
    io.error('(dlion --help lists the flags)');
    return 2;
  }
  let options: Awaited<ReturnType<typeof loadServerOptions>>;
  try {
    options = await loadServerOptions(parsed.value, io.out);
  } catch (e) {
    io.error(
      `dlion serve: cannot read the TLS files: ${e instanceof Error ? e.message : String(e)}`,
    );
    return 1;
  }
  let server: Awaited<ReturnType<typeof startSignalingServer>>;
  try {
    server = await startSignalingServer(options);
  } catch (e) {
    io.error(`dlion serve: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  io.out('DLion mesh signaling server');
  for (const line of describeServerArgs({ ...parsed.value, port: server.port })) io.out(line);
  io.out(`  websocket     ${server.wsUrl}`);
  io.out('');
  // Only promise a mesh in the browser when there is a dashboard to open.
  const dashboard = existsSync(join(options.staticDir ?? 'dist/app', 'index.html'));
  io.out(
    dashboard
      ? `Open ${server.url}/?room=demo in a few tabs (Ctrl-C stops the server).`
      : `Open ${server.url}/ (the dashboard is not built yet; the API is live). Ctrl-C stops the server.`,
  );
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.error(`dlion serve: ${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      io.out(`dlion serve: ${signal}: closing (peers are told the server is going away)`);
      server.close().then(
        () => done(0),
        (e: unknown) => {
          io.error(`dlion serve: close failed: ${e instanceof Error ? e.message : String(e)}`);
          done(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
