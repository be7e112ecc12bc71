/**
 * One colour per peer, the same on the charts and in the mesh diagram, kept for the whole
 * run: a peer gets the next free colour when the server first lists it (join order, so that
 * every tab of the room agrees), never a colour by position (which would repaint everyone
 * when a peer leaves). Colour-blind-safe hues first.
 */

const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#cc79a7',
  '#56b4e9',
  '#d55e00',
  '#8c6d31',
  '#6a3d9a',
  '#7f7f7f',
  '#17becf',
] as const;

/** The mesh mean's colour on the charts. */
export const MESH_COLOUR = '#1d2330';

/** `assigned` with a slot for every id in `ids` not yet in it. Pure. */
export function assignColours(
  assigned: Readonly<Record<string, number>>,
  ids: readonly string[],
): Readonly<Record<string, number>> {
  const fresh = ids.filter((id) => assigned[id] === undefined);
  if (fresh.length === 0) return assigned;
  let next = Object.keys(assigned).length;
  const out: Record<string, number> = { ...assigned };
  for (const id of new Set(fresh)) out[id] = next++;
  return out;
}

/** A peer that has no slot yet (not listed by the server so far). */
export const UNASSIGNED_COLOUR = '#a3abb8';

/** The colour of slot `i` (the palette repeats past its end). */
export const slotColour = (i: number | undefined): string =>
  i === undefined ? UNASSIGNED_COLOUR : (PALETTE[i % PALETTE.length] ?? PALETTE[0]);
