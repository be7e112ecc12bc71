/**
 * The MeshClock of a browser peer: the page's monotonic clock and its timers. Background
 * tabs throttle setTimeout (to about once a second, more after minutes hidden); the mesh's
 * staleness gate and silence timeouts are bounded in seconds, so a hidden tab slows down
 * rather than stalls its peers.
 */

import type { MeshClock } from '../../mesh';

/** performance.now(), Date.now() and setTimeout; the returned cancel is safe to call twice. */
export function browserClock(): MeshClock {
  return {
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimer(ms, fn) {
      let handle: number | undefined = window.setTimeout(() => {
        handle = undefined;
        fn();
      }, ms);
      return () => {
        if (handle === undefined) return;
        window.clearTimeout(handle);
        handle = undefined;
      };
    },
  };
}
