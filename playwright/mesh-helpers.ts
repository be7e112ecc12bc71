// Helpers of the multi-tab specs (dashboard, kiosk): rooms, tab URLs, waiting for tabs to
// train and link, and what the server's API lists.

import type { APIRequestContext, Page } from '@playwright/test';
import type { SignalingServer } from '../signaling';
import { expect } from './fixtures';
import { field, numberField, settledPhase } from './page-fields';

/** Peer start-up: Worker, backend, shard download, checkpoint lookup, join. */
export const START_MS = 120_000;

export const newRoom = (tag: string): string =>
  `e2e-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

/** The page URL for one tab: cpu backend, a readable name, plus any join parameters. */
export function tabUrl(
  server: SignalingServer,
  room: string,
  name: string,
  extra: Readonly<Record<string, string>> = {},
): string {
  const q = new URLSearchParams({ room, name, backend: 'cpu', ...extra });
  return `${server.url}/?${q.toString()}`;
}

/** A peer's row in the peers table of `page`. */
export const peerRow = (page: Page, peerId: string) =>
  page.getByTestId('peers-table').locator(`[data-testid="peer-row"][data-peer-id="${peerId}"]`);

/** A cell's raw number in a peer's row, NaN while it has none. */
export async function rowNumber(page: Page, peerId: string, cell: string): Promise<number> {
  const v = await peerRow(page, peerId).getByTestId(cell).getAttribute('data-value', {
    timeout: 2000,
  });
  return v === null || v === '' ? Number.NaN : Number(v);
}

/** Waits until every tab trains (failing at once on a dead end); returns their peer ids. */
export async function allTraining(pages: readonly Page[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => settledPhase(page), {
        message: `p${i + 1} reaches 'training'`,
        timeout: START_MS,
        intervals: [500, 1000],
      })
      .toMatch(/^(training|failed|closed|finished)/);
    expect(await settledPhase(page), `p${i + 1}'s phase`).toBe('training');
    const id = await field(page, 'peer-id');
    expect(id, `p${i + 1} shows its peer id`).not.toBe('');
    ids.push(id);
  }
  return ids;
}

/** Waits until every tab shows a link to each of the others. */
export async function allLinked(pages: readonly Page[]): Promise<void> {
  for (const [i, page] of pages.entries()) {
    await expect
      .poll(() => numberField(page, 'link-count'), {
        message: `p${i + 1} has ${pages.length - 1} links`,
        timeout: 60_000,
      })
      .toBe(pages.length - 1);
  }
}

/** Waits until each tab's step passes what it was when this was called, plus `by`. */
export async function stepsAdvance(pages: readonly Page[], label: string, by = 5): Promise<void> {
  const before = await Promise.all(pages.map((p) => numberField(p, 'step')));
  for (const [i, page] of pages.entries()) {
    const from = before[i] ?? Number.NaN;
    await expect
      .poll(() => numberField(page, 'step'), {
        message: `p${i + 1}'s step grows ${label}`,
        timeout: 60_000,
      })
      .toBeGreaterThan((Number.isNaN(from) ? 0 : from) + by);
  }
}

export interface RoomBody {
  readonly peers: readonly { readonly id: string }[];
}

/** The peer ids the server lists for `room`, sorted, or why it lists none. */
export async function apiPeerIds(
  request: APIRequestContext,
  server: SignalingServer,
  room: string,
): Promise<string> {
  const res = await request.get(`${server.url}/api/rooms/${room}`);
  if (!res.ok()) return `HTTP ${res.status()}`;
  const body = (await res.json()) as RoomBody;
  return body.peers
    .map((p) => p.id)
    .sort()
    .join(',');
}
