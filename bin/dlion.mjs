#!/usr/bin/env node
// `dlion` (package.json "bin"): runs the TypeScript command line through tsx, so a clone
// needs no build step: `npx dlion serve --port 8080`, `npx dlion token ROOM`,
// `npx dlion kiosk --server URL --room NAME`, `npx dlion export --state-dir DIR --out OUT`.
import { register } from 'tsx/esm/api';

register();
const [command, ...rest] = process.argv.slice(2);
if (command === 'kiosk') {
  const { runKioskCli } = await import('../kiosk/cli.ts');
  const code = await runKioskCli(rest, process.env);
  // WebRTC and the trainer thread may hold handles open after a clean leave: the exit code is
  // the kiosk's answer, so end here.
  process.exit(code);
} else if (command === 'export') {
  const { runExportCli } = await import('../kiosk/export-cli.ts');
  process.exit(await runExportCli(rest));
} else {
  const { runCli } = await import('../signaling/cli.ts');
  process.exitCode = await runCli(process.argv.slice(2), process.env);
}
