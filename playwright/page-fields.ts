// Reading the dashboard through its test-id contract (data-testid + data-value), shared by
// the mesh and dashboard specs.

import type { Page } from '@playwright/test';

/**
 * The raw value behind a field (data-value by default), '' while it has none. The short
 * timeout makes a missing element an error, which expect.poll retries, instead of a wait
 * past the deadline.
 */
export const field = (page: Page, testid: string, name = 'data-value'): Promise<string> =>
  page
    .getByTestId(testid)
    .first()
    .getAttribute(name, { timeout: 2000 })
    .then((v) => v ?? '');

/** A field's raw number, NaN while it has none. */
export const numberField = async (page: Page, testid: string): Promise<number> => {
  const v = await field(page, testid);
  return v === '' ? Number.NaN : Number(v);
};

/**
 * The phase once it is 'training' or a dead end, with the detail of a dead end: a tab that
 * failed fails the test at once with the page's own explanation, not after the deadline.
 */
export async function settledPhase(page: Page): Promise<string> {
  const phase = await field(page, 'phase');
  if (phase === 'failed' || phase === 'closed' || phase === 'finished') {
    return `${phase}: ${await page.getByTestId('phase-detail').textContent()}`;
  }
  return phase;
}
