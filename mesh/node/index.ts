/**
 * The Node side of the peer runtime: what a kiosk, a Node test or the benchmark injects into
 * createPeer (clock, WebRTC links, trainer) and the WebSocket its signaling client opens.
 */

export {
  type BandwidthTrial,
  type BandwidthTrialResult,
  runBandwidthTrial,
} from './bandwidth-trial';
export { nodeClock } from './clock';
export {
  createNetnsTopology,
  type NetnsOptions,
  type NetnsPeer,
  type NetnsTopology,
  netnsUnavailable,
} from './netns';
export { nodeRtcConnector } from './rtc';
export { nodeSignaling } from './signaling';
export {
  DEFAULT_TEST_SAMPLES,
  type NodeBackendChoice,
  type NodeTrainerOptions,
  nodeCheckpointKey,
  nodeTrainerFactory,
  type ThreadTrainerOptions,
  threadTrainerFactory,
} from './trainer';
export { createVirtualClock, type VirtualClock } from './virtual-clock';
export { NodeWebSocket } from './websocket';
