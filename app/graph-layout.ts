/**
 * Where the mesh diagram draws things: peers on a circle (this tab at the top), and each
 * direction of a link as its own line, shifted sideways, its label along it on its own side,
 * so that both directions and their labels stay readable. Pure geometry in SVG user units.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface EdgeGeometry {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
  /** The centre of the link's label: half-way, beside the line on its own side. */
  readonly label: Point;
  /**
   * The label's rotation in degrees, parallel to the line and never upside down: text along
   * its own line stays clear of the other links, where level text would cross them.
   */
  readonly angle: number;
}

/**
 * Where a node's name goes: above a node in the upper half of the ring, below the others,
 * centred either way (a name beside a node would run off a phone's narrow drawing).
 */
export function nameSpot(p: Point, centre: Point, distance: number): Point {
  return { x: p.x, y: p.y < centre.y - 1e-6 ? p.y - distance : p.y + distance };
}

/** `ids` evenly on a circle inside a `width` x `height` box, the first one at the top. */
export function circleLayout(
  ids: readonly string[],
  width: number,
  height: number,
  margin: number,
): Map<string, Point> {
  const cx = width / 2;
  const cy = height / 2;
  const r = Math.max(0, Math.min(width, height) / 2 - margin);
  const out = new Map<string, Point>();
  if (ids.length === 1 && ids[0] !== undefined) {
    out.set(ids[0], { x: cx, y: cy });
    return out;
  }
  ids.forEach((id, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / ids.length;
    out.set(id, { x: cx + r * Math.cos(angle), y: cy + r * Math.sin(angle) });
  });
  return out;
}

/**
 * The line from `a` to `b`, trimmed by `radius` at both ends (the node circles) and shifted
 * by `offset` to its right, so the opposite direction (shifted to its own right) runs beside it.
 */
export function edgeGeometry(
  a: Point,
  b: Point,
  radius: number,
  offset: number,
  labelOffset: number,
): EdgeGeometry {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  // Right-hand normal in screen coordinates (y grows downwards).
  const nx = -uy;
  const ny = ux;
  const trim = Math.min(radius, length / 2);
  const x1 = a.x + ux * trim + nx * offset;
  const y1 = a.y + uy * trim + ny * offset;
  const x2 = b.x - ux * trim + nx * offset;
  const y2 = b.y - uy * trim + ny * offset;
  let angle = (Math.atan2(dy, dx) * 180) / Math.PI;
  if (angle > 90) angle -= 180;
  else if (angle < -90) angle += 180;
  return {
    x1,
    y1,
    x2,
    y2,
    label: { x: (x1 + x2) / 2 + nx * labelOffset, y: (y1 + y2) / 2 + ny * labelOffset },
    angle,
  };
}

/** The three corners of an arrow head of `size` at (x2, y2), pointing from (x1, y1). */
export function arrowHead(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  size: number,
): readonly [Point, Point, Point] {
  const length = Math.hypot(x2 - x1, y2 - y1) || 1;
  const ux = (x2 - x1) / length;
  const uy = (y2 - y1) / length;
  const bx = x2 - ux * size;
  const by = y2 - uy * size;
  const half = size * 0.55;
  return [
    { x: x2, y: y2 },
    { x: bx - uy * half, y: by + ux * half },
    { x: bx + uy * half, y: by - ux * half },
  ];
}
