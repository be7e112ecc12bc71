/** A token bucket per socket: `burst` messages at once, refilled at `perSecond`. */

export interface TokenBucket {
  /** Takes one token at `nowMs`; false when the bucket is empty (the message is refused). */
  take(nowMs: number): boolean;
}

export function createTokenBucket(perSecond: number, burst: number, nowMs: number): TokenBucket {
  let tokens = burst;
  let last = nowMs;
  return {
    take(now) {
      // A clock that steps back (it should not: callers pass a monotonic one) refills nothing.
      tokens = Math.min(burst, tokens + (Math.max(0, now - last) * perSecond) / 1000);
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
