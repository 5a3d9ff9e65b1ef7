/* Log-probability arithmetic shared by evaluation (eval/kld.ts) and the passes that measure KLD (weight-budget). */

/** log-softmax of one row of logits, computed stably in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > m) m = logits[i];
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/** KL(ref ‖ q) from two rows of log-probabilities. */
export function klDivergence(refLogp: ArrayLike<number>, logp: ArrayLike<number>): number {
  if (refLogp.length !== logp.length) throw new Error(`vocabulary sizes differ: ${refLogp.length} vs ${logp.length}`);
  let k = 0;
  for (let i = 0; i < refLogp.length; i++) {
    const p = Math.exp(refLogp[i]);
    if (p > 0) k += p * (refLogp[i] - logp[i]);
  }
  return k;
}
