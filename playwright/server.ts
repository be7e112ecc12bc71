/**
 * A tiny static server for the e2e tests and the trainer benchmark: the built harness plus
 * the shard files (/data/shard/), on an ephemeral port, with a log of what was requested.
 */

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { serveStatic } from '../signaling/http';
import { handleShardRequest } from '../worker/node/shard-files';

export interface ServedRequest {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly url: string;
  readonly status: number;
  /** Body bytes sent. */
  readonly bytes: number;
}

export interface StaticServer {
  /** e.g. http://127.0.0.1:41234: 127.0.0.1 is a secure context, so WebGPU is offered. */
  readonly url: string;
  readonly port: number;
  /** Every request answered so far, in order. */
  readonly requests: readonly ServedRequest[];
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** The folder to serve (the harness build). */
  readonly root: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
}

/** Starts the server; resolves once it listens. */
export async function startServer(o: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(o.root);
  const requests: ServedRequest[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    // Counted at the body writes: headers given to writeHead are not readable with getHeader.
    let bytes = 0;
    const count = (chunk: unknown) => {
      if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((...args: unknown[]) => {
      count(args[0]);
      return write(...args);
    }) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      if (typeof args[0] !== 'function') count(args[0]);
      return end(...args);
    }) as typeof res.end;
    res.on('finish', () => {
      requests.push({ method: req.method ?? 'GET', url, status: res.statusCode, bytes });
    });
    void answer(req.method ?? 'GET', url, res, root);
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, '127.0.0.1', done);
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function answer(
  method: string,
  url: string,
  res: ServerResponse,
  root: string,
): Promise<void> {
  try {
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (await handleShardRequest(url, res)) return;
    // The same static file serving as the signaling server's, which will serve the dashboard.
    let pathname: string;
    try {
      pathname = new URL(url, 'http://localhost').pathname;
    } catch {
      res.writeHead(400).end();
      return;
    }
    await serveStatic(pathname, res, root, method);
  } catch (e) {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${e instanceof Error ? e.message : String(e)}\n`);
  }
}
