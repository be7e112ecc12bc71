/**
 * A peer's side of signaling: the hello it joins (or rejoins) with, and what it does with
 * each server message: the welcome, peers joining and leaving, relayed SDP/ICE, errors, and
 * the connection closing for a while or for good.
 */

import {
  createTrust,
  type PeerId,
  PROTOCOL_VERSION,
  type SignalingClientMessageOf,
  type SignalingServerMessage,
  strategyTraits,
} from '../core';
import type { PeerContext } from './peer-context';
import { describeServerError } from './server-errors';
import type { PeerOptions, RtcLinkOptions, SignalingEvent } from './types';

/** Most relayed signals kept for a peer that has no link yet. */
const MAX_BUFFERED_SIGNALS = 64;

/**
 * The hello for the next connection attempt: after the first welcome it asks for the id the
 * server gave us (a reconnect), before it for the id the page or kiosk remembers, if any.
 */
export function signalingHello(
  o: Pick<
    PeerOptions,
    'room' | 'name' | 'kind' | 'token' | 'site' | 'config' | 'resumePeerId' | 'resumeKey'
  >,
  selfId: PeerId | undefined,
): SignalingClientMessageOf<'sig/hello'> {
  return {
    type: 'sig/hello' as const,
    protocol: PROTOCOL_VERSION,
    room: o.room as never,
    name: o.name,
    kind: o.kind,
    ...(o.token === undefined ? {} : { token: o.token }),
    ...(o.site === undefined ? {} : { site: o.site }),
    ...(o.config === undefined ? {} : { config: o.config as Record<string, unknown> }),
    ...(selfId !== undefined
      ? { resume: { peerId: selfId } }
      : o.resumePeerId !== undefined
        ? {
            resume: {
              peerId: o.resumePeerId as PeerId,
              ...(o.resumeKey === undefined ? {} : { key: o.resumeKey }),
            },
          }
        : {}),
  };
}

/** What signaling drives in the rest of the peer. */
export interface SignalingDeps {
  connectTo(id: PeerId, initiator: boolean): void;
  dropRemote(id: PeerId, reason: string): void;
  /** Starts the trainer and the loop once the room is joined. */
  start(slot: number, iceServers: RtcLinkOptions['iceServers']): Promise<void>;
  shutdown(graceful: boolean): Promise<void>;
}

/** The listener to subscribe to the signaling connection. */
export function createSignalingHandler(
  ctx: PeerContext,
  deps: SignalingDeps,
): (event: SignalingEvent) => void {
  const { s, log, emit, setPhase, refuse } = ctx;
  const { connectTo, dropRemote, start, shutdown } = deps;

  const onSignaling = (message: SignalingServerMessage) => {
    switch (message.type) {
      case 'sig/welcome': {
        if (s.selfId === undefined) {
          s.selfId = message.peerId;
          s.config = message.config;
          s.traits = strategyTraits(s.config.strategy);
          s.trust = createTrust(3);
          emit({
            type: 'joined',
            peerId: s.selfId,
            ...(message.resumeKey === undefined ? {} : { resumeKey: message.resumeKey }),
            config: s.config,
            slot: message.slot,
          });
          setPhase('starting', `joined room ${message.room} as ${s.selfId}; starting the trainer`);
          void start(message.slot, message.iceServers);
        } else {
          if (s.phase === 'reconnecting')
            setPhase(s.paused ? 'paused' : 'training', 'signaling is back');
        }
        const first = s.listedInWelcome.size === 0 && s.trainer === undefined;
        s.iceServers = message.iceServers;
        for (const p of message.peers) {
          s.knownNames.set(p.id, p.name);
          if (first) {
            // The joiner opens the links to the peers already there (once its trainer runs).
            s.listedInWelcome.add(p.id);
          } else if (!s.remotes.has(p.id) && s.selfId < p.id) {
            // A welcome after a reconnect (a restarted server): both sides may see each other
            // listed, so only the lower id offers; two offers would collide (glare).
            connectTo(p.id, true);
          }
        }
        return;
      }
      case 'sig/peer-joined':
        s.knownNames.set(message.peer.id, message.peer.name);
        emit({ type: 'peer-joined', peerId: message.peer.id, name: message.peer.name });
        return;
      case 'sig/peer-left':
        dropRemote(message.peerId, `left the room (${message.reason})`);
        return;
      case 'sig/signal': {
        const r = s.remotes.get(message.from);
        if (r !== undefined) {
          r.session.signal(message.data);
        } else if (message.data.type === 'offer' || s.trainer === undefined) {
          // An offer from a peer we have no link to (it joined after us), or anything while
          // our trainer is still starting: kept until the link exists.
          const list = s.bufferedSignals.get(message.from) ?? [];
          if (list.length < MAX_BUFFERED_SIGNALS) list.push(message.data);
          s.bufferedSignals.set(message.from, list);
          if (s.trainer !== undefined) connectTo(message.from, false);
        }
        return;
      }
      case 'sig/error':
        if (message.fatal) {
          if (s.selfId === undefined) {
            setPhase('failed', describeServerError(message.code, message.message), message.code);
            void shutdown(false);
          } else {
            log('warn', 'signaling error after joining', {
              code: message.code,
              message: message.message,
            });
          }
        } else {
          log('warn', 'signaling refused a message', {
            code: message.code,
            message: message.message,
          });
        }
        return;
    }
  };

  return (event) => {
    if (s.closing) return;
    if (event.type === 'message') onSignaling(event.message);
    else if (event.type === 'invalid') refuse('bad-signal', event.error.message);
    else if (event.type === 'closed') {
      if (event.retryInMs !== undefined) {
        if (s.selfId !== undefined && s.phase !== 'finished') {
          setPhase('reconnecting', `signaling lost (${event.reason}); open links keep training`);
        }
      } else if (s.selfId === undefined) {
        if (s.phase !== 'failed') setPhase('failed', `could not join: ${event.reason}`);
        void shutdown(false);
      } else {
        log('warn', 'signaling closed for good; links keep training', { reason: event.reason });
      }
    }
  };
}
