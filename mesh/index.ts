/**
 * The peer runtime (DESIGN.md 2 to 5): signaling client, one link per remote peer, bandwidth
 * estimation, the staleness gate, the exchange of each strategy and knowledge transfer.
 * Environment-agnostic: sockets, links, the trainer, storage and the clock are injected.
 */

export {
  type Adversary,
  type AdversaryOptions,
  ATTACK_KINDS,
  type AttackKind,
  LIAR_CAPACITY,
  startAdversary,
} from './adversary';
export * from './events';
export { createPeer, MAX_UPDATE_ABS } from './peer';
export {
  effectiveCapBps,
  type SiteLinkShape,
  type SiteShaping,
  siteLinkShape,
} from './shaper';
export {
  createSignalingClient,
  type SignalingClient,
  type SignalingClientOptions,
  type WebSocketConstructor,
} from './signaling-client';
export {
  type SimplePeerConstructor,
  type SimplePeerInstance,
  simplePeerConnector,
} from './simple-peer-link';
export { type SiteLink, type SiteLinks, SiteLinksSchema, siteShapingFrom } from './site-links';
export * from './types';
