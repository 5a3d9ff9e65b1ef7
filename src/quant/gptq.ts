import { roundEven } from './primitives.js';
import type { BlockFormat, BlockQuantized } from './rtn.js';
import { blockScale } from './scale-search.js';

/**
 * GPTQ (Frantar et al. 2022): quantize the columns (inputs) of W one at a time and spread each
 * column's rounding error over the columns not yet quantized, weighted by the inverse Hessian of
 * the layer's output error H = XᵀX, so ‖WX − ŴX‖ rather than ‖W − Ŵ‖ is minimised. Block format as
 * RTN's (per-row scale per `blockSize` inputs); a block's scales are chosen when its first column
 * is reached, from the weights as the earlier errors left them.
 */
export interface GptqOptions {
  /** Added to H's diagonal as a fraction of its mean (AutoGPTQ's damp_percent). */
  damp: number;
  /**
   * Quantize columns in order of decreasing H diagonal (AutoGPTQ's desc_act). Block scales are then
   * fixed from the unmodified weights first ("static groups"), as a block's columns are no longer
   * reached together.
   */
  actOrder: boolean;
  /** Weight block scales by diag(H) (importance search) instead of plain absmax. */
  importanceScales: boolean;
  /** Columns updated together before the lazy update of the rest (GPTQ's blocksize). */
  lazyBlock: number;
}

export const gptqDefaults: GptqOptions = { damp: 0.01, actOrder: false, importanceScales: true, lazyBlock: 128 };

/** `rows` [N, K] row-major, `gram` [K, K] = Σ x xᵀ over the calibration tokens. */
export function gptqQuantize(rows: Float32Array, n: number, k: number, fmt: BlockFormat, gram: Float32Array, opts: Partial<GptqOptions> = {}): BlockQuantized {
  const o = { ...gptqDefaults, ...opts };
  const bs = fmt.blockSize, nb = k / bs, mid = 1 << (fmt.bits - 1), qmax = (1 << fmt.bits) - 1;
  if (k % bs !== 0) throw new RangeError(`dimension ${k} is not divisible by block ${bs}`);
  if (gram.length !== k * k) throw new RangeError(`Gram matrix has ${gram.length} entries, expected ${k}×${k}`);

  // Column order (act-order permutes), H in that order, and Wᵀ so that a column is a contiguous row.
  const diag = new Float64Array(k);
  for (let i = 0; i < k; i++) diag[i] = gram[i * k + i];
  const perm = Array.from({ length: k }, (_, i) => i);
  if (o.actOrder) perm.sort((a, b) => diag[b] - diag[a] || a - b);
  const h = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j] = gram[perm[i] * k + perm[j]];
  const wt = new Float64Array(k * n);
  for (let i = 0; i < k; i++) { const c = perm[i]; for (let r = 0; r < n; r++) wt[i * n + r] = rows[r * k + c]; }
  // Inputs never active: their weights cannot matter; pin them to zero and make H invertible.
  let mean = 0;
  for (let i = 0; i < k; i++) {
    if (h[i * k + i] === 0) { h[i * k + i] = 1; wt.fill(0, i * n, (i + 1) * n); }
    mean += h[i * k + i] / k;
  }
  for (let i = 0; i < k; i++) h[i * k + i] += o.damp * mean;
  // Scale search weighs inputs by the damped diagonal: the objective GPTQ minimises (original order).
  const imp = o.importanceScales ? new Float32Array(k) : null;
  if (imp) for (let i = 0; i < k; i++) imp[perm[i]] = h[i * k + i];
  const u = upperCholeskyOfInverse(h, k);

  const scales = new Float32Array(n * nb);
  const zeroPoints = new Uint8Array(n * nb).fill(mid);
  const codes = new Uint8Array(n * k);
  // Scales of block b (original column order) for every row, from columns `cols` of wt.
  const chooseBlock = (b: number, colOf: (c: number) => number) => {
    const vals = new Float32Array(bs), w = imp ? new Float32Array(bs) : null;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < bs; c++) { vals[c] = wt[colOf(c) * n + r]; if (w) w[c] = imp![b * bs + c]; }
      const p = blockScale(vals, fmt, w);
      scales[r * nb + b] = p.scale;
      zeroPoints[r * nb + b] = p.zeroPoint;
    }
  };
  if (o.actOrder) {
    const pos = new Int32Array(k);
    for (let i = 0; i < k; i++) pos[perm[i]] = i;
    for (let b = 0; b < nb; b++) chooseBlock(b, (c) => pos[b * bs + c]);
  }

  const lb = Math.max(o.lazyBlock, bs); // a multiple of bs (both powers of two): a block's columns are updated before its scales are chosen
  const err = new Float64Array(lb * n);
  for (let i1 = 0; i1 < k; i1 += lb) {
    const i2 = Math.min(i1 + lb, k);
    for (let i = i1; i < i2; i++) {
      const col = perm[i], b = (col / bs) | 0;
      if (!o.actOrder && col % bs === 0) chooseBlock(b, (c) => i + c);
      const d = u[i * k + i];
      const e = err.subarray((i - i1) * n, (i - i1 + 1) * n);
      const wi = i * n;
      for (let r = 0; r < n; r++) {
        const s = scales[r * nb + b], z = zeroPoints[r * nb + b];
        const w = wt[wi + r];
        let q = roundEven(w / s) + z;
        q = q < 0 ? 0 : q > qmax ? qmax : q;
        codes[r * k + col] = q;
        e[r] = (w - (q - z) * s) / d;
      }
      for (let j = i + 1; j < i2; j++) axpy(wt, j * n, -u[i * k + j], e, n);
    }
    // The columns after this block receive its errors at once (GPTQ's lazy batch update).
    for (let j = i2; j < k; j++) for (let i = i1; i < i2; i++) axpy(wt, j * n, -u[i * k + j], err.subarray((i - i1) * n), n);
  }
  return { ...fmt, n, k, codes, scales, zeroPoints };
}

function axpy(y: Float64Array, off: number, a: number, x: Float64Array, n: number): void {
  if (a === 0) return;
  for (let r = 0; r < n; r++) y[off + r] += a * x[r];
}

/**
 * U upper-triangular with H⁻¹ = UᵀU (what GPTQ reads its updates from), without forming H⁻¹:
 * H = VVᵀ with V upper (Cholesky taken from the last index backwards), so H⁻¹ = V⁻ᵀV⁻¹ and U = V⁻¹.
 * `h` (symmetric positive definite, row-major) is overwritten.
 */
export function upperCholeskyOfInverse(h: Float64Array, k: number): Float64Array {
  // V in the upper triangle of h, column j from the right: V[i][j] = (H[i][j] − Σ_{m>j} V[i][m]V[j][m]) / V[j][j].
  for (let j = k - 1; j >= 0; j--) {
    const jr = j * k;
    let s = h[jr + j];
    for (let m = j + 1; m < k; m++) s -= h[jr + m] * h[jr + m];
    if (!(s > 0)) throw new RangeError(`Hessian is not positive definite at column ${j} (raise the damping)`);
    const vjj = Math.sqrt(s);
    h[jr + j] = vjj;
    for (let i = 0; i < j; i++) {
      const ir = i * k;
      let t = h[ir + j];
      for (let m = j + 1; m < k; m++) t -= h[ir + m] * h[jr + m];
      h[ir + j] = t / vjj;
    }
  }
  // U = V⁻¹ row by row from the bottom: U[i][i] = 1/V[i][i], U[i][j] = −(Σ_{i<m≤j} V[i][m]U[m][j]) / V[i][i].
  const u = new Float64Array(k * k);
  for (let i = k - 1; i >= 0; i--) {
    const ir = i * k, inv = 1 / h[ir + i];
    u[ir + i] = inv;
    for (let m = i + 1; m < k; m++) {
      const a = -h[ir + m] * inv;
      if (a === 0) continue;
      const mr = m * k;
      for (let j = m; j < k; j++) u[ir + j] += a * u[mr + j];
    }
  }
  return u;
}
