/**
 * The WebSocket a Node peer's signaling client opens: the `ws` package's class, which has the
 * browser WebSocket's constructor and event API (Node 20 has no global WebSocket by default).
 */

import { WebSocket } from 'ws';

/** Pass this where the signaling client takes a WebSocket constructor. */
export const NodeWebSocket = WebSocket;
