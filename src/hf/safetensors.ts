import fs from 'node:fs';
import path from 'node:path';
import { type DType, viewAs } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { halfArrayToF32 } from '../util/half.js';
import { parseShardIndex } from './shard-index.js';
import { InputError } from '../util/errors.js';
import { readFully, writeFileAtomic } from '../util/fsx.js';

const ST_DTYPES: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 }, F16: { dtype: 'float16', bytes: 2 }, BF16: { dtype: 'bfloat16', bytes: 2 },
  F64: { dtype: 'float64', bytes: 8 }, I64: { dtype: 'int64', bytes: 8 }, I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 }, I8: { dtype: 'int8', bytes: 1 }, U8: { dtype: 'uint8', bytes: 1 }, BOOL: { dtype: 'bool', bytes: 1 },
};

export interface SafetensorsFile { tensors: Map<string, Tensor>; metadata: Record<string, string> }

/** `len` bytes of `file` from `pos`. */
const readRange = (fd: number, file: string, pos: number, len: number): Buffer =>
  readFully(fd, len, pos, () => new InputError(file, `truncated safetensors file (expected ${len} bytes at offset ${pos})`));

/**
 * Parse a .safetensors file's header, validating every entry against the file size. The tensors
 * are lazy: each reads its bytes from the file when its data is needed, so a checkpoint larger
 * than memory can be opened, inspected and quantized tensor by tensor.
 */
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

export function readSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch (e) {
    throw new InputError(file, `cannot read safetensors file (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw new InputError(file, 'truncated safetensors file (no header)');
    const hlen = Number(readRange(fd, file, 0, 8).readBigUInt64LE(0));
    if (hlen > size - 8 || hlen > 100 * 2 ** 20) throw new InputError(file, `truncated or corrupt safetensors file: header length ${hlen} exceeds the file size ${size}`);
    let header: unknown;
    try { header = JSON.parse(readRange(fd, file, 8, hlen).toString('utf8')); } catch {
      throw new InputError(file, 'safetensors header is not valid JSON');
    }
    if (!isObject(header)) throw new InputError(file, 'safetensors header is not a JSON object');
    const base = 8 + hlen;
    const dataLen = size - base;
    const tensors = new Map<string, Tensor>();
    const spans: [number, number, string][] = [];
    let metadata: Record<string, string> = {};
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (!isObject(info) || !Object.values(info).every((v) => typeof v === 'string')) throw new InputError(file, '__metadata__ must map names to strings');
        metadata = info as Record<string, string>;
        continue;
      }
      if (!isObject(info)) throw new InputError(file, `tensor '${name}': header entry is not an object`);
      const { dtype, shape, data_offsets } = info as { dtype: unknown; shape: unknown; data_offsets: unknown };
      const st = typeof dtype === 'string' && Object.hasOwn(ST_DTYPES, dtype) ? ST_DTYPES[dtype] : undefined;
      if (!st) throw new InputError(file, `tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every(isCount)) throw new InputError(file, `tensor '${name}': shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
      if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(isCount) || data_offsets[0] > data_offsets[1]) {
        throw new InputError(file, `tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(data_offsets)}`);
      }
      const [b, e] = data_offsets as [number, number];
      const count = shape.reduce((n: number, d: number) => n * d, 1);
      if (!Number.isSafeInteger(count * st.bytes)) throw new InputError(file, `tensor '${name}': shape [${shape}] is too large`);
      if (e > dataLen) throw new InputError(file, `truncated safetensors file: tensor '${name}' ends at byte ${base + e}, file has ${size}`);
      if (e - b !== count * st.bytes) throw new InputError(file, `tensor '${name}' has ${e - b} bytes, shape [${shape}] of ${dtype} needs ${count * st.bytes}`);
      spans.push([b, e, name]);
      tensors.set(name, new Tensor(st.dtype, shape as number[], () => {
        const f = fs.openSync(file, 'r');
        try { return viewAs(st.dtype, readRange(f, file, base + b, e - b), count); } finally { fs.closeSync(f); }
      }));
    }
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i][0] < spans[i - 1][1]) throw new InputError(file, `tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap in the data section`);
    }
    return { tensors, metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** All tensors of a Hugging Face model folder (single file or sharded with an index). */
export function readModelWeights(dir: string): Map<string, Tensor> {
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return readSafetensors(single).tensors;
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  if (!fs.existsSync(indexFile)) throw new InputError(dir, 'no model.safetensors or model.safetensors.index.json in this folder');
  const index = parseShardIndex(fs.readFileSync(indexFile, 'utf8'), indexFile);
  const out = new Map<string, Tensor>();
  for (const shard of index.shards) {
    const shardPath = path.join(dir, shard);
    if (!fs.existsSync(shardPath)) throw new InputError(indexFile, `shard '${shard}' is missing from the folder`);
    for (const [k, v] of readSafetensors(shardPath).tensors) out.set(k, v);
  }
  for (const name of index.weightMap.keys()) {
    if (!out.has(name)) throw new InputError(indexFile, `tensor '${name}' is listed in the index but missing from its shard`);
  }
  return out;
}

/** A float tensor as float32 (F16/BF16/F64 converted; a lazy tensor stays lazy). */
export function toFloat32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  let convert: (d: unknown) => Float32Array;
  switch (t.dtype) {
    case 'float16': convert = (d) => halfArrayToF32(d as Uint16Array, false); break;
    case 'bfloat16': convert = (d) => halfArrayToF32(d as Uint16Array, true); break;
    case 'float64': convert = (d) => Float32Array.from(d as Float64Array); break;
    default: throw new Error(`tensor of ${t.dtype} is not a float tensor`);
  }
  return new Tensor('float32', t.dims, t.lazy ? () => convert(t.data) : convert(t.data));
}

const ST_NAME: Partial<Record<DType, string>> = Object.fromEntries(Object.entries(ST_DTYPES).map(([k, v]) => [v.dtype, k]));

/** Write tensors as a .safetensors file (atomically). */
export function writeSafetensors(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, t] of tensors) {
    const dtype = ST_NAME[t.dtype];
    if (!dtype) throw new Error(`cannot store ${t.dtype} in safetensors`);
    const b = t.bytes();
    header[name] = { dtype, shape: t.dims, data_offsets: [off, off + b.length] };
    chunks.push(b);
    off += b.length;
  }
  // Pad the header (in bytes, not characters) so the data starts 8-byte aligned.
  const raw = Buffer.from(JSON.stringify(header), 'utf8');
  const hb = Buffer.concat([raw, Buffer.from(' '.repeat((8 - (raw.length % 8)) % 8))]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  writeFileAtomic(file, [len, hb, ...chunks]);
}
