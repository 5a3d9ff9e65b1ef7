import { roundEven } from './primitives.js';
import type { BlockFormat } from './rtn.js';

/**
 * One block's scale and zero point. Symmetric without weights: the full-range absmax scale RTN uses
 * (the block's largest-magnitude value lands on code 0). Symmetric with importance weights
 * (llama.cpp's imatrix idea): try scales around absmax, keep the one whose codes, with the
 * least-squares scale for them, minimise Σ wᵢ (xᵢ − s·qᵢ)². Asymmetric: min/max with a zero point.
 */
export function blockScale(x: Float32Array, fmt: BlockFormat, weights: Float32Array | null): { scale: number; zeroPoint: number } {
  const mid = 1 << (fmt.bits - 1), qmax = (1 << fmt.bits) - 1;
  if (!fmt.symmetric) {
    let lo = 0, hi = 0;
    for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (hi === lo) return { scale: 1, zeroPoint: 0 };
    const scale = Math.fround((hi - lo) / qmax);
    return { scale, zeroPoint: Math.min(qmax, Math.max(0, roundEven(-lo / scale))) };
  }
  let m = 0, am = 0;
  for (const v of x) { const a = Math.abs(v); if (a > am) { am = a; m = v; } }
  if (m === 0) return { scale: 1, zeroPoint: mid };
  if (!weights) return { scale: Math.fround(m / -mid), zeroPoint: mid };
  let best = -1, bestScale = m / -mid;
  for (let t = -9; t <= 9; t++) {
    const inv = -(mid + 0.1 * t) / m;
    let sxq = 0, sqq = 0;
    for (let i = 0; i < x.length; i++) {
      let q = roundEven(x[i] * inv);
      q = q < -mid ? -mid : q > qmax - mid ? qmax - mid : q;
      sxq += weights[i] * x[i] * q;
      sqq += weights[i] * q * q;
    }
    // With the least-squares scale sxq/sqq, the weighted error is Σwx² − sxq²/sqq: maximise sxq²/sqq.
    if (sqq > 0 && sxq * sxq / sqq > best) { best = sxq * sxq / sqq; bestScale = sxq / sqq; }
  }
  return { scale: Math.fround(bestScale), zeroPoint: mid };
}
