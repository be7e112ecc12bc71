/**
 * The server's plain HTTP side: /healthz, /metrics, /api/rooms[/:room], the shard files
 * (/data/shard/, worker/node/shard-files.ts) and the built dashboard from a static folder.
 */

import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { handleShardRequest } from '../worker/node/shard-files';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.gz': 'application/octet-stream',
};

/** What the HTTP side reads from the rest of the server. */
export interface HttpDeps {
  readonly staticDir: string;
  readonly uptimeSec: () => number;
  readonly metricsText: () => string;
  /** /healthz: 'ok', or 'degraded' while a federated server cannot reach Redis. */
  readonly health: () => { readonly status: 'ok' | 'degraded'; readonly redis: string };
  /** The list for GET /api/rooms (the whole federation's when federated). */
  readonly listRooms: () => unknown[] | Promise<unknown[]>;
  /** The body for GET /api/rooms/:room, undefined for an unknown room. */
  readonly describeRoom: (room: string) => unknown;
  readonly log: (line: string) => void;
}

const ROOM_PATH = /^\/api\/rooms\/([^/]+)\/?$/;

/** Answers one request; never rejects (a failure becomes a 500). */
export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  deps: HttpDeps,
): Promise<void> {
  try {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendJson(res, 400, { error: 'bad request' });
      return;
    }
    const path = url.pathname;
    if (path === '/healthz') {
      // 200 while degraded too: the server still serves its own peers.
      sendJson(res, 200, { ok: true, ...deps.health(), uptimeSec: deps.uptimeSec() });
      return;
    }
    if (path === '/metrics') {
      send(res, 200, deps.metricsText(), 'text/plain; version=0.0.4; charset=utf-8', method);
      return;
    }
    if (path === '/api/rooms' || path === '/api/rooms/') {
      sendJson(res, 200, { rooms: await deps.listRooms() });
      return;
    }
    const roomMatch = ROOM_PATH.exec(path);
    if (roomMatch) {
      let room: string;
      try {
        room = decodeURIComponent(roomMatch[1] ?? '');
      } catch {
        sendJson(res, 400, { error: 'bad room name' });
        return;
      }
      const body = await deps.describeRoom(room);
      if (body === undefined) sendJson(res, 404, { error: 'no such room', room });
      else sendJson(res, 200, body);
      return;
    }
    if (path.startsWith('/api/')) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    if (path === '/ws') {
      send(res, 426, 'this path takes WebSocket connections only\n', TYPES['.txt'], method, {
        Upgrade: 'websocket',
      });
      return;
    }
    if (await handleShardRequest(url, res)) return;
    await serveStatic(path, res, deps.staticDir, method);
  } catch (e) {
    deps.log(`http: ${req.url ?? '?'}: ${e instanceof Error ? e.message : String(e)}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    else res.destroy();
  }
}

/**
 * Serves `path` (a URL pathname, still percent-encoded) from `staticDir`: content types, no
 * traversal (encoded dot segments and NUL refused), index.html for folders, and the
 * "not built yet" page when the folder is missing. Also used by the Playwright test server.
 */
export async function serveStatic(
  path: string,
  res: ServerResponse,
  staticDir: string,
  method: string,
): Promise<void> {
  const root = resolve(staticDir);
  const rootInfo = await stat(root).catch(() => undefined);
  if (!rootInfo?.isDirectory()) {
    if (path === '/' || path === '/index.html') {
      send(res, 200, notBuiltPage(root), TYPES['.html'], method);
    } else {
      send(res, 404, 'not found\n', TYPES['.txt'], method);
    }
    return;
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    send(res, 400, 'bad path\n', TYPES['.txt'], method);
    return;
  }
  // The URL parser drops plain dot segments; this also refuses encoded ones (%2e%2e, %2f)
  // and NUL bytes, which the file system would otherwise see.
  if (decoded.includes('\0')) {
    send(res, 400, 'bad path\n', TYPES['.txt'], method);
    return;
  }
  let file = normalize(join(root, decoded));
  if (file !== root && !file.startsWith(root + sep)) {
    send(res, 403, 'forbidden\n', TYPES['.txt'], method);
    return;
  }
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = join(file, 'index.html');
    info = await stat(file).catch(() => undefined);
  }
  if (!info?.isFile()) {
    send(res, 404, 'not found\n', TYPES['.txt'], method);
    return;
  }
  const body = await readFile(file);
  const headers: Record<string, string> = {
    'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': String(body.byteLength),
    'X-Content-Type-Options': 'nosniff',
    // Vite fingerprints everything under assets/; the page itself must always be fresh.
    'Cache-Control': decoded.startsWith('/assets/')
      ? 'public, max-age=31536000, immutable'
      : 'no-cache',
  };
  res.writeHead(200, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/** What `/` says until the dashboard (app/) exists and is built into the static folder. */
const notBuiltPage = (root: string): string => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>DLion mesh: signaling server</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>DLion mesh signaling server</h1>
<p>The server is running: the signaling WebSocket is at <code>/ws</code>, the API at
<a href="/api/rooms"><code>/api/rooms</code></a>, metrics at <a href="/metrics"><code>/metrics</code></a>
and health at <a href="/healthz"><code>/healthz</code></a>.</p>
<p><strong>The dashboard is not built yet.</strong> No files were found in
<code>${escapeHtml(root)}</code>. The browser app (<code>app/</code>) lands in a later step of
this project; once it exists, <code>npm start</code> builds it (<code>vite build</code> into
<code>dist/app</code>) and this page becomes the dashboard.</p>
</body>
</html>
`;

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type: string | undefined,
  method = 'GET',
  extra: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': type ?? 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(method === 'HEAD' ? undefined : body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  send(res, status, `${JSON.stringify(body)}\n`, 'application/json; charset=utf-8', 'GET', extra);
}
