/**
 * Numeric primitives shared by every quantization format: choose scale / zero point per group,
 * quantize, dequantize, and 4-bit packing. Everything works on a row-major 2-D float matrix
 * [rows, cols]; a *group* is a run of elements along `axis` that shares one scale:
 *
 * - per-tensor: one group;
 * - per-channel along axis 0 (MatMul B [K, N]: the input dim K): one scale per column, scales [1, N];
 * - per-block along axis 0 with size B: scales [K / B, N];
 * - along axis 1 (e.g. an embedding table [V, H] with one scale per row): scales [V, H / B].
 *
 * Scale layout is always row-major over (rows / B0, cols / B1), so it can be handed to ONNX as is.
 */

export type QuantType = 'int8' | 'uint8' | 'int4' | 'uint4';

export interface Grouping {
  /** 'channel' is a block that spans the whole axis. */
  granularity: 'tensor' | 'channel' | 'block';
  /** The axis a group extends along (the reduction / input dimension for a MatMul weight). */
  axis: 0 | 1;
  /** Elements per group along `axis` (granularity 'block' only). */
  blockSize?: number;
}

export interface QuantScheme extends Grouping {
  type: QuantType;
  /** Symmetric: zero point fixed at the middle of the range, scale = absmax / (2^(bits-1) - 1). */
  symmetric: boolean;
  /**
   * One bit less of range (onnxruntime's reduce_range): symmetric int8 uses -64..64, asymmetric uint8 0..127.
   * Needed for int8 weights read by onnxruntime's u8s8 CPU kernels, whose int16 pair sums saturate
   * when |w| > 64 meets a large uint8 activation (measured; see passes/dynamic-int8.ts).
   */
  reduceRange?: boolean;
}

export interface QuantParams {
  /** One scale per group, row-major over `dims`. */
  scale: Float32Array;
  /** One zero point per group (in the quantized type's value range), same layout. */
  zeroPoint: Int32Array;
  /** Shape of the scale / zero-point grid: [rows / blockRows, cols / blockCols]; [1, 1] per tensor. */
  dims: [number, number];
}

export interface QuantRange { qmin: number; qmax: number; bits: number; signed: boolean }

/** The codes a scheme may use: the type's full range, or one bit less with `reduceRange`. */
export function schemeRange(s: Pick<QuantScheme, 'type' | 'symmetric' | 'reduceRange'>): { qmin: number; qmax: number; half: number; mid: number } {
  const { qmin, qmax, bits, signed } = quantRange(s.type);
  const mid = signed ? 0 : 2 ** (bits - 1);
  if (!s.reduceRange) return { qmin, qmax, half: 2 ** (bits - 1) - 1, mid };
  const half = 2 ** (bits - 2);
  return s.symmetric ? { qmin: mid - half, qmax: mid + half, half, mid } : { qmin: signed ? -half : 0, qmax: signed ? half - 1 : 2 * half - 1, half, mid };
}

export function quantRange(t: QuantType): QuantRange {
  switch (t) {
    case 'int8': return { qmin: -128, qmax: 127, bits: 8, signed: true };
    case 'uint8': return { qmin: 0, qmax: 255, bits: 8, signed: false };
    case 'int4': return { qmin: -8, qmax: 7, bits: 4, signed: true };
    case 'uint4': return { qmin: 0, qmax: 15, bits: 4, signed: false };
  }
}

/** Block extent along each axis for a matrix [rows, cols]. Throws when a block does not divide its axis. */
export function groupShape(rows: number, cols: number, g: Grouping): { br: number; bc: number; dims: [number, number] } {
  if (g.granularity === 'tensor') return { br: rows, bc: cols, dims: [1, 1] };
  const len = g.axis === 0 ? rows : cols;
  const b = g.granularity === 'channel' ? len : g.blockSize ?? 0;
  if (!Number.isInteger(b) || b <= 0) throw new RangeError(`block size must be a positive integer, got ${g.blockSize}`);
  if (len % b !== 0) throw new RangeError(`dimension ${len} is not divisible by block ${b}`);
  return g.axis === 0 ? { br: b, bc: 1, dims: [rows / b, cols] } : { br: 1, bc: b, dims: [rows, cols / b] };
}

/** Round half to even, as ONNX QuantizeLinear does. */
export function roundEven(v: number): number {
  // Math.floor(v + 0.5) rather than Math.round: ~3.5× faster in V8 (the scale search and GPTQ round
  // every weight 20 times). v + 0.5 can round up (0.49999999999999994 → 1): then r − v > 0.5.
  let r = Math.floor(v + 0.5);
  const d = r - v;
  if (d > 0.5 || (d === 0.5 && (r & 1) !== 0)) r -= 1;
  return r;
}

/**
 * Choose scale and zero point for each group of `x` ([rows, cols], row-major).
 * Symmetric: zero point = middle of the range (0 for signed, 2^(bits-1) for unsigned), scale = absmax / (2^(bits-1) - 1),
 * so the grid is symmetric (int8 uses -127..127). Asymmetric: the range [min(x, 0), max(x, 0)] is mapped onto qmin..qmax.
 * An all-zero group gets scale 1 (any scale represents it exactly; 0 would divide by zero).
 */
export function chooseParams(x: Float32Array, rows: number, cols: number, s: QuantScheme): QuantParams {
  if (x.length !== rows * cols) throw new RangeError(`matrix has ${x.length} elements, [${rows}, ${cols}] needs ${rows * cols}`);
  const { br, bc, dims } = groupShape(rows, cols, s);
  const n = dims[0] * dims[1];
  const lo = new Float32Array(n).fill(0);
  const hi = new Float32Array(n).fill(0);
  const gc = dims[1];
  for (let r = 0; r < rows; r++) {
    const gr = ((r / br) | 0) * gc;
    const off = r * cols;
    if (bc === 1) {
      // Per-column groups: one running min/max per column.
      for (let c = 0; c < cols; c++) {
        const v = x[off + c], g = gr + c;
        if (v < lo[g]) lo[g] = v; else if (v > hi[g]) hi[g] = v;
      }
    } else {
      for (let c0 = 0, g = gr; c0 < cols; c0 += bc, g++) {
        let mn = lo[g], mx = hi[g];
        const end = off + Math.min(c0 + bc, cols);
        for (let i = off + c0; i < end; i++) { const v = x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
        lo[g] = mn; hi[g] = mx;
      }
    }
  }
  const { qmin, qmax, half, mid } = schemeRange(s);
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  for (let g = 0; g < n; g++) {
    if (s.symmetric) {
      const amax = Math.max(-lo[g], hi[g]);
      scale[g] = amax > 0 ? amax / half : 1;
      zeroPoint[g] = mid;
    } else {
      const range = hi[g] - lo[g];
      const sc = range > 0 ? range / (qmax - qmin) : 1;
      scale[g] = sc;
      zeroPoint[g] = Math.min(qmax, Math.max(qmin, roundEven(qmin - lo[g] / Math.fround(sc))));
    }
  }
  return { scale, zeroPoint, dims };
}

/** q = clamp(roundEven(x / scale) + zp, qmin, qmax), one element per byte (signed types in an Int8Array). */
export function quantize(x: Float32Array, rows: number, cols: number, s: QuantScheme, p: QuantParams): Int8Array | Uint8Array {
  const { br, bc } = groupShape(rows, cols, s);
  const { qmin, qmax } = schemeRange(s);
  const out = quantRange(s.type).signed ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  const gc = p.dims[1];
  const { scale, zeroPoint } = p;
  // Round half to even inlined; one loop shape per grouping so the group index is not divided per element.
  for (let r = 0; r < rows; r++) {
    const gr = ((r / br) | 0) * gc;
    const off = r * cols;
    if (bc === 1) {
      for (let c = 0; c < cols; c++) {
        const g = gr + c;
        const v = x[off + c] / scale[g];
        let q = Math.round(v);
        if (q - v === 0.5 && (q & 1) !== 0) q -= 1;
        q += zeroPoint[g];
        out[off + c] = q < qmin ? qmin : q > qmax ? qmax : q;
      }
    } else {
      for (let c0 = 0, g = gr; c0 < cols; c0 += bc, g++) {
        const sc = scale[g], z = zeroPoint[g], end = off + Math.min(c0 + bc, cols);
        for (let i = off + c0; i < end; i++) {
          const v = x[i] / sc;
          let q = Math.round(v);
          if (q - v === 0.5 && (q & 1) !== 0) q -= 1;
          q += z;
          out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
        }
      }
    }
  }
  return out;
}

/** x ≈ (q - zp) · scale. */
export function dequantize(q: Int8Array | Uint8Array, rows: number, cols: number, s: Grouping, p: QuantParams): Float32Array {
  const { br, bc } = groupShape(rows, cols, s);
  const out = new Float32Array(rows * cols);
  const gc = p.dims[1];
  for (let r = 0; r < rows; r++) {
    const gr = ((r / br) | 0) * gc;
    const off = r * cols;
    for (let c = 0; c < cols; c++) {
      const g = gr + ((c / bc) | 0);
      out[off + c] = (q[off + c] - p.zeroPoint[g]) * p.scale[g];
    }
  }
  return out;
}

/** Choose parameters and quantize in one call. */
export function quantizeMatrix(x: Float32Array, rows: number, cols: number, s: QuantScheme): { q: Int8Array | Uint8Array; params: QuantParams } {
  const params = chooseParams(x, rows, cols, s);
  return { q: quantize(x, rows, cols, s, params), params };
}

/** Pack 4-bit values two per byte, low nibble first (ONNX int4/uint4 and MatMulNBits order). Odd counts pad with 0. */
export function packInt4(q: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array((q.length + 1) >> 1);
  for (let i = 0, j = 0; i < q.length; i += 2, j++) {
    const lo = q[i] & 0xf;
    const hi = i + 1 < q.length ? q[i + 1] & 0xf : 0;
    out[j] = lo | (hi << 4);
  }
  return out;
}

/** Inverse of packInt4: `n` values, sign-extended when `signed`. */
export function unpackInt4(packed: Uint8Array, n: number, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let v = (packed[i >> 1] >> ((i & 1) * 4)) & 0xf;
    if (signed && v >= 8) v -= 16;
    out[i] = v;
  }
  return out;
}

/** Transpose a row-major [rows, cols] matrix of any typed array. */
export function transpose<T extends Float32Array | Int8Array | Uint8Array>(x: T, rows: number, cols: number): T {
  const out = new (x.constructor as { new(n: number): T })(rows * cols);
  // Tiled so both reads and writes stay in cache for large matrices.
  const TILE = 64;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = x[r * cols + c];
    }
  }
  return out;
}
