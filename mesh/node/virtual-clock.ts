/**
 * A discrete-event clock for the sim mode: a MeshClock whose time moves only when every peer
 * is waiting. Timers sit in a heap; `runUntil` fires the earliest one, lets the promise chains
 * it started settle (microtasks, plus any real work registered with `track`, such as a tfjs
 * step), and only then moves time to the next timer. Compute is therefore charged as virtual
 * time by whoever sleeps on this clock, never by how long the real work took on this machine.
 */

import type { MeshClock } from '../types';

interface Timer {
  readonly at: number;
  /** Insertion order: timers due at the same time fire in the order they were set. */
  readonly seq: number;
  fn: (() => void) | undefined;
}

const before = (a: Timer, b: Timer) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A binary min-heap of timers by (at, seq). */
class TimerHeap {
  private readonly items: Timer[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Timer | undefined {
    return this.items[0];
  }
  push(t: Timer): void {
    const xs = this.items;
    xs.push(t);
    let i = xs.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(xs[i]!, xs[parent]!)) break;
      [xs[i], xs[parent]] = [xs[parent]!, xs[i]!];
      i = parent;
    }
  }
  pop(): Timer | undefined {
    const xs = this.items;
    const top = xs[0];
    const last = xs.pop();
    if (xs.length > 0 && last !== undefined) {
      xs[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < xs.length && before(xs[l]!, xs[m]!)) m = l;
        if (r < xs.length && before(xs[r]!, xs[m]!)) m = r;
        if (m === i) break;
        [xs[i], xs[m]] = [xs[m]!, xs[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface VirtualClock extends MeshClock {
  /**
   * Registers real asynchronous work (a trainer call): time does not move until it settles.
   * Returns the same promise.
   */
  track<T>(work: Promise<T>): Promise<T>;
  /** Fires timers in order until the next one is due after `untilMs`, then sets now = untilMs. */
  runUntil(untilMs: number): Promise<void>;
  /** Timers fired so far (a progress and sanity figure). */
  fired(): number;
  /** Timers waiting. */
  pending(): number;
}

/** Resolves after Node's check phase: every microtask queued before it has run. */
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * @example
 * const clock = createVirtualClock();
 * clock.setTimer(1000, () => console.log(clock.now())); // 1000
 * await clock.runUntil(5000);
 */
/** Where a virtual clock's wall time starts: 2026-01-01T00:00:00Z, so runs read the same. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export function createVirtualClock(startMs = 0): VirtualClock {
  let now = startMs;
  let seq = 0;
  let inFlight = 0;
  let fired = 0;
  const heap = new TimerHeap();

  const settle = async () => {
    do await macrotask();
    while (inFlight > 0);
  };

  return {
    now: () => now,
    wallNow: () => VIRTUAL_EPOCH_MS + now,
    setTimer(ms, fn) {
      const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
      const t: Timer = { at: now + delay, seq: seq++, fn };
      heap.push(t);
      return () => {
        t.fn = undefined;
      };
    },
    track(work) {
      inFlight++;
      return work.finally(() => {
        inFlight--;
      });
    },
    async runUntil(untilMs) {
      await settle();
      for (;;) {
        const next = heap.peek();
        if (next === undefined || next.at > untilMs) break;
        heap.pop();
        const fn = next.fn;
        if (fn === undefined) continue;
        now = Math.max(now, next.at);
        fired++;
        fn();
        await settle();
      }
      await settle();
      now = Math.max(now, untilMs);
    },
    fired: () => fired,
    pending: () => heap.size,
  };
}
