import { byteLength, type DType, type TypedArray, viewAs } from './dtype.js';

/** Where a tensor's bytes live when they are not in memory (ONNX external data). */
export interface ExternalRef { location: string; offset: number; length: number }

/**
 * A constant tensor. `data` holds the elements: a typed array for numeric types
 * (float16/bfloat16 as raw Uint16, int4/uint4 as packed bytes).
 */
export class Tensor {
  constructor(
    public readonly dtype: DType,
    public readonly dims: number[],
    public data: TypedArray,
  ) {
    const n = numel(dims);
    const want = dtype === 'int4' || dtype === 'uint4' ? byteLength(dtype, n) : n;
    if (data.length !== want) {
      throw new Error(`tensor data has ${data.length} elements, shape [${dims}] of ${dtype} needs ${want}`);
    }
  }

  get size(): number { return numel(this.dims); }

  /** Bytes the elements occupy when serialised. */
  get byteLength(): number { return byteLength(this.dtype, this.size); }

  /** Little-endian bytes of the elements (a view, not a copy, where possible). */
  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, this.data.byteOffset, this.byteLength);
  }

  static fromBytes(dtype: DType, dims: number[], bytes: Uint8Array): Tensor {
    return new Tensor(dtype, dims, viewAs(dtype, bytes, numel(dims)));
  }

  static f32(dims: number[], data: ArrayLike<number>): Tensor {
    return new Tensor('float32', dims, Float32Array.from(data));
  }

  static i64(dims: number[], data: ArrayLike<number>): Tensor {
    return new Tensor('int64', dims, BigInt64Array.from(Array.from(data, (x) => BigInt(x))));
  }

  static scalarF32(x: number): Tensor { return Tensor.f32([], [x]); }
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
