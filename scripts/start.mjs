// `npm start`: the main job in one process. Builds what is missing (the dashboard, app/, into
// dist/app, once app/ exists), then starts the signaling server (signaling/cli.ts through
// tsx) on PORT (default 8080) with the embedded defaults, and prints the URL to open.
// Extra arguments are passed on: `npm start -- --port 9000 --secret S`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

if (existsSync('app') && !existsSync(join('dist', 'app', 'index.html'))) {
  console.log('npm start: building the dashboard (vite build: app/ -> dist/app)');
  const { build } = await import('vite');
  await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
} else if (!existsSync('app')) {
  console.log(
    'npm start: no dashboard yet (app/ lands in a later step): / shows a short note; ' +
      'the WebSocket, /api, /metrics and /healthz are live.',
  );
}

const { register } = await import('tsx/esm/api');
register();
const { runCli } = await import('../signaling/cli.ts');
process.exitCode = await runCli(['serve', ...process.argv.slice(2)], process.env);
