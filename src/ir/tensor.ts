import { byteLength, type DType, type TypedArray, viewAs } from './dtype.js';

/** Where a tensor's bytes live when they are not in memory (ONNX external data). */
export interface ExternalRef { location: string; offset: number; length: number }

/**
 * A constant tensor. `data` holds the elements: a typed array for numeric types
 * (float16/bfloat16 as raw Uint16, int4/uint4 as packed bytes).
 *
 * A lazy tensor (`new Tensor(dtype, dims, () => load())`) reads its elements only when `data` is
 * asked for, and does not keep them: the last few loads stay in a small shared cache
 * (LAZY_CACHE_BYTES), so a checkpoint larger than memory can be built into a graph, quantized tensor
 * by tensor and written out while only the outputs and a few inputs are resident.
 */
export class Tensor {
  private readonly own: TypedArray | null;
  private readonly load: (() => TypedArray) | null;

  constructor(
    public readonly dtype: DType,
    public readonly dims: number[],
    data: TypedArray | (() => TypedArray),
  ) {
    if (typeof data === 'function') { this.own = null; this.load = data; return; }
    this.own = data;
    this.load = null;
    this.check(data);
  }

  /** The elements (loaded now, and cached briefly, for a lazy tensor). */
  get data(): TypedArray {
    if (this.own) return this.own;
    const hit = cache.get(this);
    if (hit) { cache.delete(this); cache.set(this, hit); return hit; }
    const d = this.load!();
    this.check(d);
    remember(this, d);
    return d;
  }

  /** Whether the elements are read on demand rather than held. */
  get lazy(): boolean { return this.own === null; }

  private check(data: TypedArray): void {
    const n = numel(this.dims);
    const want = this.dtype === 'int4' || this.dtype === 'uint4' ? byteLength(this.dtype, n) : n;
    if (data.length !== want) {
      throw new Error(`tensor data has ${data.length} elements, shape [${this.dims}] of ${this.dtype} needs ${want}`);
    }
  }

  get size(): number { return numel(this.dims); }

  /** Bytes the elements occupy when serialised. */
  get byteLength(): number { return byteLength(this.dtype, this.size); }

  /** Little-endian bytes of the elements (a view, not a copy, where possible). */
  bytes(): Uint8Array {
    const d = this.data;
    return new Uint8Array(d.buffer, d.byteOffset, this.byteLength);
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

/** Bytes of lazily loaded tensors kept (least recently used dropped first; the newest always stays). */
export const LAZY_CACHE_BYTES = 128 * 2 ** 20;
const cache = new Map<Tensor, TypedArray>();
let cachedBytes = 0;
/** Loads performed so far (tests check that building a graph reads no weights), and who is told of each (progress). */
export const lazyLoads: { count: number; listener: ((t: Tensor) => void) | null } = { count: 0, listener: null };

function remember(t: Tensor, d: TypedArray): void {
  lazyLoads.count++;
  lazyLoads.listener?.(t);
  cache.set(t, d);
  cachedBytes += d.byteLength;
  for (const [k, v] of cache) {
    if (cachedBytes <= LAZY_CACHE_BYTES || k === t) break;
    cache.delete(k);
    cachedBytes -= v.byteLength;
  }
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
