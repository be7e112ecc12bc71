/**
 * A token bucket per requester (DESIGN.md 10): how often a peer may make us do costly work
 * for it, such as sending it our whole parameter vector. Pure; the caller owns the state.
 */

export interface TokenBucket {
  tokens: number;
  atMs: number;
}

export interface TokenBucketConfig {
  /** Requests allowed at once, after a quiet spell. */
  readonly burst: number;
  /** One more request allowed per this many ms. */
  readonly refillMs: number;
}

/**
 * Parameter transfers: two at once (a join and a DKT round), then two per DKT period (an
 * honest peer asks once a round; 5 s at the default 10 s period), never more than one a second.
 */
export const paramsRequests = (dktPeriodSec: number): TokenBucketConfig => ({
  burst: 2,
  refillMs: Math.max(1000, (dktPeriodSec * 1000) / 2),
});

export const createTokenBucket = (config: TokenBucketConfig, nowMs: number): TokenBucket => ({
  tokens: config.burst,
  atMs: nowMs,
});

/**
 * Takes one token at `nowMs` if there is one (refilled for the time since the last call);
 * returns whether the request may go ahead.
 * @example takeToken(createTokenBucket({ burst: 1, refillMs: 1000 }, 0), 0, cfg) // true, then false until 1000
 */
export function takeToken(bucket: TokenBucket, nowMs: number, config: TokenBucketConfig): boolean {
  if (Number.isFinite(nowMs) && nowMs > bucket.atMs) {
    bucket.tokens = Math.min(config.burst, bucket.tokens + (nowMs - bucket.atMs) / config.refillMs);
    bucket.atMs = nowMs;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
