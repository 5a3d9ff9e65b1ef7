/** L2 norm over all gradients together. */
export function globalNorm(grads: ArrayLike<number>[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** Factor that scales gradients of global norm `norm` down to at most `maxNorm` (1 when already below). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}`);
  return maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
}
