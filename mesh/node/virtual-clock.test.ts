import { describe, expect, it } from 'vitest';
import { sleep } from '../../mesh';
import { createVirtualClock } from './virtual-clock';

describe('createVirtualClock', () => {
  it('fires timers in time order, then insertion order, at their virtual times', async () => {
    const clock = createVirtualClock();
    const fired: [string, number][] = [];
    clock.setTimer(30, () => fired.push(['c', clock.now()]));
    clock.setTimer(10, () => fired.push(['a', clock.now()]));
    clock.setTimer(10, () => fired.push(['b', clock.now()]));
    clock.setTimer(-5, () => fired.push(['now', clock.now()]));
    await clock.runUntil(100);
    expect(fired).toEqual([
      ['now', 0],
      ['a', 10],
      ['b', 10],
      ['c', 30],
    ]);
    expect(clock.now()).toBe(100);
    expect(clock.fired()).toBe(4);
  });

  it('leaves timers due after the horizon for the next run, and honours cancel', async () => {
    const clock = createVirtualClock();
    const fired: number[] = [];
    clock.setTimer(50, () => fired.push(50));
    const cancel = clock.setTimer(60, () => fired.push(60));
    clock.setTimer(150, () => fired.push(150));
    cancel();
    cancel();
    await clock.runUntil(100);
    expect(fired).toEqual([50]);
    expect(clock.pending()).toBe(1);
    await clock.runUntil(200);
    expect(fired).toEqual([50, 150]);
  });

  it('does not move time while tracked real work is in flight', async () => {
    const clock = createVirtualClock();
    const log: string[] = [];
    // A "step": real work taking real milliseconds, then a charged virtual sleep.
    const step = async (name: string, chargeMs: number) => {
      await clock.track(new Promise((resolve) => setTimeout(resolve, 20)));
      log.push(`${name} computed at ${clock.now()}`);
      await sleep(clock, chargeMs);
      log.push(`${name} done at ${clock.now()}`);
    };
    clock.setTimer(0, () => void step('x', 500));
    clock.setTimer(100, () => log.push(`tick at ${clock.now()}`));
    await clock.runUntil(1000);
    expect(log).toEqual(['x computed at 0', 'tick at 100', 'x done at 500']);
  });

  it('runs a chain of sleeps started by a timer to its end within one run', async () => {
    const clock = createVirtualClock();
    let laps = 0;
    const loop = async () => {
      while (laps < 5) {
        await sleep(clock, 10);
        laps++;
      }
    };
    clock.setTimer(0, () => void loop());
    await clock.runUntil(45);
    expect(laps).toBe(4);
    await clock.runUntil(1000);
    expect(laps).toBe(5);
  });
});
