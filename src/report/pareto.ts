/** Points not dominated by another (lower-or-equal on both axes, strictly lower on one): the trade-off frontier, sorted by x. */
export function paretoFront<T extends { x: number; y: number }>(points: T[]): T[] {
  const ok = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const front = ok.filter((p) => !ok.some((q) => q !== p && q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y)));
  return front.sort((a, b) => a.x - b.x || a.y - b.y);
}
