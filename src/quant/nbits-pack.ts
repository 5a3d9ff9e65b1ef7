import { Tensor } from '../ir/tensor.js';
import { packInt4, unpackInt4 } from './primitives.js';
import { f32ArrayToF16 } from '../util/half.js';
import type { BlockQuantized } from './rtn.js';

/**
 * onnxruntime com.microsoft.MatMulNBits weight layout:
 *   B           uint8  [N, K/bs, bs*bits/8], codes along K, two 4-bit codes per byte (low nibble first)
 *   scales      float  [N, K/bs] — stored as float16 (llama.cpp's choice: 2 bytes a block, not 4;
 *               at block 16 that is 5 bits per 4-bit weight instead of 6) and read through a Cast that
 *               onnxruntime folds at load, since MatMulNBits wants them in the activations' type.
 *   zero_points uint8  [N, ceil(K/bs*bits/8)] (4-bit: two per byte, low nibble first); omitted when
 *               symmetric, where the runtime's default 2^(bits-1) is ours.
 * B is row-major per output channel, the same layout as a [vocab, hidden] embedding table, which
 * is why one packed table can serve both the tied LM head and the token gather.
 */
export interface NBitsTensors { b: Tensor; scales: Tensor; zeroPoints: Tensor | null }

export function packNBits(q: BlockQuantized): NBitsTensors {
  const { n, k, bits, blockSize: bs } = q;
  const nb = k / bs;
  const blob = (bs * bits) / 8;
  const b = bits === 8 ? q.codes.slice() : packInt4(q.codes);
  const scales = halfScales(q.scales, [n, nb]) ?? new Tensor('float32', [n, nb], q.scales.slice());
  if (q.symmetric) return { b: new Tensor('uint8', [n, nb, blob], b), scales, zeroPoints: null };
  const zpCols = Math.ceil((nb * bits) / 8);
  let zp: Uint8Array;
  if (bits === 8) zp = q.zeroPoints.slice();
  else {
    // Each row packs separately (an odd block count pads the row's last byte).
    zp = new Uint8Array(n * zpCols);
    for (let r = 0; r < n; r++) zp.set(packInt4(q.zeroPoints.subarray(r * nb, (r + 1) * nb)), r * zpCols);
  }
  return { b: new Tensor('uint8', [n, nb, blob], b), scales, zeroPoints: new Tensor('uint8', [n, zpCols], zp) };
}

/** Inverse of `packNBits`: codes and zero points back from the runtime tensors (for tests and tools). */
export function unpackNBits(t: NBitsTensors, bits: 4 | 8, k: number): { codes: Uint8Array; zeroPoints: Uint8Array } {
  const [n, nb] = t.b.dims;
  const raw = t.b.data as Uint8Array;
  const codes = new Uint8Array(n * k);
  if (bits === 8) codes.set(raw);
  else codes.set(unpackInt4(raw, n * k, false));
  const zeroPoints = new Uint8Array(n * nb).fill(1 << (bits - 1));
  if (t.zeroPoints) {
    const zp = t.zeroPoints.data as Uint8Array;
    const cols = t.zeroPoints.dims[1];
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < nb; c++) zeroPoints[r * nb + c] = bits === 8 ? zp[r * cols + c] : (zp[r * cols + (c >> 1)] >> ((c & 1) * 4)) & 15;
    }
  }
  return { codes, zeroPoints };
}

/**
 * Scales as float16 when that keeps each to float16's normal precision (|s| in [2⁻¹⁴, 65504], or 0):
 * a relative change ≤ 2⁻¹¹, under a thousandth of a 4-bit step. Otherwise null (kept float32).
 */
function halfScales(scales: Float32Array, dims: number[]): Tensor | null {
  for (const s of scales) {
    const a = Math.abs(s);
    if (a !== 0 && (a < 2 ** -14 || a > 65504)) return null;
  }
  return new Tensor('float16', dims, f32ArrayToF16(scales));
}

/** Bytes of the packed tensors: the on-disk size of one quantized weight (float16 scales; see `halfScales`). */
export function nbitsBytes(n: number, k: number, bits: 4 | 8, blockSize: number, symmetric: boolean): number {
  const nb = k / blockSize;
  return (n * k * bits) / 8 + n * nb * 2 + (symmetric ? 0 : n * Math.ceil((nb * bits) / 8));
}
