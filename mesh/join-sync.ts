/**
 * Join sync: a peer new to a running room starts from the mesh's parameters, not from
 * scratch. It asks the peer furthest ahead for them, sets them, and takes the mesh's step.
 */

import { lastSteps } from '../core';
import type { PeerContext } from './peer-context';

/** How long a joiner waits for its links to say hello. */
const JOIN_SYNC_TIMEOUT_MS = 15_000;
/** How long it then waits for the parameters it asked for (400 kB at 2 Mbit/s take 1.6 s;
 * a loaded source may first finish a step and an evaluation). */
const PARAMS_TIMEOUT_MS = 60_000;
/** After this long without an answer, ask another peer. */
const ASK_AGAIN_MS = 10_000;

/**
 * Waits for the links to the peers already there to say hello, asks the one furthest ahead
 * for its parameters and sets them. Returns at once for a peer restored from its checkpoint,
 * and without parameters when no peer is ahead or the time is up.
 */
export async function joinSync(ctx: PeerContext, restored: boolean): Promise<void> {
  const { s, clock, log, exclusive, refuse } = ctx;
  if (restored) return;
  // Give the links to the peers listed in the welcome a moment to say hello.
  let deadline = clock.now() + JOIN_SYNC_TIMEOUT_MS;
  const unanswered = new Set<string>();
  while (!s.closing && clock.now() < deadline) {
    const pendingLinks = [...s.remotes.values()].filter((r) => !r.ready);
    const ahead = [...s.remotes.values()].filter((r) => r.ready && r.helloStep > 0);
    // A source that has not answered within ASK_AGAIN_MS is asked no more: the next peer
    // ahead is (a busy or stuck source must not cost the joiner its start).
    if (s.request?.purpose === 'join' && clock.now() - s.request.atMs > ASK_AGAIN_MS) {
      log('warn', 'no parameters from the asked peer yet: asking another', { from: s.request.to });
      unanswered.add(s.request.to);
      s.request = undefined;
    }
    if (ahead.length > 0 && s.request === undefined && s.incomingParams.length === 0) {
      ahead.sort(
        (a, b) =>
          Number(unanswered.has(a.id)) - Number(unanswered.has(b.id)) || b.helloStep - a.helloStep,
      );
      if (ahead.every((r) => unanswered.has(r.id))) unanswered.clear();
      const source = ahead[0]!;
      s.request = { to: source.id, purpose: 'join', atMs: clock.now() };
      source.session.sendControl({ type: 'mesh/dkt-request', step: s.stepIndex, purpose: 'join' });
      log('info', 'joining a running mesh: asking for its parameters', { from: source.id });
      deadline = Math.max(deadline, clock.now() + PARAMS_TIMEOUT_MS);
    }
    const got = s.incomingParams.shift();
    if (got !== undefined) {
      const set = await exclusive((t) => t.setParams(got.message.values));
      if (set instanceof Error) refuse('bad-params', set.message, got.from);
      else {
        // The parameters left the source a while ago (on a slow link, seconds): take the
        // step the mesh is at now, so no peer's gate waits for us to walk up to it.
        let furthest = got.message.step;
        for (const last of lastSteps(s.membership).values())
          furthest = Math.max(furthest, last + 1);
        s.stepIndex = furthest;
        log('info', 'started from the mesh parameters', { from: got.from, step: s.stepIndex });
        return;
      }
    }
    if (pendingLinks.length === 0 && ahead.length === 0) {
      log('info', 'no peer is ahead: starting from the room seed');
      return;
    }
    await ctx.waitChange(200);
  }
  if (!s.closing) {
    log('warn', 'join sync gave up: starting without the mesh parameters', {
      asked: s.request?.to ?? null,
    });
  }
}
