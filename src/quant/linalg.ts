/**
 * The dense linear algebra GPTQ needs, blocked so that the O(K³) and O(N·K²) work is GEMMs done by
 * a pluggable `Gemm` (onnxruntime's MatMul in the pass: runtime/gemm.ts; plain JS in tests) and
 * only O(K²·b) is left to JavaScript loops.
 */

/** C [m, n] = A [m, k] · B [k, n], float32 row-major. */
export type Gemm = (a: Float32Array, m: number, k: number, b: Float32Array, n: number) => Promise<Float32Array>;

/** Reference GEMM in JavaScript (tests, tiny matrices). */
export const jsGemm: Gemm = async (a, m, k, b, n) => {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      if (x === 0) continue;
      for (let j = 0, bo = p * n, co = i * n; j < n; j++) c[co + j] += x * b[bo + j];
    }
  }
  return c;
};

/** Block size of the blocked factorizations. */
const B = 128;

/** Rows r0..r1, columns c0..c1 of a row-major [*, ld] float64 matrix, as float32. */
function slice(x: Float64Array, ld: number, r0: number, r1: number, c0: number, c1: number): Float32Array {
  const w = c1 - c0, out = new Float32Array((r1 - r0) * w);
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[(r - r0) * w + c - c0] = x[r * ld + c];
  return out;
}

/** Inverse of the lower-triangular [h, h] block of `a` (leading dimension `ld`) at (off, off), by forward substitution. */
function diagonalBlockInverse(a: Float64Array, ld: number, off: number, h: number): Float64Array {
  const x = new Float64Array(h * h);
  for (let c = 0; c < h; c++) {
    x[c * h + c] = 1 / a[(off + c) * ld + off + c];
    for (let r = c + 1; r < h; r++) {
      let t = 0;
      for (let m = c; m < r; m++) t += a[(off + r) * ld + off + m] * x[m * h + c];
      x[r * h + c] = -t / a[(off + r) * ld + off + r];
    }
  }
  return x;
}

/**
 * In-place lower Cholesky of a symmetric positive definite [k, k] matrix (only the lower triangle
 * is read; the upper is zeroed): right-looking, the trailing update by `gemm`.
 */
export async function cholesky(a: Float64Array, k: number, gemm: Gemm): Promise<void> {
  for (let j0 = 0; j0 < k; j0 += B) {
    const j1 = Math.min(j0 + B, k);
    // Diagonal block, unblocked.
    for (let j = j0; j < j1; j++) {
      let s = a[j * k + j];
      for (let m = j0; m < j; m++) s -= a[j * k + m] * a[j * k + m];
      if (!(s > 0)) throw new RangeError(`Hessian is not positive definite at column ${j} (raise the damping)`);
      const d = Math.sqrt(s);
      a[j * k + j] = d;
      for (let i = j + 1; i < j1; i++) {
        let t = a[i * k + j];
        for (let m = j0; m < j; m++) t -= a[i * k + m] * a[j * k + m];
        a[i * k + j] = t / d;
      }
    }
    if (j1 === k) break;
    // Panel below: L_ij = A_ij · L_jj⁻ᵀ, one GEMM (row-wise substitution in JS cost as much as the rest).
    const rows = k - j1, w = j1 - j0;
    const inv = diagonalBlockInverse(a, k, j0, w), invT = new Float32Array(w * w);
    for (let r = 0; r < w; r++) for (let c = 0; c <= r; c++) invT[c * w + r] = inv[r * w + c];
    const panel = await gemm(slice(a, k, j1, k, j0, j1), rows, w, invT, w);
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) a[(j1 + r) * k + j0 + c] = panel[r * w + c];
    // Trailing: A[j1:, j1:] -= L_panel · L_panelᵀ.
    const pt = new Float32Array(w * rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) pt[c * rows + r] = panel[r * w + c];
    const upd = await gemm(panel, rows, w, pt, rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c <= r; c++) a[(j1 + r) * k + j1 + c] -= upd[r * rows + c];
  }
  for (let i = 0; i < k; i++) a.fill(0, i * k + i + 1, (i + 1) * k);
}

/** X = L⁻¹ for lower-triangular L [k, k], by block rows: X[i, :i] = −L_ii⁻¹ · L[i, :i] · X[:i, :i]. */
export async function lowerInverse(l: Float64Array, k: number, gemm: Gemm): Promise<Float64Array> {
  const x = new Float64Array(k * k);
  // X's finished rows as float32, the GEMM's right operand: rows :i0 with all k columns are one
  // contiguous range (copying the [i0, i0] corner every block cost more than the GEMM), and the
  // columns past i0 are zero there (X is lower triangular), so T's first i0 columns are the product.
  const x32 = new Float32Array(k * k);
  for (let i0 = 0; i0 < k; i0 += B) {
    const i1 = Math.min(i0 + B, k), h = i1 - i0;
    const inv = diagonalBlockInverse(l, k, i0, h);
    for (let r = 0; r < h; r++) x.set(inv.subarray(r * h, r * h + r + 1), (i0 + r) * k + i0);
    if (i0 > 0) {
      const t = await gemm(slice(l, k, i0, i1, 0, i0), h, i0, x32.subarray(0, i0 * k), k); // [h, k]
      // X[i, :i0] = −X_ii · T (X_ii lower): its first i0 columns.
      const xt = await gemm(Float32Array.from(inv), h, h, t, k);
      for (let r = 0; r < h; r++) for (let c = 0, xo = (i0 + r) * k, to = r * k; c < i0; c++) x[xo + c] = -xt[to + c];
    }
    for (let r = i0; r < i1; r++) for (let c = 0; c <= r; c++) x32[r * k + c] = x[r * k + c];
  }
  return x;
}

/**
 * U upper-triangular with H⁻¹ = UᵀU (GPTQ's update rows) without forming H⁻¹: with P the order
 * reversal, PHP = MMᵀ (M lower) gives H = VVᵀ for the upper V = PMP, so H⁻¹ = V⁻ᵀV⁻¹ and
 * U = V⁻¹ = P M⁻¹ P. `h` (symmetric positive definite, row-major) is not modified.
 */
export async function upperCholeskyOfInverse(h: Float64Array, k: number, gemm: Gemm): Promise<Float64Array> {
  const r = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) r[i * k + j] = h[(k - 1 - i) * k + (k - 1 - j)];
  await cholesky(r, k, gemm);
  const x = await lowerInverse(r, k, gemm);
  const u = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) u[i * k + j] = x[(k - 1 - i) * k + (k - 1 - j)];
  return u;
}
