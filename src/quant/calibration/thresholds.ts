import type { StreamingHistogram } from './histogram.js';

/** How a clipping range is chosen from an activation's statistics. */
export type CalibMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';
export const CALIB_METHODS: readonly CalibMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

export interface ThresholdOptions {
  /** Percentile of |x| for 'percentile' (default 99.99). */
  percentile?: number;
  /** Quantization levels on one side of zero: 127 for symmetric int8 (default). */
  levels?: number;
}

/**
 * Symmetric clipping threshold T (the range is [-T, T]) for one tensor.
 * Never above the observed |x| max; 0 only for an all-zero tensor.
 */
export function absThreshold(h: StreamingHistogram, method: CalibMethod, opts: ThresholdOptions = {}): number {
  const amax = h.absMax;
  if (amax === 0 || method === 'minmax') return amax;
  const counts = h.absCounts();
  const w = h.binWidth;
  let t: number;
  switch (method) {
    case 'percentile': t = percentileOf(counts, w, opts.percentile ?? 99.99); break;
    case 'entropy': t = entropyThreshold(counts, w, (opts.levels ?? 127) + 1); break;
    case 'mse': t = mseThreshold(counts, w, opts.levels ?? 127); break;
  }
  return Math.min(t, amax);
}

/** The p-th percentile of the binned |x| distribution, interpolated linearly inside its bin. */
export function percentileOf(counts: Float64Array, width: number, p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  let total = 0;
  for (const c of counts) total += c;
  const target = (p / 100) * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0 && cum + counts[i] >= target) return (i + (target - cum) / counts[i]) * width;
    cum += counts[i];
  }
  return counts.length * width;
}

/**
 * TensorRT's entropy calibration: for each candidate number of kept bins i (≥ `targetBins`), the
 * reference P is the first i bins with everything beyond folded into bin i−1; the candidate Q is
 * those i bins merged into `targetBins` quantization bins and spread back uniformly over the bins
 * that were non-empty. The threshold is the edge of the i with the smallest KL(P‖Q).
 * Degenerate histograms (fewer bins than levels, all mass in one bin) return the full range
 * instead of failing, unlike onnxruntime's "Too many bins for data range".
 */
export function entropyThreshold(counts: Float64Array, width: number, targetBins = 128): number {
  const n = counts.length;
  if (n <= targetBins) return n * width;
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + counts[i];
  let best = n, bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  for (let i = targetBins; i <= n; i++) {
    for (let j = 0; j < i; j++) p[j] = counts[j];
    p[i - 1] += suffix[i];
    // Quantize the unclipped bins [0, i) into targetBins groups; as in TensorRT / onnxruntime, a group's
    // mass is spread over the bins non-empty in P (which includes the folded last bin).
    q.fill(0, 0, i);
    for (let g = 0, start = 0; g < targetBins; g++) {
      const end = g === targetBins - 1 ? i : Math.floor(((g + 1) * i) / targetBins);
      let sum = 0, nonzero = 0;
      for (let j = start; j < end; j++) { sum += counts[j]; if (p[j] > 0) nonzero++; }
      if (nonzero) for (let j = start; j < end; j++) if (p[j] > 0) q[j] = sum / nonzero;
      start = end;
    }
    const kl = klDivergence(p, q, i);
    if (kl < bestKl) { bestKl = kl; best = i; }
  }
  return best * width;
}

/** KL(P‖Q) over the first n entries of two unnormalised histograms; Q = 0 where P > 0 is smoothed. */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let ps = 0, qs = 0;
  for (let j = 0; j < n; j++) { ps += p[j]; qs += q[j]; }
  if (ps === 0) return 0;
  const eps = 1e-10;
  let kl = 0;
  for (let j = 0; j < n; j++) {
    if (p[j] <= 0) continue;
    const pj = p[j] / ps;
    const qj = qs > 0 ? q[j] / qs : 0;
    kl += pj * Math.log(pj / Math.max(qj, eps));
  }
  return kl;
}

/**
 * The threshold T minimising the expected squared error of symmetric quantization with `levels`
 * steps on each side: values inside [0, T] cost step²/12 (uniform rounding error), values beyond
 * cost their clipping error (|x| − T)², evaluated at bin centres. Candidates are every bin edge.
 */
export function mseThreshold(counts: Float64Array, width: number, levels = 127): number {
  const n = counts.length;
  // Prefix sums of count, count·c and count·c² (c = bin centre) make each candidate O(1).
  const c0 = new Float64Array(n + 1), c1 = new Float64Array(n + 1), c2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const c = (i + 0.5) * width;
    c0[i + 1] = c0[i] + counts[i];
    c1[i + 1] = c1[i] + counts[i] * c;
    c2[i + 1] = c2[i] + counts[i] * c * c;
  }
  let best = n, bestErr = Infinity;
  for (let i = 1; i <= n; i++) {
    const t = i * width;
    const step = t / levels;
    const inside = c0[i] * (step * step) / 12;
    // Σ n (c − t)² over clipped bins = Σ n c² − 2t Σ n c + t² Σ n.
    const k0 = c0[n] - c0[i], k1 = c1[n] - c1[i], k2 = c2[n] - c2[i];
    const err = inside + k2 - 2 * t * k1 + t * t * k0;
    if (err < bestErr) { bestErr = err; best = i; }
  }
  return best * width;
}
