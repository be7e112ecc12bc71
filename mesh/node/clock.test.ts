/** The Node MeshClock: monotonic time, timers that fire once, cancel safe twice. */

import { describe, expect, it, vi } from 'vitest';
import { sleep } from '../types';
import { nodeClock } from './clock';

describe('nodeClock', () => {
  it('fires a timer once, after its delay on a monotonic clock', async () => {
    const clock = nodeClock();
    const t0 = clock.now();
    let fired = 0;
    clock.setTimer(20, () => fired++);
    await vi.waitFor(() => expect(fired).toBe(1), { timeout: 2000, interval: 5 });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(19);
    await sleep(clock, 30);
    expect(fired).toBe(1);
  });

  it('cancels a timer, and cancelling twice or after it fired is harmless', async () => {
    const clock = nodeClock();
    let fired = 0;
    const cancel = clock.setTimer(10, () => fired++);
    cancel();
    cancel();
    const done = clock.setTimer(0, () => fired++);
    await sleep(clock, 40);
    expect(fired).toBe(1);
    done();
    done();
  });
});
