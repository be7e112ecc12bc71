#!/usr/bin/env node
// `dlion` (package.json "bin"): runs the TypeScript command line through tsx, so a clone
// needs no build step: `npx dlion token ROOM`, `npx dlion serve --port 8080`.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../signaling/cli.ts');
process.exitCode = await runCli(process.argv.slice(2), process.env);
