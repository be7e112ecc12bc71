import { describe, expect, it } from 'vitest';
import { createTokenBucket, paramsRequests, takeToken } from './rate-limit';

describe('token bucket', () => {
  it('allows the burst, then one per refill period, and never more over any span', () => {
    const cfg = paramsRequests(10);
    expect(paramsRequests(1).refillMs).toBe(1000);
    const bucket = createTokenBucket(cfg, 0);
    expect([
      takeToken(bucket, 0, cfg),
      takeToken(bucket, 1, cfg),
      takeToken(bucket, 2, cfg),
    ]).toEqual([true, true, false]);
    expect(takeToken(bucket, 4999, cfg)).toBe(false);
    expect(takeToken(bucket, 5002, cfg)).toBe(true);
    // A flood of one request every 10 ms for 60 s gets the burst and one per 5 s.
    let allowed = 0;
    const flood = createTokenBucket(cfg, 0);
    for (let t = 0; t <= 60_000; t += 10) if (takeToken(flood, t, cfg)) allowed++;
    expect(allowed).toBe(2 + 12);
    // Time going backwards refills nothing.
    const back = createTokenBucket(cfg, 1000);
    takeToken(back, 1000, cfg);
    takeToken(back, 1000, cfg);
    expect(takeToken(back, 0, cfg)).toBe(false);
  });
});
