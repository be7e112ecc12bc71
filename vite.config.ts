import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

// The dashboard (app/, Solid) is built into dist/app and served by the signaling server.
// In `npm run dev` the WebSocket and API calls are proxied to a server on PORT (default 8080).
const serverPort = Number(process.env.PORT ?? 8080);

export default defineConfig({
  root: 'app',
  publicDir: '../public',
  plugins: [solid()],
  build: { outDir: '../dist/app', emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
  server: {
    proxy: {
      '/ws': { target: `ws://localhost:${serverPort}`, ws: true },
      '/api': `http://localhost:${serverPort}`,
    },
  },
});
