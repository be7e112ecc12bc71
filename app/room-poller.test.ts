import { describe, expect, it, vi } from 'vitest';
import { type JsonResponse, startRoomPoller } from './room-poller';
import type { PolledRoom } from './room-view';

/** A timer queue the test runs by hand. */
function manualTimers() {
  const pending: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    pending,
    setTimer(ms: number, fn: () => void) {
      const t = { ms, fn, cancelled: false };
      pending.push(t);
      return () => {
        t.cancelled = true;
      };
    },
    fire() {
      const t = pending.shift();
      if (t && !t.cancelled) t.fn();
    },
  };
}

describe('startRoomPoller', () => {
  it('polls, reports problems, then a good room, one request at a time', async () => {
    const timers = manualTimers();
    const answers: (JsonResponse | Error)[] = [
      { status: 404, body: { error: 'no such room' } },
      new Error('offline'),
      { status: 200, body: { peers: [{ id: 'a', name: 'a', kind: 'browser' }] } },
    ];
    const urls: string[] = [];
    const polls: PolledRoom[] = [];
    const problems: (string | undefined)[] = [];
    const poller = startRoomPoller({
      room: 'lab 1',
      fetchJson: async (url) => {
        urls.push(url);
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return a ?? { status: 500, body: undefined };
      },
      setTimer: timers.setTimer,
      now: () => 42,
      everyMs: 2000,
      onPoll: (r) => polls.push(r),
      onProblem: (p) => problems.push(p),
    });
    await vi.waitFor(() => expect(timers.pending).toHaveLength(1));
    expect(timers.pending[0]?.ms).toBe(2000);
    expect(problems).toEqual(['the server does not list room lab 1 (yet)']);
    timers.fire();
    await vi.waitFor(() => expect(problems).toHaveLength(2));
    expect(problems[1]).toContain('offline');
    await vi.waitFor(() => expect(timers.pending).toHaveLength(1));
    timers.fire();
    await vi.waitFor(() => expect(polls).toHaveLength(1));
    expect(polls[0]?.members.map((m) => m.id)).toEqual(['a']);
    expect(problems.at(-1)).toBeUndefined();
    expect(urls[0]).toBe('/api/rooms/lab%201');
    poller.stop();
    poller.stop();
    expect(timers.pending.every((t) => t.cancelled)).toBe(true);
  });

  it('stops a request in flight and reports nothing after stop', async () => {
    const timers = manualTimers();
    let signal: AbortSignal | undefined;
    let answer: ((r: JsonResponse) => void) | undefined;
    const onPoll = vi.fn();
    const poller = startRoomPoller({
      room: 'lab',
      fetchJson: (_url, s) => {
        signal = s;
        return new Promise((resolve) => {
          answer = resolve;
        });
      },
      setTimer: timers.setTimer,
      now: () => 0,
      onPoll,
      onProblem: onPoll,
    });
    poller.stop();
    expect(signal?.aborted).toBe(true);
    answer?.({ status: 200, body: { peers: [] } });
    await Promise.resolve();
    await Promise.resolve();
    expect(onPoll).not.toHaveBeenCalled();
    expect(timers.pending).toHaveLength(0);
  });
});
