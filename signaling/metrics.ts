/**
 * The server's counters and their Prometheus text rendering (GET /metrics). Gauges that the
 * room table already knows (rooms, peers, sockets) are read at render time, not kept twice.
 */

import { SIGNALING_ERROR_CODES, type SignalingErrorCode } from '../core';

export interface Metrics {
  connections: number;
  relayed: number;
  evictions: number;
  /** Resumes of a peer id without its key (or with a wrong one): a new id was given. */
  resumesRefused: number;
  readonly rejects: Map<SignalingErrorCode, number>;
}

export const createMetrics = (): Metrics => ({
  connections: 0,
  relayed: 0,
  evictions: 0,
  resumesRefused: 0,
  // Every reason starts at 0, so a dashboard sees the series before the first reject.
  rejects: new Map(SIGNALING_ERROR_CODES.map((code) => [code, 0])),
});

export const countReject = (m: Metrics, code: SignalingErrorCode): void => {
  m.rejects.set(code, (m.rejects.get(code) ?? 0) + 1);
};

export interface Gauges {
  rooms: number;
  peers: number;
  sockets: number;
}

/** What a federated server adds: whether Redis answers, and the traffic through it. */
export interface FederationGauges {
  up: boolean;
  sent: number;
  received: number;
  rejected: number;
  remotePeers: number;
}

/** Prometheus text exposition format 0.0.4. */
export function renderMetrics(m: Metrics, g: Gauges, f?: FederationGauges): string {
  const memory = process.memoryUsage();
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric('dlion_rooms', 'gauge', 'Rooms with at least one peer.', [['', g.rooms]]);
  metric('dlion_peers', 'gauge', 'Peers joined to a room.', [['', g.peers]]);
  metric('dlion_sockets', 'gauge', 'Open WebSockets, joined or not.', [['', g.sockets]]);
  metric('dlion_connections_total', 'counter', 'WebSockets accepted since start.', [
    ['', m.connections],
  ]);
  metric('dlion_relayed_messages_total', 'counter', 'sig/signal messages relayed.', [
    ['', m.relayed],
  ]);
  metric('dlion_evictions_total', 'counter', 'Peers evicted for silence.', [['', m.evictions]]);
  metric(
    'dlion_resumes_refused_total',
    'counter',
    'Resumes of a peer id without its key: a new id was given.',
    [['', m.resumesRefused]],
  );
  metric(
    'dlion_rejects_total',
    'counter',
    'Client messages or sockets refused, by error code.',
    [...m.rejects].map(([code, n]) => [`{reason="${code}"}`, n]),
  );
  if (f !== undefined) {
    metric('dlion_redis_up', 'gauge', 'Whether Redis answers (1) or not (0: degraded).', [
      ['', f.up ? 1 : 0],
    ]);
    metric('dlion_federation_peers', 'gauge', "Other servers' peers in this server's rooms.", [
      ['', f.remotePeers],
    ]);
    metric('dlion_federation_signals_total', 'counter', 'Signals relayed through Redis.', [
      ['{direction="sent"}', f.sent],
      ['{direction="received"}', f.received],
    ]);
    metric(
      'dlion_federation_rejected_total',
      'counter',
      'Messages or values read from Redis and refused.',
      [['', f.rejected]],
    );
  }
  metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', [['', memory.rss]]);
  metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [['', memory.heapUsed]]);
  return `${lines.join('\n')}\n`;
}
