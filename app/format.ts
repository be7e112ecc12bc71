/** Number formatting for the page: fixed digits, and a dash for "not known yet". */

export const DASH = '–';

export const fixed = (x: number | null | undefined, digits: number): string =>
  x === null || x === undefined ? DASH : x.toFixed(digits);

export const percent = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined ? DASH : `${(x * 100).toFixed(digits)}%`;

/** Bytes per second as Mbit/s, the unit link speeds are quoted in. */
export const mbitPerSec = (bytesPerSec: number): string => ((bytesPerSec * 8) / 1e6).toFixed(2);

/** A byte count with a binary prefix, e.g. 1.5 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
