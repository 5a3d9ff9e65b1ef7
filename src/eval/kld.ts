import { klDivergence, logSoftmax } from '../util/logprob.js';

/**
 * Quality of a quantized model against its FP32 reference on the same tokens, with llama.cpp's
 * definitions (`perplexity --kl-divergence`):
 * - KLD per token = Σ_v p_ref(v) · (log p_ref(v) − log p_q(v)), over the full vocabulary;
 * - Δp = p_q(correct token) − p_ref(correct token); "RMS Δp" = sqrt(mean Δp²);
 * - "same top p" = share of scored tokens where the two models' argmax agree.
 * The accumulator keeps only per-token scalars (never full-vocabulary logits).
 */

/** Per-token outcome of comparing a variant with the reference. */
export interface TokenComparison {
  /** Variant's negative log-likelihood of the correct token (nats). */
  nll: number;
  /** Reference's negative log-likelihood of the correct token (nats). */
  refNll: number;
  /** KL(reference ‖ variant) at this position (nats). */
  kld: number;
  argmax: number;
  refArgmax: number;
}

export interface QualityStats {
  tokens: number;
  /** Mean KLD (nats) and the standard error of that mean. */
  kld_mean: number;
  kld_stderr: number;
  kld_median: number;
  kld_p99: number;
  kld_p999: number;
  kld_max: number;
  /** Percent of tokens where argmax agrees with the reference, and its standard error (percentage points). */
  same_top_pct: number;
  same_top_stderr_pct: number;
  /** Mean Δp and RMS Δp of the correct token, in percentage points (as llama.cpp prints them). */
  delta_p_mean_pct: number;
  delta_p_rms_pct: number;
  /** ln PPL(variant) − ln PPL(reference) = mean of (nll − nll_ref), and its standard error (llama.cpp's "Mean ln(PPL(Q)/PPL(base))"). */
  delta_ln_ppl?: number;
  delta_ln_ppl_stderr?: number;
}

function argmaxOf(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Compare one position's logits (reference and variant) for the correct token `label` (JS reference path). */
export function compareLogits(refLogits: ArrayLike<number>, logits: ArrayLike<number>, label: number): TokenComparison {
  const r = logSoftmax(refLogits), q = logSoftmax(logits);
  return { nll: -q[label], refNll: -r[label], kld: klDivergence(r, q), argmax: argmaxOf(logits), refArgmax: argmaxOf(refLogits) };
}

/** A growable Float64Array of per-token scalars. */
class Scalars {
  private buf = new Float64Array(1024);
  length = 0;
  push(x: number): void {
    if (this.length === this.buf.length) { const b = new Float64Array(this.buf.length * 2); b.set(this.buf); this.buf = b; }
    this.buf[this.length++] = x;
  }
  view(): Float64Array { return this.buf.subarray(0, this.length); }
}

/** Percentile of sorted values by linear interpolation (numpy's default). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return NaN;
  const i = (sorted.length - 1) * p;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/** Streaming accumulator of KLD, Δp and top-1 agreement over scored tokens. */
export class QualityAccumulator {
  private klds = new Scalars();
  private sumDp = 0;
  private sumDp2 = 0;
  private sumDl = 0;
  private sumDl2 = 0;
  private same = 0;

  add(t: TokenComparison): void {
    // Rounding can make a near-zero KLD slightly negative; KL divergence is non-negative.
    this.klds.push(Math.max(0, t.kld));
    const dp = Math.exp(-t.nll) - Math.exp(-t.refNll);
    this.sumDp += dp;
    this.sumDp2 += dp * dp;
    const dl = t.nll - t.refNll;
    this.sumDl += dl;
    this.sumDl2 += dl * dl;
    if (t.argmax === t.refArgmax) this.same++;
  }

  get tokens(): number { return this.klds.length; }

  result(): QualityStats {
    const n = this.klds.length;
    const k = this.klds.view();
    let s = 0, s2 = 0;
    for (const x of k) { s += x; s2 += x * x; }
    const mean = n ? s / n : NaN;
    const sorted = Float64Array.from(k).sort();
    const top = n ? this.same / n : NaN;
    return {
      tokens: n,
      kld_mean: mean,
      kld_stderr: n > 1 ? Math.sqrt(Math.max(0, s2 / n - mean * mean) / (n - 1)) : 0,
      kld_median: percentileSorted(sorted, 0.5),
      kld_p99: percentileSorted(sorted, 0.99),
      kld_p999: percentileSorted(sorted, 0.999),
      kld_max: n ? sorted[n - 1] : NaN,
      same_top_pct: 100 * top,
      same_top_stderr_pct: n > 1 ? 100 * Math.sqrt((top * (1 - top)) / (n - 1)) : 0,
      delta_p_mean_pct: n ? (100 * this.sumDp) / n : NaN,
      delta_p_rms_pct: n ? 100 * Math.sqrt(this.sumDp2 / n) : NaN,
      delta_ln_ppl: n ? this.sumDl / n : NaN,
      delta_ln_ppl_stderr: n > 1 ? Math.sqrt(Math.max(0, this.sumDl2 / n - (this.sumDl / n) ** 2) / (n - 1)) : 0,
    };
  }
}
