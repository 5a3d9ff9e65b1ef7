import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';

// The ONNX schema is parsed once, lazily, from the vendored proto/onnx.proto.
let root: protobuf.Root | null = null;

export function onnxRoot(): protobuf.Root {
  if (!root) {
    const path = fileURLToPath(new URL('../../proto/onnx.proto', import.meta.url));
    root = protobuf.loadSync(path);
  }
  return root;
}

export function modelProtoType(): protobuf.Type { return onnxRoot().lookupType('onnx.ModelProto'); }

export function toNum(x: unknown): number {
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  if (x && typeof (x as { toNumber?: unknown }).toNumber === 'function') return (x as { toNumber(): number }).toNumber();
  if (typeof x === 'string') return Number(x);
  return 0;
}

export const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;
export const EXTERNAL = 1;
