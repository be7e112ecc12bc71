/**
 * Starts the DLion signaling server in its own process for bench/signaling.ts, with limits
 * raised for one loopback address carrying every client, and prints `port=<n>` once it listens.
 * With REDIS_URL (and DLION_SERVER_ID) in the environment it joins that federation.
 */

import { DEFAULT_LIMITS, startSignalingServer } from '../../signaling';

const server = await startSignalingServer({
  port: 0,
  host: '127.0.0.1',
  limits: {
    ...DEFAULT_LIMITS,
    // Every bench client comes from 127.0.0.1, and pacing, not the limiter, keeps the
    // relays apart; the room cap stays the room config's default (16).
    socketsPerAddress: 5000,
    messagesPerSecond: 100_000,
    burst: 100_000,
    peersPerRoom: 64,
    maxRooms: 10_000,
  },
  // The per-connection lines would only cost time in the measurement.
  log: () => {},
  ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
  ...(process.env.DLION_SERVER_ID ? { serverId: process.env.DLION_SERVER_ID } : {}),
});
console.log(`port=${server.port}`);

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => process.exit(0));
});
