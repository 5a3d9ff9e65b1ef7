import { roundEven } from './primitives.js';
import type { BlockFormat, BlockQuantized } from './rtn.js';
import { blockScale } from './scale-search.js';
import { upperCholeskyOfInverse, type Gemm } from './linalg.js';

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
  /**
   * After the codes are fixed, re-solve each row's block scales (symmetric formats) for the least
   * output error under the full H: the scales GPTQ chose from a block's weights before the later
   * columns absorbed their errors are no longer the best ones for the codes it ended with.
   */
  refitScales: boolean;
  /** Rows quantized together (default: 32 MB of float64 working weights, 2²² / K rows). */
  rowSlice?: number;
}

export const gptqDefaults: GptqOptions = { damp: 0.01, actOrder: false, importanceScales: true, lazyBlock: 128, refitScales: true };

/** H's preparation for one layer input (shared by every layer reading it): column order, update rows, scale weights. */
export interface GptqHessian {
  k: number;
  perm: number[];
  /** Upper U with (H + λI)⁻¹ = UᵀU, in `perm` order. */
  u: Float64Array;
  /** Damped diagonal in the original order (the scale search's weights), or null. */
  imp: Float32Array | null;
  /** Inputs never active (their weights are set to zero). */
  dead: Uint8Array;
  /** The damped H in the original column order (the scale refit's objective). */
  h: Float32Array;
  /** Position of each original column in `perm`. */
  pos: Int32Array;
}

/** `gram` [K, K] = Σ x xᵀ over the calibration tokens. */
export async function prepareGptq(gram: Float32Array, k: number, opts: Partial<GptqOptions>, gemm: Gemm): Promise<GptqHessian> {
  const o = { ...gptqDefaults, ...opts };
  if (gram.length !== k * k) throw new RangeError(`Gram matrix has ${gram.length} entries, expected ${k}×${k}`);
  const diag = new Float64Array(k);
  for (let i = 0; i < k; i++) diag[i] = gram[i * k + i];
  const perm = Array.from({ length: k }, (_, i) => i);
  if (o.actOrder) perm.sort((a, b) => diag[b] - diag[a] || a - b);
  const h = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j] = gram[perm[i] * k + perm[j]];
  // Inputs never active cannot matter: pin their weights to zero and make H invertible.
  const dead = new Uint8Array(k);
  let mean = 0;
  for (let i = 0; i < k; i++) {
    if (h[i * k + i] === 0) { h[i * k + i] = 1; dead[i] = 1; }
    mean += h[i * k + i] / k;
  }
  for (let i = 0; i < k; i++) h[i * k + i] += o.damp * mean;
  // Scale search weighs inputs by the damped diagonal: the objective GPTQ minimises (original order).
  const imp = o.importanceScales ? new Float32Array(k) : null;
  if (imp) for (let i = 0; i < k; i++) imp[perm[i]] = h[i * k + i];
  const hOrig = new Float32Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) hOrig[perm[i] * k + perm[j]] = h[i * k + j];
  const pos = new Int32Array(k);
  for (let i = 0; i < k; i++) pos[perm[i]] = i;
  return { k, perm, u: await upperCholeskyOfInverse(h, k, gemm), imp, dead, h: hOrig, pos };
}

/**
 * `rows` [N, K] row-major; `hess` from `prepareGptq` with the same act-order setting. Rows are
 * independent under GPTQ (one H for all): a large matrix (an LM head) goes through in slices of
 * ≤ 32 MB of float64 working weights, so its working memory does not grow with the vocabulary.
 */
export async function gptqQuantize(rows: Float32Array, n: number, k: number, fmt: BlockFormat, hess: GptqHessian, opts: Partial<GptqOptions>, gemm: Gemm): Promise<BlockQuantized> {
  const slice = opts.rowSlice ?? Math.max(1, Math.floor(2 ** 22 / k));
  if (n <= slice) return gptqRows(rows, n, k, fmt, hess, opts, gemm);
  const nb = k / fmt.blockSize;
  const out: BlockQuantized = { ...fmt, n, k, codes: new Uint8Array(n * k), scales: new Float32Array(n * nb), zeroPoints: new Uint8Array(n * nb) };
  for (let r0 = 0; r0 < n; r0 += slice) {
    const rn = Math.min(slice, n - r0);
    const part = await gptqRows(rows.subarray(r0 * k, (r0 + rn) * k), rn, k, fmt, hess, opts, gemm);
    out.codes.set(part.codes, r0 * k);
    out.scales.set(part.scales, r0 * nb);
    out.zeroPoints.set(part.zeroPoints, r0 * nb);
  }
  return out;
}

async function gptqRows(rows: Float32Array, n: number, k: number, fmt: BlockFormat, hess: GptqHessian, opts: Partial<GptqOptions>, gemm: Gemm): Promise<BlockQuantized> {
  const o = { ...gptqDefaults, ...opts };
  const bs = fmt.blockSize, nb = k / bs, qmax = (1 << fmt.bits) - 1;
  if (k % bs !== 0) throw new RangeError(`dimension ${k} is not divisible by block ${bs}`);
  if (hess.k !== k) throw new RangeError(`Hessian is ${hess.k}×${hess.k}, weights have K=${k}`);
  const { perm, u, imp } = hess;
  // Wᵀ in column order, so that a column is a contiguous row.
  const wt = new Float64Array(k * n);
  for (let i = 0; i < k; i++) {
    if (hess.dead[i]) continue;
    const c = perm[i];
    for (let r = 0; r < n; r++) wt[i * n + r] = rows[r * k + c];
  }

  const scales = new Float32Array(n * nb);
  const zeroPoints = new Uint8Array(n * nb).fill(1 << (fmt.bits - 1));
  const codes = new Uint8Array(n * k);
  // Scales of block b (original column order) for every row, from wt rows colOf(0..bs-1).
  const chooseBlock = (b: number, colOf: (c: number) => number) => {
    const vals = new Float32Array(bs), w = imp ? imp.subarray(b * bs, b * bs + bs) : null;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < bs; c++) vals[c] = wt[colOf(c) * n + r];
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
      for (let j = i + 1; j < i2; j++) {
        const a = -u[i * k + j];
        if (a === 0) continue;
        for (let r = 0, jo = j * n; r < n; r++) wt[jo + r] += a * e[r];
      }
    }
    if (i2 === k) break;
    // The columns after this block receive its errors at once (GPTQ's lazy batch update), as a GEMM:
    // W[i2:] −= U[i1:i2, i2:]ᵀ · Err.
    const rest = k - i2, h = i2 - i1;
    const ut = new Float32Array(rest * h);
    for (let j = 0; j < rest; j++) for (let t = 0; t < h; t++) ut[j * h + t] = u[(i1 + t) * k + i2 + j];
    const delta = await gemm(ut, rest, h, Float32Array.from(err.subarray(0, h * n)), n);
    for (let j = 0, off = i2 * n; j < rest * n; j++) wt[off + j] -= delta[j];
  }
  if (o.refitScales && fmt.symmetric) await refitScales(rows, n, k, fmt, codes, scales, hess, gemm);
  return { ...fmt, n, k, codes, scales, zeroPoints };
}

/**
 * Per row, the block scales s minimising (w − A s)ᵀ H (w − A s), where A [K, nb] holds the row's
 * centred codes (q − mid) in its block's column: s = (AᵀHA)⁻¹ AᵀHw, an nb × nb system per row.
 * The codes stay; the output error can only fall (least squares over the scales alone). AᵀHA and
 * AᵀHw come from one GEMM per block b: C = A_b-columns [N, bs] · H[b rows, :] [bs, K].
 */
async function refitScales(rows: Float32Array, n: number, k: number, fmt: BlockFormat, codes: Uint8Array, scales: Float32Array, hess: GptqHessian, gemm: Gemm): Promise<void> {
  const bs = fmt.blockSize, nb = k / bs, mid = 1 << (fmt.bits - 1);
  const chunk = Math.max(1, Math.min(n, Math.floor(2 ** 22 / (nb * nb)), Math.floor(2 ** 21 / k))); // rows per pass: ≤ 32 MB of normal equations, ≤ 8 MB per GEMM output
  const m = new Float64Array(chunk * nb * nb), v = new Float64Array(chunk * nb);
  const a = new Float32Array(chunk * k), ab = new Float32Array(chunk * bs), w = new Float32Array(chunk * k);
  const sys = new Float64Array(nb * nb), rhs = new Float64Array(nb);
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const rn = Math.min(chunk, n - r0);
    for (let j = 0; j < rn * k; j++) a[j] = codes[r0 * k + j] - mid;
    // AᵀHw per row from one GEMM, W·H (H symmetric); inputs never active were pinned to zero by GPTQ
    // and are not part of the target either.
    for (let r = 0; r < rn; r++) for (let c = 0; c < k; c++) w[r * k + c] = hess.dead[hess.pos[c]] ? 0 : rows[(r0 + r) * k + c];
    const hw = await gemm(w.subarray(0, rn * k), rn, k, hess.h, k);
    for (let r = 0; r < rn; r++) for (let b = 0; b < nb; b++) {
      let sv = 0;
      for (let c = b * bs, o = r * k; c < (b + 1) * bs; c++) sv += a[o + c] * hw[o + c];
      v[r * nb + b] = sv;
    }
    // AᵀHA: block b1's columns of A times H's rows b1 (one GEMM), then dotted with A block by block.
    for (let b1 = 0; b1 < nb; b1++) {
      for (let r = 0; r < rn; r++) ab.set(a.subarray(r * k + b1 * bs, r * k + (b1 + 1) * bs), r * bs);
      const cm = await gemm(ab.subarray(0, rn * bs), rn, bs, hess.h.subarray(b1 * bs * k, (b1 + 1) * bs * k), k);
      // AᵀHA is symmetric: the blocks b2 ≥ b1, mirrored.
      for (let r = 0; r < rn; r++) {
        const o = r * k, mo = r * nb * nb;
        for (let b2 = b1; b2 < nb; b2++) {
          let sm = 0;
          for (let c = b2 * bs; c < (b2 + 1) * bs; c++) sm += cm[o + c] * a[o + c];
          m[mo + b1 * nb + b2] = m[mo + b2 * nb + b1] = sm;
        }
      }
    }
    for (let r = 0; r < rn; r++) {
      const so = (r0 + r) * nb;
      sys.set(m.subarray(r * nb * nb, (r + 1) * nb * nb));
      rhs.set(v.subarray(r * nb, (r + 1) * nb));
      // A block whose codes are all zero has no scale to fit: pin it (identity row, old value).
      for (let b = 0; b < nb; b++) if (!(sys[b * nb + b] > 0)) { for (let j = 0; j < nb; j++) sys[b * nb + j] = sys[j * nb + b] = 0; sys[b * nb + b] = 1; rhs[b] = scales[so + b]; }
      const s = solveSpd(sys, rhs, nb);
      if (s) for (let b = 0; b < nb; b++) scales[so + b] = Math.fround(s[b]);
    }
  }
}

/** Cholesky solve of a small symmetric positive definite system; null when it is not (keeps the old scales). */
function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let p = 0; p < j; p++) s -= l[i * n + p] * l[j * n + p];
      if (i === j) { if (!(s > 1e-12 * Math.abs(a[i * n + i]))) return null; l[i * n + i] = Math.sqrt(s); } else l[i * n + j] = s / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) { let s = b[i]; for (let p = 0; p < i; p++) s -= l[i * n + p] * y[p]; y[i] = s / l[i * n + i]; }
  for (let i = n - 1; i >= 0; i--) { let s = y[i]; for (let p = i + 1; p < n; p++) s -= l[p * n + i] * y[p]; y[i] = s / l[i * n + i]; }
  return y;
}
