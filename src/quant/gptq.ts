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
}

export const gptqDefaults: GptqOptions = { damp: 0.01, actOrder: false, importanceScales: true, lazyBlock: 128 };

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
  return { k, perm, u: await upperCholeskyOfInverse(h, k, gemm), imp, dead };
}

/** `rows` [N, K] row-major; `hess` from `prepareGptq` with the same act-order setting. */
export async function gptqQuantize(rows: Float32Array, n: number, k: number, fmt: BlockFormat, hess: GptqHessian, opts: Partial<GptqOptions>, gemm: Gemm): Promise<BlockQuantized> {
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
  return { ...fmt, n, k, codes, scales, zeroPoints };
}
