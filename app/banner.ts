/**
 * The one sentence at the top of the dashboard: which state the peer is in, seen from its
 * user (a refused token and a full room are different problems with different fixes), what
 * is happening and what to do. Pure.
 */

import type { PeerPhase } from '../mesh';

export type BannerState =
  | 'connecting'
  | 'starting'
  | 'reconnecting'
  | 'token-refused'
  | 'room-full'
  | 'failed'
  | 'alone'
  | 'training'
  | 'paused'
  | 'finished'
  | 'closed';

export interface Banner {
  readonly state: BannerState;
  /** A few words, e.g. "Training alone". */
  readonly title: string;
  /** What is happening and what to do. */
  readonly text: string;
  /** Failures interrupt a screen reader (alert); the rest waits its turn (status). */
  readonly role: 'status' | 'alert';
  /** The page offers to join again (the peer has stopped). */
  readonly rejoin: boolean;
}

export interface BannerInput {
  readonly phase: PeerPhase;
  readonly detail: string;
  readonly code: string | undefined;
  readonly room: string;
  readonly links: number;
  readonly step: number | undefined;
}

const TOKEN_CODES = new Set(['bad-token', 'token-required']);

export function describeBanner(i: BannerInput): Banner {
  const live = (state: BannerState, title: string, text: string): Banner => ({
    state,
    title,
    text,
    role: 'status',
    rejoin: false,
  });
  const stopped = (state: BannerState, title: string, text: string, alert = false): Banner => ({
    state,
    title,
    text,
    role: alert ? 'alert' : 'status',
    rejoin: true,
  });
  switch (i.phase) {
    case 'connecting':
      return live(
        'connecting',
        'Connecting',
        'Opening the connection to the signaling server. If this lasts more than a few seconds, check that the server is running and reachable.',
      );
    case 'starting':
      return live(
        'starting',
        'Starting',
        `Joined room ${i.room}. The trainer is loading its model and data shard and catching up with the mesh; training starts on its own.`,
      );
    case 'reconnecting':
      return live(
        'reconnecting',
        'Signaling lost, reconnecting',
        'The connection to the signaling server dropped. Open links keep training and the page reconnects on its own; nothing to do unless this lasts.',
      );
    case 'paused':
      return live(
        'paused',
        'Paused',
        'You paused this peer. The others carry on and its batch share moves to them; press Resume to train again.',
      );
    case 'training':
      return i.links === 0
        ? live(
            'alone',
            'Training alone',
            `No other peer is linked yet, so this one trains on its own. Open this room (${i.room}) in another tab or on another machine to train together.`,
          )
        : live(
            'training',
            'Training',
            `Training with ${i.links} other peer${i.links === 1 ? '' : 's'}.`,
          );
    case 'finished':
      return stopped(
        'finished',
        'Training finished',
        `The room's step limit was reached${i.step === undefined ? '' : ` after ${i.step} steps`}. Export the metrics below, or join again to keep training.`,
      );
    case 'closed':
      return stopped(
        'closed',
        'Left the room',
        'This peer has left; its last checkpoint is saved in this browser. Join again to resume from it.',
      );
    case 'failed':
      if (i.code !== undefined && TOKEN_CODES.has(i.code)) {
        return stopped(
          'token-refused',
          'Token refused',
          `The server needs a valid join token for room ${i.room}. Ask the room's operator for one and join again with it (the token field of the join form, or ?token= in the address).`,
          true,
        );
      }
      if (i.code === 'room-full') {
        return stopped(
          'room-full',
          'Room full',
          `Room ${i.room} has as many peers as it allows. Try another room, or join again when a peer has left.`,
          true,
        );
      }
      return stopped(
        'failed',
        'Could not run',
        `${i.detail || 'The peer stopped with an error.'} Reload to try again; if it fails the same way, the details are in the browser console.`,
        true,
      );
  }
}
