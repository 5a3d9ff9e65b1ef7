import { chooseParams, dequantize, quantize, type QuantParams, type QuantScheme } from './primitives.js';

/**
 * Round-to-nearest block quantization: the baseline weight-only algorithm. One scale (and zero
 * point when asymmetric) per block of `blockSize` consecutive inputs of each output row; every
 * weight rounds to the nearest code. GPTQ/AWQ plug in as other `BlockQuantizer`s with the same output.
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

/** The algorithm slot: anything that turns rows into block codes in a given format. */
export type BlockQuantizer = (rows: Float32Array, n: number, k: number, fmt: BlockFormat) => BlockQuantized;

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
export const rtnQuantize: BlockQuantizer = (rows, n, k, fmt) => {
  const scheme = blockScheme(fmt);
  const params = fmt.symmetric ? fullRangeParams(rows, n, k, fmt) : chooseParams(rows, n, k, scheme);
  const codes = quantize(rows, n, k, scheme, params) as Uint8Array;
  return { ...fmt, n, k, codes, scales: params.scale, zeroPoints: Uint8Array.from(params.zeroPoint) };
};

function fullRangeParams(rows: Float32Array, n: number, k: number, fmt: BlockFormat): QuantParams {
  const bs = fmt.blockSize, nb = k / bs, mid = 1 << (fmt.bits - 1);
  const scale = new Float32Array(n * nb);
  for (let g = 0; g < n * nb; g++) {
    let m = 0;
    for (let i = g * bs, end = i + bs; i < end; i++) if (Math.abs(rows[i]) > Math.abs(m)) m = rows[i];
    scale[g] = m === 0 ? 1 : m / -mid; // an all-zero block is exact with any scale
  }
  return { scale, zeroPoint: new Int32Array(n * nb).fill(mid), dims: [n, nb] };
}

/** (code - zero point) · scale as float32 [N, K]: the weights the runtime computes with. */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const params: QuantParams = { scale: q.scales, zeroPoint: Int32Array.from(q.zeroPoints), dims: [q.n, q.k / q.blockSize] };
  return dequantize(q.codes, q.n, q.k, blockScheme(q), params);
}

/** Registered algorithms, by the `algorithm` field of a weight-only config. */
export const BLOCK_ALGORITHMS: Record<string, BlockQuantizer> = { rtn: rtnQuantize };
