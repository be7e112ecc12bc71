/**
 * Polls `GET /api/rooms/:room` every 2 s for the rest of the room (the tab's own peer comes
 * from its event stream). One request at a time: the next is scheduled when the last one
 * has answered, so a slow server is never stacked up. Timers and fetch are injected.
 */

import { type PolledRoom, parseRoomBody } from './room-view';

export interface RoomPollerDeps {
  readonly room: string;
  /** GET `url` as JSON: status and body (the body undefined when it was not JSON). */
  readonly fetchJson: (url: string, signal: AbortSignal) => Promise<JsonResponse>;
  /** Calls `fn` after `ms`; returns a cancel. */
  readonly setTimer: (ms: number, fn: () => void) => () => void;
  /** Wall-clock ms (the charts' time axis). */
  readonly now: () => number;
  readonly everyMs?: number;
  readonly onPoll: (room: PolledRoom, atMs: number) => void;
  /** Why the last poll gave nothing, or undefined once one did. */
  readonly onProblem: (problem: string | undefined) => void;
}

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

export const POLL_EVERY_MS = 2000;

/** The page's fetchJson: never rejects for a body that is not JSON. */
export async function browserFetchJson(url: string, signal: AbortSignal): Promise<JsonResponse> {
  const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  const body: unknown = await res.json().catch(() => undefined);
  return { status: res.status, body };
}

/** Starts polling at once; `stop()` (safe to call twice) cancels the timer and the request. */
export function startRoomPoller(d: RoomPollerDeps): { stop(): void } {
  const every = d.everyMs ?? POLL_EVERY_MS;
  const url = `/api/rooms/${encodeURIComponent(d.room)}`;
  let stopped = false;
  let cancelTimer: (() => void) | undefined;
  let request: AbortController | undefined;

  const tick = async () => {
    cancelTimer = undefined;
    request = new AbortController();
    try {
      const res = await d.fetchJson(url, request.signal);
      if (stopped) return;
      if (res.status === 404) d.onProblem(`the server does not list room ${d.room} (yet)`);
      else if (res.status !== 200) d.onProblem(`the room API answered HTTP ${res.status}`);
      else {
        const parsed = parseRoomBody(res.body);
        if (parsed.ok) {
          d.onPoll(parsed.value, d.now());
          d.onProblem(undefined);
        } else d.onProblem(`the room API sent something unexpected: ${parsed.error}`);
      }
    } catch (e) {
      if (!stopped)
        d.onProblem(`the room API is unreachable (${e instanceof Error ? e.message : String(e)})`);
    } finally {
      request = undefined;
      if (!stopped) cancelTimer = d.setTimer(every, () => void tick());
    }
  };

  void tick();
  return {
    stop() {
      stopped = true;
      cancelTimer?.();
      cancelTimer = undefined;
      request?.abort();
    },
  };
}
