import { describe, expect, it } from 'vitest';
import { arrowHead, circleLayout, edgeGeometry, nameSpot } from './graph-layout';

describe('circleLayout', () => {
  it('puts the first peer at the top and the others evenly around', () => {
    const p = circleLayout(['a', 'b', 'c', 'd'], 200, 200, 20);
    expect(p.get('a')).toEqual({ x: 100, y: 20 });
    expect(p.get('b')?.x).toBeCloseTo(180);
    expect(p.get('c')?.y).toBeCloseTo(180);
    expect(circleLayout(['solo'], 200, 100, 20).get('solo')).toEqual({ x: 100, y: 50 });
  });
});

describe('edgeGeometry', () => {
  it('trims the line at the nodes and keeps the two directions and their labels apart', () => {
    const a = { x: 0, y: 0 };
    const b = { x: 100, y: 0 };
    const ab = edgeGeometry(a, b, 10, 4, 8);
    const ba = edgeGeometry(b, a, 10, 4, 8);
    expect([ab.x1, ab.x2]).toEqual([10, 90]);
    // Each direction runs on its own side: right of travel, y grows downwards.
    expect(ab.y1).toBe(4);
    expect(ba.y1).toBe(-4);
    expect(ab.label).toEqual({ x: 50, y: 12 });
    expect(ba.label).toEqual({ x: 50, y: -12 });
  });

  it('turns the label along the line, never upside down', () => {
    const o = { x: 0, y: 0 };
    expect(edgeGeometry(o, { x: 100, y: 0 }, 1, 0, 0).angle).toBeCloseTo(0);
    expect(edgeGeometry({ x: 100, y: 0 }, o, 1, 0, 0).angle).toBeCloseTo(0);
    expect(edgeGeometry(o, { x: 0, y: 100 }, 1, 0, 0).angle).toBeCloseTo(90);
    expect(edgeGeometry(o, { x: -100, y: -100 }, 1, 0, 0).angle).toBeCloseTo(45);
    expect(edgeGeometry(o, { x: -100, y: 100 }, 1, 0, 0).angle).toBeCloseTo(-45);
  });
});

describe('arrowHead', () => {
  it('points at the end of the line', () => {
    const [tip, left, right] = arrowHead(0, 0, 10, 0, 4);
    expect(tip).toEqual({ x: 10, y: 0 });
    expect(left.x).toBeCloseTo(6);
    expect(right.x).toBeCloseTo(6);
    expect(left.y).toBeCloseTo(-right.y);
  });
});

describe('nameSpot', () => {
  it('puts a name above the nodes of the upper half and below the others', () => {
    const centre = { x: 50, y: 50 };
    expect(nameSpot({ x: 50, y: 10 }, centre, 5)).toEqual({ x: 50, y: 5 });
    expect(nameSpot({ x: 10, y: 80 }, centre, 5)).toEqual({ x: 10, y: 85 });
    expect(nameSpot(centre, centre, 5)).toEqual({ x: 50, y: 55 });
  });
});
