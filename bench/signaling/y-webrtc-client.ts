/**
 * The bench's client of y-webrtc's signaling server (bin/server.js): subscribe to topics,
 * publish to a topic, ping/pong. The server relays a publish to every subscriber of its topic,
 * the sender included; a y-webrtc peer filters by its own `to` field.
 */

import {
  candidateSignal,
  listenForSignals,
  nextMessage,
  openSocket,
  type Peer,
  type Protocol,
  seqOfCandidate,
} from './clients';

/** Subscribes `ws` to `topics`; the pong after it proves the server has handled it. */
async function subscribe(peer: Peer, topics: string[]): Promise<void> {
  const pong = nextMessage(peer.ws, (m) => (m.type === 'pong' ? true : undefined), 'pong');
  peer.ws.send(JSON.stringify({ type: 'subscribe', topics }));
  peer.ws.send(JSON.stringify({ type: 'ping' }));
  await pong;
}

const pairTopic = (k: number) => `pair-${k}`;

export const yWebrtcProtocol: Protocol = {
  async join(url, room, index) {
    const ws = await openSocket(url);
    // y-webrtc peers choose their own ids.
    const peer: Peer = { ws, id: `peer-${index}`, close: () => ws.terminate() };
    await subscribe(peer, [room]);
    listenForSignals(peer, (m) =>
      m.type === 'publish' && m.to === peer.id ? seqOfCandidate(m.data) : undefined,
    );
    return peer;
  },
  // A two-subscriber topic makes a publish a 1:1 relay (plus the echo to the sender), like a
  // DLion sig/signal; a publish to the 20-peer room topic would fan out to all of them.
  pair: async (a, b, k) => {
    await Promise.all([subscribe(a, [pairTopic(k)]), subscribe(b, [pairTopic(k)])]);
  },
  signal: (a, b, k, seq) =>
    JSON.stringify({
      type: 'publish',
      topic: pairTopic(k),
      from: a.id,
      to: b.id,
      data: candidateSignal(seq, k),
    }),
};
