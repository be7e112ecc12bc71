import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendBounded, lastItems } from './bounded-list';

describe('appendBounded', () => {
  it('appends while there is room', () => {
    expect(appendBounded([1, 2], 3, 4)).toEqual([1, 2, 3]);
  });

  it('halves the resolution when full, keeping the first and the new item', () => {
    expect(appendBounded([1, 2, 3, 4], 5, 4)).toEqual([1, 3, 5]);
  });

  it('never grows past the cap, keeps order, the first item and the newest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1, max: 500 }), (max, n) => {
        let list: number[] = [];
        for (let i = 0; i < n; i++) {
          list = appendBounded(list, i, max);
          expect(list.length).toBeLessThanOrEqual(max);
        }
        expect(list[0]).toBe(0);
        expect(list.at(-1)).toBe(n - 1);
        for (let i = 1; i < list.length; i++) expect(list[i]!).toBeGreaterThan(list[i - 1]!);
      }),
    );
  });
});

describe('lastItems', () => {
  it('keeps the newest items', () => {
    expect(lastItems([1, 2, 3, 4], 2)).toEqual([3, 4]);
    expect(lastItems([1], 2)).toEqual([1]);
  });
});
