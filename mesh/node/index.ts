/**
 * The Node side of the peer runtime: what a kiosk, a Node test or the benchmark injects into
 * createPeer (clock, WebRTC links, trainer) and the WebSocket its signaling client opens.
 */

export { nodeClock } from './clock';
export { nodeRtcConnector } from './rtc';
export { nodeSignaling } from './signaling';
export {
  DEFAULT_TEST_SAMPLES,
  type NodeBackendChoice,
  type NodeTrainerOptions,
  nodeCheckpointKey,
  nodeTrainerFactory,
  optimizerFromConfig,
} from './trainer';
export { type ThreadTrainerOptions, threadTrainerFactory } from './trainer-thread';
export { NodeWebSocket } from './websocket';
