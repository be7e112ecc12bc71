/**
 * Join sync: a peer new to a running room starts from the mesh's parameters, not from
 * scratch. A peer restored from its checkpoint does the same when the mesh has moved past the
 * step it restored (a reloaded tab must not train from an old model, nor make the others'
 * gates wait while it walks up to their step); alone, or ahead, it keeps its checkpoint.
 *
 * Nothing one peer says is taken whole (DESIGN.md 10): the joiner asks up to three peers
 * ahead of it and takes the coordinate-wise median of what they send (one hostile source among
 * three chooses no entry; with two, the mean), and its step is the median of the live peers'
 * last steps, not the highest step anyone claims.
 */

import { coordinateMedian, lastSteps, MAX_STEP, type PeerId } from '../core';
import type { PeerContext } from './peer-context';

/** How long a joiner waits for its links to say hello. */
const JOIN_SYNC_TIMEOUT_MS = 15_000;
/** How long it then waits for the parameters it asked for (400 kB at 2 Mbit/s take 1.6 s;
 * a loaded source may first finish a step and an evaluation). */
const PARAMS_TIMEOUT_MS = 60_000;
/** After this long without an answer, a source is given up and another may be asked. */
const ASK_AGAIN_MS = 10_000;
/** Sources asked at most. */
export const JOIN_SOURCES = 3;
/** Times one source is asked at most, when there is nobody new to ask. */
const JOIN_ASKS = 3;

/** The median of `xs` (the lower middle one of an even count); undefined for none. */
const medianOf = (xs: number[]): number | undefined =>
  xs.length === 0 ? undefined : xs.sort((a, b) => a - b)[(xs.length - 1) >> 1];

/**
 * Waits for the links to the peers already there to say hello, asks up to JOIN_SOURCES peers
 * ahead of our step (0, or the one restored from the checkpoint) for their parameters, and
 * sets the median of what came. Returns without parameters when no peer is ahead or the time
 * is up.
 */
export async function joinSync(ctx: PeerContext): Promise<void> {
  const { s, clock, log, exclusive, refuse } = ctx;
  const from = s.stepIndex;
  const asked = s.joinAsked;
  asked.clear();
  const got: { from: PeerId; values: Float32Array }[] = [];
  let deadline = clock.now() + JOIN_SYNC_TIMEOUT_MS;
  let firstAnswerAt: number | undefined;
  try {
    while (!s.closing && clock.now() < deadline) {
      const now = clock.now();
      const pendingLinks = [...s.remotes.values()].filter((r) => !r.ready);
      const ahead = [...s.remotes.values()]
        .filter((r) => r.ready && r.helloStep > from)
        .sort((a, b) => b.helloStep - a.helloStep);
      // A source that has not answered within ASK_AGAIN_MS is given up (a busy or stuck source
      // must not cost the joiner its start); another may be asked in its place.
      for (const [id, a] of asked) {
        if (a.state === 'waiting' && now - a.atMs > ASK_AGAIN_MS) {
          log('warn', 'no parameters from an asked peer yet: asking another', { from: id });
          a.state = 'gave-up';
        }
      }
      const live = [...asked.values()].filter((a) => a.state !== 'gave-up').length;
      // With nobody new to ask, a source whose answer did not come is asked again: a request
      // can be refused (the source's rate limit, its queue to us still full from the link's
      // first updates) or lost, and one silent round left a joiner with nothing.
      const fresh = ahead.filter((r) => !asked.has(r.id));
      const again = ahead.filter((r) => {
        const a = asked.get(r.id);
        return a !== undefined && a.state === 'gave-up' && a.asks < JOIN_ASKS;
      });
      for (const r of (fresh.length > 0 ? fresh : again).slice(0, JOIN_SOURCES - live)) {
        asked.set(r.id, { atMs: now, state: 'waiting', asks: (asked.get(r.id)?.asks ?? 0) + 1 });
        r.session.sendControl({ type: 'mesh/dkt-request', step: s.stepIndex, purpose: 'join' });
        log('info', 'joining a running mesh: asking for its parameters', { from: r.id });
        deadline = Math.max(deadline, now + PARAMS_TIMEOUT_MS);
      }
      for (let p = s.incomingParams.shift(); p !== undefined; p = s.incomingParams.shift()) {
        if (p.purpose !== 'join') continue;
        got.push({ from: p.from, values: p.message.values });
        firstAnswerAt ??= now;
      }
      const waiting = [...asked.values()].some((a) => a.state === 'waiting');
      // Done with three answers, or with what came once nobody asked is still to answer and no
      // link is still opening (a link that never opens is waited for ASK_AGAIN_MS at most).
      const linksSettled =
        pendingLinks.length === 0 ||
        (firstAnswerAt !== undefined && now - firstAnswerAt > ASK_AGAIN_MS);
      const done = got.length >= JOIN_SOURCES || (got.length > 0 && !waiting && linksSettled);
      if (done) break;
      if (pendingLinks.length === 0 && ahead.length === 0 && !waiting) {
        log(
          'info',
          from > 0
            ? 'no peer is ahead: going on from the checkpoint'
            : 'no peer is ahead: starting from the room seed',
        );
        return;
      }
      await ctx.waitChange(200);
    }
    if (s.closing) return;
    if (got.length === 0) {
      log('warn', 'join sync gave up: starting without the mesh parameters', {
        asked: [...asked.keys()],
      });
      return;
    }
    const values = coordinateMedian(got.map((g) => g.values));
    const set = await exclusive((t) => t.setParams(values));
    if (set instanceof Error) {
      refuse('bad-params', set.message, got[0]!.from);
      return;
    }
    // The mesh's step: the median of the live peers' last steps (the parameters left their
    // sources a while ago; one peer's claim, however high, does not move a median of several),
    // never below where we are, never past what the wire's u32 steps hold.
    const steps = [...lastSteps(s.membership).values()].filter((x) => x >= 0).map((x) => x + 1);
    const step = Math.max(from, medianOf(steps) ?? from);
    s.stepIndex = Math.min(step, MAX_STEP);
    log('info', 'started from the mesh parameters', {
      from: got.map((g) => g.from),
      step: s.stepIndex,
    });
  } finally {
    asked.clear();
  }
}
