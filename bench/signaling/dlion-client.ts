/** The bench's client of the DLion signaling server: sig/hello, heartbeats, sig/signal. */

import {
  candidateSignal,
  listenForSignals,
  nextMessage,
  openSocket,
  type Peer,
  type Protocol,
  seqOfCandidate,
} from './clients';

export function dlionProtocol(protocolVersion: number): Protocol {
  return {
    async join(url, room, index) {
      const ws = await openSocket(url);
      const welcome = nextMessage(
        ws,
        (m) => {
          if (m.type === 'sig/error') throw new Error(`hello refused: ${JSON.stringify(m)}`);
          return m.type === 'sig/welcome'
            ? { peerId: String(m.peerId), heartbeatMs: Number(m.heartbeatMs) }
            : undefined;
        },
        `welcome of peer ${index}`,
      );
      ws.send(
        JSON.stringify({
          type: 'sig/hello',
          protocol: protocolVersion,
          room,
          name: `bench-${index}`,
          kind: 'kiosk',
        }),
      );
      const { peerId, heartbeatMs } = await welcome;
      // Live peers heartbeat at the period the welcome asks for, as the mesh's peers do.
      const heartbeat = setInterval(
        () => ws.send(JSON.stringify({ type: 'sig/heartbeat' })),
        heartbeatMs,
      );
      heartbeat.unref();
      ws.on('close', () => clearInterval(heartbeat));
      const peer: Peer = {
        ws,
        id: peerId,
        close: () => {
          clearInterval(heartbeat);
          ws.terminate();
        },
      };
      listenForSignals(peer, (m) => {
        if (m.type === 'sig/error') console.error(`peer ${index}: ${JSON.stringify(m)}`);
        return m.type === 'sig/signal' ? seqOfCandidate(m.data) : undefined;
      });
      return peer;
    },
    // Peers of one room already reach each other by id.
    pair: async () => {},
    signal: (_a, b, k, seq) =>
      JSON.stringify({ type: 'sig/signal', to: b.id, data: candidateSignal(seq, k) }),
  };
}
