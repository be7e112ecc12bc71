/**
 * `window.__dlion`: the peer's live status for end-to-end tests and for a person poking at
 * the page in the devtools. Read-only: tests drive the page through its UI and URL.
 */

import type { PeerStatus } from '../core';
import type { MeshPeer, PeerPhase } from '../mesh';

export interface DlionTestHandle {
  status(): PeerStatus | undefined;
  phase(): PeerPhase;
}

declare global {
  /** Set once the page has started its peer. */
  var __dlion: DlionTestHandle | undefined;
}

export function exposeForTests(peer: MeshPeer): void {
  globalThis.__dlion = { status: () => peer.status(), phase: () => peer.phase() };
}
