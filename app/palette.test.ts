import { describe, expect, it } from 'vitest';
import { assignColours, slotColour, UNASSIGNED_COLOUR } from './palette';

describe('assignColours', () => {
  it('gives new ids the next slots and keeps the old ones', () => {
    const a = assignColours({}, ['x', 'y', 'x']);
    expect(a).toEqual({ x: 0, y: 1 });
    const b = assignColours(a, ['y', 'z']);
    expect(b).toEqual({ x: 0, y: 1, z: 2 });
    expect(assignColours(b, ['z'])).toBe(b);
  });

  it('wraps around the palette', () => {
    expect(slotColour(10)).toBe(slotColour(0));
    expect(slotColour(1)).not.toBe(slotColour(0));
    expect(slotColour(undefined)).toBe(UNASSIGNED_COLOUR);
  });
});
