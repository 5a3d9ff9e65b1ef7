import path from 'node:path';
import { dtypeCode } from '../ir/dtype.js';
import type { Attr, Graph, Model, Value, ValueType } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { writeAll, writeFileAtomic, writeFileAtomicWith } from '../util/fsx.js';
import { ATTR_TYPE, EXTERNAL, modelProtoType, onnxRoot } from './schema.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type P = any;

export interface WriteOptions {
  /**
   * Store tensors of at least `threshold` bytes in this side file (relative to the model).
   * Forced when the model would exceed protobuf's 2 GiB limit.
   */
  externalData?: { location: string; threshold?: number };
}

const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Serialise a model with all tensors inline. */
export function encodeModel(model: Model): Uint8Array {
  return modelProtoType().encode(toProto(model, null)).finish();
}

/** Tensors of at least this many bytes are streamed from their own buffers by encodeModelChunks. */
const STREAM_BYTES = 4096;

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80); }
  out.push(n);
  return Uint8Array.from(out);
}

/** Key byte of a length-delimited field (field numbers below 16). */
const key = (field: number) => Uint8Array.of((field << 3) | 2);
// onnx.proto field numbers: ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9.
const MODEL_GRAPH = 7, GRAPH_INITIALIZER = 5, TENSOR_RAW_DATA = 9;

/**
 * The same model as encodeModel, as chunks whose large tensors are the tensors' own bytes (no copy):
 * writing a model then needs no second buffer of its size. Protobuf allows fields in any order, so
 * the large initializers follow the rest of the graph and each raw_data follows its tensor's other fields.
 */
export function encodeModelChunks(model: Model): Uint8Array[] {
  const big = new Set(model.graph.initializers().filter((v) => v.constant!.byteLength >= STREAM_BYTES));
  const proto = toProto(model, null, big);
  const graph = proto.graph;
  proto.graph = undefined;
  const head = modelProtoType().encode(proto).finish();
  const graphBytes = onnxRoot().lookupType('onnx.GraphProto').encode(graph).finish();
  const tensorType = onnxRoot().lookupType('onnx.TensorProto');
  const tail: Uint8Array[] = [];
  let graphLen = graphBytes.length;
  for (const v of big) {
    const meta = tensorType.encode({ name: v.name, dims: v.constant!.dims, dataType: dtypeCode(v.constant!.dtype) }).finish();
    const raw = v.constant!.bytes();
    const rawLen = varint(raw.length);
    const tensorLen = varint(meta.length + 1 + rawLen.length + raw.length);
    const parts = [key(GRAPH_INITIALIZER), tensorLen, meta, key(TENSOR_RAW_DATA), rawLen, raw];
    for (const x of parts) graphLen += x.length;
    tail.push(...parts);
  }
  return [head, key(MODEL_GRAPH), varint(graphLen), graphBytes, ...tail];
}

/** Write `file` (and its external data file) atomically. Returns the bytes written per file. */
export function writeModel(model: Model, file: string, opts: WriteOptions = {}): { model: number; externalData: number } {
  let ext = opts.externalData;
  const total = model.graph.initializerBytes();
  if (!ext && total > PROTOBUF_LIMIT - 64 * 2 ** 20) ext = { location: `${path.basename(file)}_data`, threshold: 1024 }; // Optimum's naming
  if (ext) {
    const extPath = path.join(path.dirname(file), ext.location);
    if (path.resolve(extPath) === path.resolve(file)) throw new Error('external data file would overwrite the model');
    let offset = 0;
    let bytes!: Uint8Array;
    // Each tensor goes to the data file as the protobuf is built: a lazy tensor is read, written and
    // dropped, so models larger than memory stream through.
    writeFileAtomicWith(extPath, (fd) => {
      const sink: ExternalSink = {
        location: ext!.location,
        threshold: ext!.threshold ?? 1024,
        put(b) {
          const pad = (64 - (offset % 64)) % 64; // align tensors for mmap-friendly loading
          if (pad) { writeAll(fd, new Uint8Array(pad)); offset += pad; }
          const at = offset;
          writeAll(fd, b);
          offset += b.length;
          return at;
        },
      };
      bytes = modelProtoType().encode(toProto(model, sink)).finish();
    });
    writeFileAtomic(file, [bytes]);
    return { model: bytes.length, externalData: offset };
  }
  const chunks = encodeModelChunks(model);
  writeFileAtomic(file, chunks);
  return { model: chunks.reduce((n, c) => n + c.length, 0), externalData: 0 };
}

interface ExternalSink { location: string; threshold: number; put(bytes: Uint8Array): number }

function typeProto(t: ValueType | undefined): P {
  if (!t) return undefined;
  const tensorType: P = { elemType: dtypeCode(t.dtype) };
  if (t.shape) tensorType.shape = { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { tensorType };
}

export function tensorProto(name: string, t: Tensor, sink: ExternalSink | null): P {
  const p: P = { name, dims: t.dims, dataType: dtypeCode(t.dtype) };
  const bytes = t.bytes();
  if (sink && bytes.length >= sink.threshold) {
    const offset = sink.put(bytes);
    p.dataLocation = EXTERNAL;
    p.externalData = [
      { key: 'location', value: sink.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
  } else {
    p.rawData = bytes;
  }
  return p;
}

function attrProto(name: string, a: Attr): P {
  switch (a.t) {
    case 'float': return { name, type: ATTR_TYPE.FLOAT, f: a.v };
    case 'int': return { name, type: ATTR_TYPE.INT, i: a.v };
    case 'string': return { name, type: ATTR_TYPE.STRING, s: Buffer.from(a.v, 'utf8') };
    case 'tensor': return { name, type: ATTR_TYPE.TENSOR, t: tensorProto('', a.v, null) };
    case 'floats': return { name, type: ATTR_TYPE.FLOATS, floats: a.v };
    case 'ints': return { name, type: ATTR_TYPE.INTS, ints: a.v };
    case 'strings': return { name, type: ATTR_TYPE.STRINGS, strings: a.v.map((s) => Buffer.from(s, 'utf8')) };
    case 'graph': return { name, type: ATTR_TYPE.GRAPH, g: graphProto(a.v, null) };
  }
}

function graphProto(g: Graph, sink: ExternalSink | null, skip?: Set<Value>): P {
  const vi = (v: Value) => ({ name: v.name, type: typeProto(v.type) });
  const valueInfo: P[] = [];
  for (const n of g.nodes) for (const o of n.outputs) if (o.type && !g.outputs.includes(o)) valueInfo.push(vi(o));
  return {
    name: g.name,
    input: g.inputs.map(vi),
    output: g.outputs.map(vi),
    initializer: g.initializers().filter((v) => !skip?.has(v)).map((v) => tensorProto(v.name, v.constant!, sink)),
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain || undefined,
      input: trimTrailingEmpty(n.inputs.map((v) => v?.name ?? '')),
      output: n.outputs.map((v) => v.name),
      attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
    })),
    valueInfo,
  };
}

// Omitted optional inputs are '' in ONNX; trailing ones are dropped (onnxruntime 1.30 crashes on them).
function trimTrailingEmpty(names: string[]): string[] {
  let n = names.length;
  while (n > 0 && names[n - 1] === '') n--;
  return names.slice(0, n);
}

function toProto(model: Model, sink: ExternalSink | null, skip?: Set<Value>): P {
  return modelProtoType().create({
    irVersion: model.irVersion,
    producerName: model.producerName,
    producerVersion: '0.1.0',
    opsetImport: model.opsets.map((o) => ({ domain: o.domain, version: o.version })),
    metadataProps: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
    graph: graphProto(model.graph, sink, skip),
  });
}
