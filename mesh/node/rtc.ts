/**
 * The RtcConnector of a Node peer: simple-peer over @roamhq/wrtc, the native WebRTC stack
 * that kiosks and Node tests use in place of the browser's.
 */

import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { type SimplePeerConstructor, simplePeerConnector } from '../simple-peer-link';
import type { RtcConnector } from '../types';

/** Links over real WebRTC data channels (host candidates suffice on one machine or a LAN). */
export function nodeRtcConnector(): RtcConnector {
  return simplePeerConnector({
    // simple-peer's typings describe its full stream API; the adapter needs only a slice of
    // it, described by SimplePeerConstructor, which the real class satisfies at run time.
    SimplePeer: SimplePeer as unknown as SimplePeerConstructor,
    wrtc,
  });
}
