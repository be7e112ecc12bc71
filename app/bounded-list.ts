/**
 * Appending to a history that must stay bounded for a tab left open for hours: once full, the
 * list keeps every other item (the whole run at half the resolution) rather than forgetting
 * its beginning, so a chart still shows where training started.
 */

/**
 * `list` with `item` appended, never longer than `max` (at least 2). Pure: a new array.
 * @example appendBounded([1, 2, 3, 4], 5, 4) // [1, 3, 5]
 */
export function appendBounded<T>(list: readonly T[], item: T, max: number): T[] {
  const cap = Math.max(2, Math.floor(max));
  if (list.length < cap) return [...list, item];
  // Even indices: the first item stays, so the chart's left edge does not move.
  const thinned = list.filter((_, i) => i % 2 === 0);
  return [...thinned, item];
}

/** The last `max` items of `list` (a newest-only window, for event logs). */
export const lastItems = <T>(list: readonly T[], max: number): T[] =>
  list.length <= max ? [...list] : list.slice(list.length - max);
