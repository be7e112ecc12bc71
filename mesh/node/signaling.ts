/**
 * The signaling connection of a Node peer (a kiosk, a test peer): the signaling client over
 * the `ws` package's WebSocket, to `/ws` on the server at `serverUrl` (http(s):// or ws(s)://).
 *
 * @example createPeer({ ..., signaling: nodeSignaling('http://edge:8080', clock) })
 */

import { createSignalingClient, type MeshClock, type PeerOptions } from '..';
import { NodeWebSocket } from './websocket';

export function nodeSignaling(serverUrl: string, clock: MeshClock): PeerOptions['signaling'] {
  const url = new URL('/ws', serverUrl.replace(/^http/, 'ws')).toString();
  return (hello) =>
    createSignalingClient({ url, WebSocket: NodeWebSocket, hello, clock, random: Math.random });
}
