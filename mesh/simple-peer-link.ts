/**
 * The real link: one simple-peer connection (a reliable, ordered RTCDataChannel) per remote
 * peer. The constructor is injected, so the browser passes simple-peer's prebuilt bundle and
 * Node passes the package together with @roamhq/wrtc; mesh/ never imports either.
 */

import { parseSignalData } from './signal-data';
import type { RtcConnector, RtcLink, RtcLinkOptions } from './types';

/** The part of a simple-peer instance this adapter uses. */
export interface SimplePeerInstance {
  signal(data: unknown): void;
  send(chunk: Uint8Array): void;
  destroy(error?: Error): void;
  readonly bufferSize: number;
  readonly connected: boolean;
  on(event: 'signal', listener: (data: unknown) => void): unknown;
  on(event: 'connect' | 'close', listener: () => void): unknown;
  on(event: 'data', listener: (data: Uint8Array) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SimplePeerConstructor = new (options: Record<string, unknown>) => SimplePeerInstance;

export interface SimplePeerConnectorOptions {
  readonly SimplePeer: SimplePeerConstructor;
  /** @roamhq/wrtc in Node; left out in the browser. */
  readonly wrtc?: unknown;
}

/**
 * A connector over simple-peer. Trickle ICE is on (links open as soon as a host candidate
 * pair works); the channel is simple-peer's default: reliable and ordered, which the framing
 * relies on (frames of a message arrive in order, acks follow their message).
 */
export function simplePeerConnector(options: SimplePeerConnectorOptions): RtcConnector {
  return (link: RtcLinkOptions): RtcLink => {
    const { handlers } = link;
    const peer = new options.SimplePeer({
      initiator: link.initiator,
      trickle: true,
      config: { iceServers: link.iceServers.map((s) => ({ ...s })) },
      ...(options.wrtc === undefined ? {} : { wrtc: options.wrtc }),
    });
    let closed = false;
    const finish = (reason: string) => {
      if (closed) return;
      closed = true;
      handlers.onClose(reason);
    };
    peer.on('signal', (data) => {
      // Our own WebRTC stack produced it; a shape the schema refuses would be refused by the
      // server too, so it is dropped here with the same check.
      const parsed = parseSignalData(data);
      if (parsed !== undefined) handlers.onSignal(parsed);
    });
    peer.on('connect', () => handlers.onOpen());
    peer.on('data', (data) => {
      if (!closed) handlers.onData(data);
    });
    // simple-peer emits 'error' before 'close' on failures (ICE failed, channel error).
    peer.on('error', (error) => finish(`link error: ${error.message}`));
    peer.on('close', () => finish('link closed'));
    return {
      signal(data) {
        if (closed) return;
        try {
          peer.signal(data);
        } catch (error) {
          // simple-peer throws on a signal after destroy or an SDP it cannot apply.
          finish(`bad signal: ${error instanceof Error ? error.message : String(error)}`);
          peer.destroy();
        }
      },
      send(bytes) {
        if (closed || !peer.connected) return false;
        try {
          peer.send(bytes);
          return true;
        } catch (error) {
          // The channel closed between the check and the send.
          finish(`send failed: ${error instanceof Error ? error.message : String(error)}`);
          return false;
        }
      },
      bufferedAmount: () => (closed ? 0 : peer.bufferSize),
      close() {
        if (closed) return;
        finish('closed locally');
        peer.destroy();
      },
    };
  };
}
