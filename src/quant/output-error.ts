/** Up to `take` evenly spaced rows of a row-major [n, k] matrix: cheap error estimates on big layers. */
export function evenRows(rows: Float32Array, n: number, k: number, take: number): { rows: Float32Array; n: number } {
  const m = Math.min(n, take), out = new Float32Array(m * k);
  for (let t = 0; t < m; t++) { const r = Math.floor((t * n) / m); out.set(rows.subarray(r * k, r * k + k), t * k); }
  return { rows: out, n: m };
}

/**
 * Σ_rows Δ H Δᵀ with Δ = w − ŵ per row ([n, k] each) and H = Σ x xᵀ [k, k]: the squared output
 * error ‖(W − Ŵ)X‖² on the calibration inputs, without the inputs.
 */
export function outputError(w: Float32Array, approx: Float32Array, n: number, k: number, gram: Float32Array): number {
  const d = new Float64Array(k);
  let total = 0;
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) d[i] = w[r * k + i] - approx[r * k + i];
    for (let i = 0; i < k; i++) {
      if (d[i] === 0) continue;
      let hd = 0;
      for (let j = 0, hr = i * k; j < k; j++) hd += gram[hr + j] * d[j];
      total += d[i] * hd;
    }
  }
  return total;
}
