/**
 * The emulation knobs as typed into the dashboard (DESIGN.md 5): compute slowdown (>= 1) and
 * an uplink cap in Mbit/s (empty: none), checked before they reach the peer. Pure.
 */

import { err, ok, type Result } from '../core';

export interface EmulationChange {
  readonly slowdown: number;
  /** Bits per second; undefined removes the cap. */
  readonly uplinkBps: number | undefined;
}

export interface EmulationErrors {
  readonly slowdown?: string;
  readonly uplink?: string;
}

/** @example parseEmulationInput('2', '10') // ok({ slowdown: 2, uplinkBps: 10_000_000 }) */
export function parseEmulationInput(
  slowdownText: string,
  uplinkText: string,
): Result<EmulationChange, EmulationErrors> {
  const errors: { slowdown?: string; uplink?: string } = {};
  const s = slowdownText.trim() === '' ? 1 : Number(slowdownText);
  if (!Number.isFinite(s) || s < 1 || s > 1000) {
    errors.slowdown = 'Slowdown is a factor from 1 (none) to 1000.';
  }
  let uplinkBps: number | undefined;
  if (uplinkText.trim() !== '') {
    const mbps = Number(uplinkText);
    if (!Number.isFinite(mbps) || mbps <= 0 || mbps > 100_000) {
      errors.uplink =
        'The uplink cap is above 0 and at most 100000 Mbit/s; leave it empty for none.';
    } else uplinkBps = mbps * 1e6;
  }
  if (errors.slowdown !== undefined || errors.uplink !== undefined) return err(errors);
  return ok({ slowdown: s, uplinkBps });
}
