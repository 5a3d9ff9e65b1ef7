/** Index of the first NaN or ±Inf in `d`, or −1 (x − x is 0 for every finite x, NaN otherwise). */
export function firstNonFinite(d: ArrayLike<number>): number {
  for (let i = 0; i < d.length; i++) if (d[i] - d[i] !== 0) return i;
  return -1;
}
