import fs from 'node:fs';
import path from 'node:path';
import { dtypeFromCode, type DType, viewAs, type TypedArray } from '../ir/dtype.js';
import { Graph, Model, type Attr, type Dim, type ValueType } from '../ir/graph.js';
import { numel, Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import { readFully } from '../util/fsx.js';
import { ATTR_TYPE, EXTERNAL, modelProtoType, toNum } from './schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type P = any;

/** Read an ONNX model file, resolving external data relative to the file's folder. */
export function readModel(file: string): Model {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(file, `cannot read ONNX model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return decodeModel(bytes, { file, baseDir: path.dirname(path.resolve(file)) });
}

export interface DecodeOptions { file: string; baseDir?: string }

export function decodeModel(bytes: Uint8Array, opts: DecodeOptions): Model {
  let proto: P;
  try {
    proto = modelProtoType().decode(bytes);
  } catch (e) {
    throw new InputError(opts.file, `not a valid ONNX protobuf (${(e as Error).message})`);
  }
  if (!proto.graph) throw new InputError(opts.file, 'ONNX model has no graph');
  const ext = new ExternalReader(opts.file, opts.baseDir);
  try {
    const graph = readGraph(proto.graph, opts.file, ext);
    const model = new Model(graph, (proto.opsetImport ?? []).map((o: P) => ({ domain: o.domain ?? '', version: toNum(o.version) })));
    model.irVersion = toNum(proto.irVersion) || model.irVersion;
    model.producerName = proto.producerName ?? '';
    for (const kv of proto.metadataProps ?? []) model.metadata[kv.key] = kv.value;
    return model;
  } catch (e) {
    // A protobuf that decodes but does not describe a graph (fuzzed or damaged files): one line naming the file.
    if (e instanceof InputError) throw e;
    throw new InputError(opts.file, `malformed ONNX graph (${(e as Error).message})`);
  } finally {
    ext.close();
  }
}

class ExternalReader {
  private fds = new Map<string, number>();
  constructor(private file: string, private baseDir?: string) {}

  /** Check an external-data reference and say where its bytes are (read later, on demand). */
  locate(location: string, offset: number, length: number | undefined, tensorName: string): { full: string; offset: number; len: number } {
    if (!this.baseDir) throw new InputError(this.file, `tensor '${tensorName}' uses external data but the model was not read from a folder`);
    if (path.isAbsolute(location)) throw new InputError(this.file, `external data location '${location}' of tensor '${tensorName}' is absolute; only paths inside the model folder are allowed`);
    const full = path.resolve(this.baseDir, location);
    const rel = path.relative(this.baseDir, full);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new InputError(this.file, `external data location '${location}' of tensor '${tensorName}' points outside the model folder`);
    }
    let fd = this.fds.get(full);
    if (fd === undefined) {
      try { fd = fs.openSync(full, 'r'); } catch {
        throw new InputError(full, `external data file of tensor '${tensorName}' is missing`);
      }
      this.fds.set(full, fd);
    }
    const size = fs.fstatSync(fd).size;
    const len: number = length ?? size - offset;
    if (offset + len > size) throw new InputError(full, `external data of tensor '${tensorName}' (offset ${offset}, length ${len}) runs past the end of the file (${size} bytes)`);
    return { full, offset, len };
  }

  close(): void { for (const fd of this.fds.values()) fs.closeSync(fd); }
}

function readType(t: P): ValueType | undefined {
  const tt = t?.tensorType;
  if (!tt) return undefined;
  const dtype = dtypeFromCode(tt.elemType);
  if (!tt.shape) return { dtype };
  const shape: Dim[] = (tt.shape.dim ?? []).map((d: P) => (d.dimParam ? d.dimParam : d.dimValue != null ? toNum(d.dimValue) : '?'));
  return { dtype, shape };
}

export function readTensor(t: P, file: string, ext?: ExternalReader): Tensor {
  const name: string = t.name ?? '';
  let dtype: DType;
  try { dtype = dtypeFromCode(t.dataType); } catch { throw new InputError(file, `tensor '${name}' has unsupported data type ${t.dataType}`); }
  const dims: number[] = (t.dims ?? []).map(toNum);
  const n = numel(dims);
  if (t.dataLocation === EXTERNAL) {
    if (!ext) throw new InputError(file, `tensor '${name}' uses external data, which is not allowed here`);
    const kv = new Map<string, string>((t.externalData ?? []).map((e: P) => [e.key, e.value]));
    const location = kv.get('location');
    if (!location) throw new InputError(file, `tensor '${name}' has external data without a location`);
    const at = ext.locate(location, Number(kv.get('offset') ?? 0), kv.has('length') ? Number(kv.get('length')) : undefined, name);
    checkLength(dtype, dims, at.len, file, name);
    // Lazy: a multi-GB variant is not read into JS memory unless a pass or a rewrite needs its weights.
    return new Tensor(dtype, dims, () => viewAs(dtype, readRange(at.full, at.offset, at.len), n));
  }
  if (t.rawData && t.rawData.length > 0) return checkedFromBytes(dtype, dims, t.rawData, file, name);
  let data: TypedArray;
  switch (dtype) {
    case 'float32': data = Float32Array.from(t.floatData ?? []); break;
    case 'float64': data = Float64Array.from(t.doubleData ?? []); break;
    case 'int64': data = BigInt64Array.from((t.int64Data ?? []).map((x: P) => BigInt(toNum(x)))); break;
    case 'uint64': case 'uint32': data = BigUint64Array.from((t.uint64Data ?? []).map((x: P) => BigInt(toNum(x)))); break;
    case 'int32': data = Int32Array.from(t.int32Data ?? []); break;
    case 'int8': data = Int8Array.from(t.int32Data ?? []); break;
    case 'uint8': case 'bool': case 'int4': case 'uint4': data = Uint8Array.from(t.int32Data ?? []); break;
    case 'int16': data = Int16Array.from(t.int32Data ?? []); break;
    case 'uint16': case 'float16': case 'bfloat16': data = Uint16Array.from(t.int32Data ?? []); break;
    default: throw new InputError(file, `tensor '${name}' of type ${dtype} is not supported`);
  }
  if (dtype === 'uint32') data = Uint32Array.from(data as BigUint64Array, Number);
  if (data.length !== n && !(dtype === 'int4' || dtype === 'uint4')) {
    throw new InputError(file, `tensor '${name}' has ${data.length} values for shape [${dims}]`);
  }
  return new Tensor(dtype, dims, data);
}

function checkLength(dtype: DType, dims: number[], length: number, file: string, name: string): void {
  const want = Math.ceil((numel(dims) * (dtype === 'int4' || dtype === 'uint4' ? 4 : bitsOf(dtype))) / 8);
  if (length !== want) throw new InputError(file, `tensor '${name}' has ${length} bytes, shape [${dims}] of ${dtype} needs ${want}`);
}

function checkedFromBytes(dtype: DType, dims: number[], bytes: Uint8Array, file: string, name: string): Tensor {
  checkLength(dtype, dims, bytes.length, file, name);
  return new Tensor(dtype, dims, viewAs(dtype, bytes, numel(dims)));
}

function readRange(file: string, offset: number, len: number): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try { return readFully(fd, len, offset, () => new InputError(file, `external data ends before byte ${offset + len}`)); } finally { fs.closeSync(fd); }
}

function bitsOf(d: DType): number {
  return { float32: 32, float64: 64, int64: 64, uint64: 64, int32: 32, uint32: 32, int16: 16, uint16: 16, float16: 16, bfloat16: 16 }[d as string] ?? 8;
}

function readAttr(a: P, file: string, ext?: ExternalReader): Attr {
  switch (a.type) {
    case ATTR_TYPE.FLOAT: return { t: 'float', v: a.f ?? 0 };
    case ATTR_TYPE.INT: return { t: 'int', v: toNum(a.i) };
    case ATTR_TYPE.STRING: return { t: 'string', v: Buffer.from(a.s ?? []).toString('utf8') };
    case ATTR_TYPE.TENSOR: return { t: 'tensor', v: readTensor(a.t, file, ext) };
    case ATTR_TYPE.FLOATS: return { t: 'floats', v: [...(a.floats ?? [])] };
    case ATTR_TYPE.INTS: return { t: 'ints', v: (a.ints ?? []).map(toNum) };
    case ATTR_TYPE.STRINGS: return { t: 'strings', v: (a.strings ?? []).map((s: Uint8Array) => Buffer.from(s).toString('utf8')) };
    default: throw new InputError(file, `attribute '${a.name}' has type ${a.type} (subgraphs are not supported)`);
  }
}

function readGraph(g: P, file: string, ext: ExternalReader): Graph {
  const graph = new Graph(g.name || 'main');
  const typeInfo = new Map<string, ValueType | undefined>();
  for (const vi of [...(g.valueInfo ?? []), ...(g.output ?? [])]) typeInfo.set(vi.name, readType(vi.type));
  const inits = new Set<string>();
  for (const t of g.initializer ?? []) {
    graph.addInitializer(t.name, readTensor(t, file, ext));
    inits.add(t.name);
  }
  for (const i of g.input ?? []) {
    if (inits.has(i.name)) continue; // old-style models list initializers as inputs too
    const type = readType(i.type);
    if (!type) throw new InputError(file, `graph input '${i.name}' is not a tensor`);
    graph.addInput(i.name, type);
  }
  const lookup = (name: string) => {
    if (!name) return null;
    const v = graph.value(name);
    if (!v) throw new InputError(file, `value '${name}' is used before it is produced`);
    return v;
  };
  // Nodes may be stored out of order; place them by dependency.
  const pending = [...(g.node ?? [])];
  const produced = new Set<string>([...graph.allValues()].map((v) => v.name));
  let progress = true;
  while (pending.length && progress) {
    progress = false;
    for (let i = 0; i < pending.length; i++) {
      const n = pending[i];
      if (!(n.input ?? []).every((x: string) => !x || produced.has(x))) continue;
      const attrs: Record<string, Attr> = {};
      for (const a of n.attribute ?? []) attrs[a.name] = readAttr(a, file, ext);
      const node = graph.addNode(n.opType, (n.input ?? []).map(lookup), [], { name: n.name || n.opType, attrs, domain: n.domain ?? '' });
      for (const o of n.output ?? []) {
        const v = graph.adoptOutput(node, o);
        v.type = typeInfo.get(o) ?? v.type;
        produced.add(o);
      }
      pending.splice(i--, 1);
      progress = true;
    }
  }
  if (pending.length) throw new InputError(file, `node '${pending[0].name || pending[0].opType}' reads a value no node or input produces`);
  for (const o of g.output ?? []) graph.markOutput(lookup(o.name)!);
  return graph;
}
