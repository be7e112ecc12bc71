/**
 * The RtcConnector of a browser peer: simple-peer over the browser's own RTCPeerConnection.
 * The prebuilt bundle is imported, not the package's main entry: that one requires Node
 * built-ins (buffer, stream, events) that a browser build would have to shim.
 */

import SimplePeer from 'simple-peer/simplepeer.min.js';
import { type RtcConnector, type SimplePeerConstructor, simplePeerConnector } from '../../mesh';

/** Links over the browser's WebRTC data channels. */
export function browserRtcConnector(): RtcConnector {
  // The bundle is untyped (see simple-peer-bundle.d.ts); its class has the slice of the API that
  // SimplePeerConstructor describes.
  return simplePeerConnector({ SimplePeer: SimplePeer as SimplePeerConstructor });
}
