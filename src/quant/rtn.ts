import { blockScale } from './scale-search.js';
import { chooseParams, dequantize, quantize, roundEven, type QuantParams, type QuantScheme } from './primitives.js';

/**
 * Round-to-nearest block quantization: the baseline weight-only algorithm. One scale (and zero
 * point when asymmetric) per block of `blockSize` consecutive inputs of each output row; every
 * weight rounds to the nearest code. GPTQ (gptq.ts) and importance-weighted RTN fill the same `BlockQuantized`.
 */
export interface BlockFormat {
  bits: 4 | 8;
  /** Inputs (K) per block; must divide K. */
  blockSize: number;
  /** Symmetric: zero point fixed at 2^(bits-1). */
  symmetric: boolean;
}

/** Unsigned codes of an [N, K] matrix (rows = output channels) with per-block scales / zero points. */
export interface BlockQuantized extends BlockFormat {
  n: number;
  k: number;
  /** [N, K] codes in 0 .. 2^bits - 1. */
  codes: Uint8Array;
  /** [N, K/blockSize] (may be negative for symmetric blocks, see `rtnQuantize`). */
  scales: Float32Array;
  /** [N, K/blockSize]; all 2^(bits-1) when symmetric. */
  zeroPoints: Uint8Array;
}

export const blockScheme = (fmt: BlockFormat): QuantScheme => ({
  type: fmt.bits === 4 ? 'uint4' : 'uint8', symmetric: fmt.symmetric, granularity: 'block', axis: 1, blockSize: fmt.blockSize,
});

/**
 * RTN over row-major `rows` [N, K].
 * Symmetric uses the full code range as MLAS and llama.cpp Q4_0 do: scale = m / -2^(bits-1) with m
 * the block's value of largest magnitude (sign kept), so m lands exactly on code 0 and all 16 (256)
 * levels are used; absmax / 7 would leave one of 16 levels unused.
 * Asymmetric: the shared primitive (range widened to include 0, 2^bits - 1 steps).
 */
export function rtnQuantize(rows: Float32Array, n: number, k: number, fmt: BlockFormat): BlockQuantized {
  if (fmt.symmetric) return fullRangeSymmetric(rows, n, k, fmt);
  const scheme = blockScheme(fmt);
  const params = chooseParams(rows, n, k, scheme);
  const codes = quantize(rows, n, k, scheme, params) as Uint8Array;
  return { ...fmt, n, k, codes, scales: params.scale, zeroPoints: Uint8Array.from(params.zeroPoint) };
}

/** Symmetric full-range RTN in one pass per block (the hot path: ~3x the generic primitives' speed). */
function fullRangeSymmetric(rows: Float32Array, n: number, k: number, fmt: BlockFormat): BlockQuantized {
  const bs = fmt.blockSize, nb = k / bs, mid = 1 << (fmt.bits - 1), qmax = (1 << fmt.bits) - 1;
  if (k % bs !== 0) throw new RangeError(`dimension ${k} is not divisible by block ${bs}`);
  const scales = new Float32Array(n * nb);
  const codes = new Uint8Array(n * k);
  for (let g = 0; g < n * nb; g++) {
    const start = g * bs, end = start + bs;
    let m = 0, am = 0;
    for (let i = start; i < end; i++) { const a = Math.abs(rows[i]); if (a > am) { am = a; m = rows[i]; } }
    const scale = m === 0 ? 1 : Math.fround(m / -mid); // an all-zero block is exact with any scale
    scales[g] = scale;
    const inv = 1 / scale;
    for (let i = start; i < end; i++) {
      const q = roundEven(rows[i] * inv) + mid;
      codes[i] = q < 0 ? 0 : q > qmax ? qmax : q;
    }
  }
  return { ...fmt, n, k, codes, scales, zeroPoints: new Uint8Array(n * nb).fill(mid) };
}

/** (code - zero point) · scale as float32 [N, K]: the weights the runtime computes with. */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const params: QuantParams = { scale: q.scales, zeroPoint: Int32Array.from(q.zeroPoints), dims: [q.n, q.k / q.blockSize] };
  return dequantize(q.codes, q.n, q.k, blockScheme(q), params);
}

/**
 * RTN with importance (llama.cpp's imatrix): each block's scale is searched to minimise the error
 * weighted by `importance` [K] (the calibration's Σ x² per input), then every weight rounds to nearest.
 */
export function rtnImportance(rows: Float32Array, n: number, k: number, fmt: BlockFormat, importance: Float32Array): BlockQuantized {
  const bs = fmt.blockSize, nb = k / bs, qmax = (1 << fmt.bits) - 1;
  if (k % bs !== 0) throw new RangeError(`dimension ${k} is not divisible by block ${bs}`);
  const scales = new Float32Array(n * nb), zeroPoints = new Uint8Array(n * nb), codes = new Uint8Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < nb; b++) {
      const start = r * k + b * bs;
      const { scale, zeroPoint } = blockScale(rows.subarray(start, start + bs), fmt, importance.subarray(b * bs, b * bs + bs));
      scales[r * nb + b] = scale;
      zeroPoints[r * nb + b] = zeroPoint;
      for (let i = start; i < start + bs; i++) {
        const q = roundEven(rows[i] / scale) + zeroPoint;
        codes[i] = q < 0 ? 0 : q > qmax ? qmax : q;
      }
    }
  }
  return { ...fmt, n, k, codes, scales, zeroPoints };
}
