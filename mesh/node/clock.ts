/**
 * The MeshClock of a Node peer: the process's monotonic clock and its timers. The timers are
 * deliberately not unref()-ed: a kiosk's training loop waits on them, and the process must
 * stay alive while it does.
 */

import type { MeshClock } from '../types';

/** performance.now(), Date.now() and setTimeout; the returned cancel is safe to call twice. */
export function nodeClock(): MeshClock {
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimer(ms, fn) {
      let handle: NodeJS.Timeout | undefined = setTimeout(() => {
        handle = undefined;
        fn();
      }, ms);
      return () => {
        if (handle === undefined) return;
        clearTimeout(handle);
        handle = undefined;
      };
    },
  };
}
