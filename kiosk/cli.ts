/**
 * `dlion kiosk`: reads the flags and environment, prints usage on a mistake (exit 2), and
 * runs the kiosk with this process's stdout, signals and host name.
 */

import { hostname } from 'node:os';
import { EXIT, kioskHelp, parseKioskArgs } from './options';
import { type KioskIo, runKiosk } from './run';

export async function runKioskCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const parsed = parseKioskArgs(argv, env);
  if (parsed.kind === 'help') {
    for (const line of kioskHelp()) console.log(line);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    console.error(`dlion kiosk: ${parsed.message}`);
    console.error(
      'usage: dlion kiosk --server URL --room NAME [flags]   (dlion kiosk --help lists them)',
    );
    return EXIT.usage;
  }
  const io: KioskIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    onSignal: (handler) => {
      const on = (signal: NodeJS.Signals) => handler(signal);
      process.on('SIGTERM', on);
      process.on('SIGINT', on);
      return () => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
      };
    },
    hostname: hostname().slice(0, 64) || 'kiosk',
  };
  return runKiosk(parsed.options, io);
}
