import { evenRows, outputError } from './output-error.js';
import { rtnQuantize, dequantizeBlocks, type BlockFormat } from './rtn.js';

/**
 * AWQ (Lin et al. 2023): inputs that carry large activations matter more, so scale those weight
 * columns up before rounding (s_k = rms(x_k)^α) and the activations down by the same factor (folded
 * into the norm before, exact in float). α is searched on a grid for the smallest output error of
 * the whole group, measured with the calibration Gram matrix H = Σ x xᵀ instead of stored
 * activations: ‖(W − Ŵ)X‖² = Σ_rows Δ H Δᵀ with Δ = W − Q(W·diag(s))·diag(1/s).
 */
export interface AwqSearch {
  scales: Float32Array;
  alpha: number;
  /** Output error (on the sampled rows) at α = 0, i.e. plain RTN, and at the chosen α. */
  rtnError: number;
  error: number;
}

/** `linears`: the group's weights as [N, K] rows; α = 0 (no scaling) is always a candidate. */
export function awqSearch(linears: { rows: Float32Array; n: number }[], k: number, gram: Float32Array, fmt: BlockFormat, grid = 20, sampleRows = 64): AwqSearch {
  const rms = new Float64Array(k);
  for (let i = 0; i < k; i++) rms[i] = Math.sqrt(Math.max(gram[i * k + i], 0));
  // Evenly spaced rows of every linear: the error estimate costs sampleRows·K² per candidate.
  const samples = linears.map(({ rows, n }) => evenRows(rows, n, k, sampleRows));
  let best: AwqSearch | null = null;
  let rtnError = 0;
  for (let g = 0; g <= grid; g++) {
    const alpha = g / grid;
    const s = scalesFor(rms, alpha);
    let err = 0;
    for (const { rows, n } of samples) err += scaledError(rows, n, k, s, gram, fmt);
    if (g === 0) rtnError = err;
    if (!best || err < best.error) best = { scales: s, alpha, rtnError, error: err };
  }
  return { ...best!, rtnError };
}

/** s_k = rms_k^α, normalised so that max·min = 1 (as AutoAWQ), never 0. */
export function scalesFor(rms: Float64Array, alpha: number): Float32Array {
  const s = new Float32Array(rms.length);
  let lo = Infinity, hi = 0;
  for (let i = 0; i < rms.length; i++) { s[i] = Math.max(Math.pow(Math.max(rms[i], 1e-8), alpha), 1e-4); lo = Math.min(lo, s[i]); hi = Math.max(hi, s[i]); }
  const norm = Math.sqrt(lo * hi);
  for (let i = 0; i < s.length; i++) s[i] /= norm;
  return s;
}

/** Σ_rows Δ H Δᵀ for rows [n, K] quantized after scaling columns by s (Ŵ = Q(W·s) / s). */
function scaledError(rows: Float32Array, n: number, k: number, s: Float32Array, gram: Float32Array, fmt: BlockFormat): number {
  const scaled = new Float32Array(rows.length);
  for (let r = 0; r < n; r++) for (let i = 0; i < k; i++) scaled[r * k + i] = rows[r * k + i] * s[i];
  const dq = dequantizeBlocks(rtnQuantize(scaled, n, k, fmt));
  for (let r = 0; r < n; r++) for (let i = 0; i < k; i++) dq[r * k + i] /= s[i];
  return outputError(rows, dq, n, k, gram);
}
