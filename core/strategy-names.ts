/** The training strategies a room can run (DESIGN.md 3.6): DLion, its ablations and the baselines. */

export const STRATEGIES = [
  'dlion',
  'bsp',
  'ako',
  'gaia',
  'hop',
  'dlion-no-wdb',
  'dlion-no-prio',
  'dlion-no-dkt',
] as const;

export type StrategyName = (typeof STRATEGIES)[number];
