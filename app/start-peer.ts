/**
 * The wiring of a browser peer: the mesh runtime (createPeer) with the page's adapters, i.e.
 * the WebSocket signaling client, simple-peer over the browser's WebRTC, the trainer in a Web
 * Worker, the page's clock and the console.
 */

import { createPeer, createSignalingClient, type MeshPeer } from '../mesh';
import { browserClock } from './adapters/clock';
import { consoleLogger } from './adapters/console-logger';
import { createPeerIdStore } from './adapters/peer-id-store';
import { browserRtcConnector } from './adapters/simple-peer';
import { workerTrainerFactory } from './adapters/worker-trainer';
import type { NewRoomModel } from './model-upload';
import type { JoinParams } from './params';

/** The signaling WebSocket on the server that served the page: wss behind https. */
export const signalingUrl = (location: Pick<Location, 'protocol' | 'host'>): string =>
  `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;

/** Joins the room `p` names; the returned peer is already connecting. */
export function startPeer(p: JoinParams, model?: NewRoomModel): MeshPeer {
  const clock = browserClock();
  const log = consoleLogger(p.name);
  const ids = createPeerIdStore(window.localStorage, p.room, p.name);
  const kept = ids.load();
  const url = signalingUrl(window.location);
  const peer = createPeer({
    room: p.room,
    name: p.name,
    kind: 'browser',
    ...(p.token === undefined ? {} : { token: p.token }),
    ...(p.site === undefined ? {} : { site: p.site }),
    config: p.config,
    ...(kept === undefined ? {} : { resumePeerId: kept.peerId }),
    ...(kept?.resumeKey === undefined ? {} : { resumeKey: kept.resumeKey }),
    emulation: {
      slowdown: p.slowdown,
      uplinkBps: p.uplinkMbps === undefined ? undefined : p.uplinkMbps * 1e6,
    },
    signaling: (hello) =>
      createSignalingClient({ url, WebSocket, hello, clock, random: Math.random, log }),
    rtc: browserRtcConnector(),
    createTrainer: workerTrainerFactory({
      room: p.room,
      name: p.name,
      backend: p.backend,
      slowdown: p.slowdown,
      newRoomModel: model,
    }),
    clock,
    random: Math.random,
    log,
    ...(p.testEverySec === undefined ? {} : { testEveryMs: p.testEverySec * 1000 }),
  });
  // Remembered as soon as the server assigns it, so a reload at any later point resumes.
  peer.subscribe((event) => {
    if (event.type === 'joined') ids.save(event.peerId, event.resumeKey);
  });
  return peer;
}
