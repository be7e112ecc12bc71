/**
 * `window.__dlion`: the peer's live status for end-to-end tests, the time-to-accuracy
 * benchmark (bench/tta/live.ts) and a person poking at the page in the devtools. Read-only:
 * tests drive the page through its UI and URL.
 */

import type { PeerStatus } from '../core';
import type { MeshPeer, PeerPhase } from '../mesh';

/** One test-split evaluation (URL `testEverySec`), as the peer reported it. */
export interface TestEvaluation {
  readonly step: number;
  readonly accuracy: number;
  readonly loss: number;
  /** The page's clock (performance.now), ms. */
  readonly atMs: number;
}

export interface DlionTestHandle {
  status(): PeerStatus | undefined;
  phase(): PeerPhase;
  /** This peer's id once joined. */
  id(): string | undefined;
  /** Test-split evaluations so far, oldest first (the last MAX_TEST_EVALUATIONS). */
  testEvaluations(): readonly TestEvaluation[];
  /** Knowledge-transfer merges into this peer so far, kept and rolled back. */
  merges(): { readonly kept: number; readonly rolledBack: number };
}

/** A benchmark evaluates every few seconds: this covers hours, and bounds a forgotten tab. */
export const MAX_TEST_EVALUATIONS = 5000;

declare global {
  /** Set once the page has started its peer. */
  var __dlion: DlionTestHandle | undefined;
}

export function exposeForTests(peer: MeshPeer): void {
  const evaluations: TestEvaluation[] = [];
  const merges = { kept: 0, rolledBack: 0 };
  peer.subscribe((e) => {
    if (e.type === 'evaluation' && e.split === 'test') {
      evaluations.push({ step: e.step, accuracy: e.accuracy, loss: e.loss, atMs: e.atMs });
      if (evaluations.length > MAX_TEST_EVALUATIONS) evaluations.shift();
    } else if (e.type === 'merge') {
      if (e.merge.rolledBack) merges.rolledBack++;
      else merges.kept++;
    }
  });
  globalThis.__dlion = {
    status: () => peer.status(),
    phase: () => peer.phase(),
    id: () => peer.id(),
    testEvaluations: () => [...evaluations],
    merges: () => ({ ...merges }),
  };
}
