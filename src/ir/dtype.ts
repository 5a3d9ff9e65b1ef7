// ONNX element types (TensorProto.DataType) and their JS storage.
export type DType =
  | 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool'
  | 'float16' | 'float64' | 'uint32' | 'uint64' | 'bfloat16' | 'uint4' | 'int4';

const CODES: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16, uint4: 21, int4: 22,
};
const BY_CODE = new Map<number, DType>(Object.entries(CODES).map(([k, v]) => [v, k as DType]));

/** Bits per element as stored on disk (raw_data). */
const BITS: Record<DType, number> = {
  float32: 32, uint8: 8, int8: 8, uint16: 16, int16: 16, int32: 32, int64: 64, string: 0, bool: 8,
  float16: 16, float64: 64, uint32: 32, uint64: 64, bfloat16: 16, uint4: 4, int4: 4,
};

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export function dtypeCode(d: DType): number { return CODES[d]; }

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (!d) throw new Error(`unsupported ONNX data type ${code}`);
  return d;
}

export function dtypeBits(d: DType): number { return BITS[d]; }

/** Bytes needed to store `n` elements of `d` (4-bit types pack two per byte). */
export function byteLength(d: DType, n: number): number { return Math.ceil((n * BITS[d]) / 8); }

/** Typed array view over raw little-endian bytes. 16-bit floats and 4-bit types stay as raw integers. */
export function viewAs(d: DType, bytes: Uint8Array, n: number): TypedArray {
  // Copy when misaligned (Buffer.slice would return a view, so copy explicitly).
  const buf = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset } = buf;
  switch (d) {
    case 'float32': return new Float32Array(buffer, byteOffset, n);
    case 'float64': return new Float64Array(buffer, byteOffset, n);
    case 'int8': return new Int8Array(buffer, byteOffset, n);
    case 'uint8': case 'bool': return new Uint8Array(buffer, byteOffset, n);
    case 'int16': return new Int16Array(buffer, byteOffset, n);
    case 'uint16': case 'float16': case 'bfloat16': return new Uint16Array(buffer, byteOffset, n);
    case 'int32': return new Int32Array(buffer, byteOffset, n);
    case 'uint32': return new Uint32Array(buffer, byteOffset, n);
    case 'int64': return new BigInt64Array(buffer, byteOffset, n);
    case 'uint64': return new BigUint64Array(buffer, byteOffset, n);
    case 'int4': case 'uint4': return new Uint8Array(buffer, byteOffset, byteLength(d, n));
    case 'string': throw new Error('string tensors have no raw view');
  }
}
