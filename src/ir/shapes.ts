import type { Node, Value } from './graph.js';

/** A dimension: a number, a named symbol (graph input dim_param, equal names = equal sizes), or a unique unknown. */
export type SymDim = number | string;

/**
 * Symbolic shapes, and the symbolic contents of small int64 shape tensors (Shape → Gather → Concat →
 * Reshape chains), so the engine can prove two values have the same shape and skip reducing a
 * gradient that was never broadcast. Anything not understood gets unique unknown dims, never a guess.
 */
export interface SymInfo { shape?: SymDim[]; value?: SymDim[] }

let fresh = 0;
const unknown = (): string => `?${++fresh}`;
const isUnknown = (d: SymDim): boolean => typeof d === 'string' && d.startsWith('?');

/** Shapes equal dim by dim with no unknown dims. */
export function sameShape(a: SymDim[] | undefined, b: SymDim[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i] && !isUnknown(d));
}

export function fullyKnown(s: SymDim[] | undefined): s is SymDim[] { return !!s && s.every((d) => !isUnknown(d)); }

function broadcast(shapes: (SymDim[] | undefined)[]): SymDim[] | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const r = Math.max(...shapes.map((s) => s!.length));
  const out: SymDim[] = [];
  for (let i = 0; i < r; i++) {
    let d: SymDim = 1;
    for (const s of shapes) {
      const e = s![s!.length - r + i] ?? 1;
      if (e === 1 || e === d) continue;
      d = d === 1 ? e : unknown();
    }
    out.push(d);
  }
  return out;
}

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

/** A symbolic dim as coefficient × symbol: 'T' is 1·T, '2*T' (what grouped-query reshapes make) is 2·T. */
function monomial(d: string): [number, string] {
  const m = /^(\d+)\*(.+)$/.exec(d);
  return m ? [Number(m[1]), m[2]] : [1, d];
}

/** Reshape's -1: what is left of the input dims once the other target dims are cancelled out. */
function inferredDim(input: SymDim[], others: SymDim[]): SymDim {
  if ([...input, ...others].some(isUnknown)) return unknown();
  let num = 1;
  const syms: string[] = [];
  for (const d of input) {
    if (typeof d === 'number') { num *= d; continue; }
    const [k, s] = monomial(d);
    num *= k;
    syms.push(s);
  }
  for (const d of others) {
    if (typeof d === 'number') { num /= d; continue; }
    const [k, s] = monomial(d);
    const i = syms.indexOf(s);
    if (i < 0) return unknown();
    num /= k;
    syms.splice(i, 1);
  }
  if (!Number.isInteger(num) || num < 1) return unknown();
  if (syms.length === 0) return num;
  return syms.length === 1 ? (num === 1 ? syms[0] : `${num}*${syms[0]}`) : unknown();
}

function constValues(v: Value | null): SymDim[] | undefined {
  const t = v?.constant;
  if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32') || t.size > 64) return undefined;
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

export function inferShapes(n: Node, get: (v: Value | null) => SymInfo): SymInfo[] {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return [];
  const ins = n.inputs.map((v) => get(v));
  const x = ins[0] ?? {};
  const xs = x.shape;
  const r = xs?.length;
  const int = (name: string, d: number) => n.attr(name, 'int') ?? d;
  const same = (): SymInfo[] => [{ shape: xs }];
  switch (n.opType) {
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Equal': case 'Less': case 'LessOrEqual': case 'Greater':
    case 'GreaterOrEqual': case 'And': case 'Or': case 'Max': case 'Min': case 'Where': {
      const out: SymInfo = { shape: broadcast(ins.map((t) => t.shape)) };
      // Scalar arithmetic on shape values (P + T with P = 0).
      if (n.opType === 'Add' && ins[0]?.value?.length === 1 && ins[1]?.value?.length === 1) {
        const [a, b] = [ins[0].value[0], ins[1].value[0]];
        if (a === 0) out.value = [b]; else if (b === 0) out.value = [a];
        else if (typeof a === 'number' && typeof b === 'number') out.value = [a + b];
      }
      return [out];
    }
    case 'Neg': case 'Sqrt': case 'Exp': case 'Log': case 'Abs': case 'Reciprocal': case 'Relu': case 'Sigmoid': case 'Tanh':
    case 'Erf': case 'Gelu': case 'Cos': case 'Sin': case 'Softmax': case 'LogSoftmax': case 'Not': case 'Round': case 'Sign':
    case 'QuantizeLinear': case 'DequantizeLinear': case 'ScatterND': case 'ScatterElements':
      return same();
    case 'Identity': case 'Cast': return [{ shape: xs, value: x.value }];
    case 'LayerNormalization': {
      const a = r === undefined ? undefined : norm(int('axis', -1), r);
      const stat = xs && a !== undefined ? xs.map((d, i) => (i < a ? d : 1)) : undefined;
      return [{ shape: xs }, { shape: stat }, { shape: stat }];
    }
    case 'Shape': {
      if (!xs || r === undefined) return [{}];
      const s = Math.min(Math.max(norm(int('start', 0), r), 0), r), e = Math.min(Math.max(norm(n.attr('end', 'int') ?? r, r), 0), r);
      return [{ shape: [Math.max(e - s, 0)], value: xs.slice(s, e) }];
    }
    case 'Size': return [{ shape: [] }];
    case 'Gather': {
      const idx = ins[1];
      if (!xs || !idx?.shape || r === undefined) return [{}];
      const a = norm(int('axis', 0), r);
      const out: SymInfo = { shape: [...xs.slice(0, a), ...idx.shape, ...xs.slice(a + 1)] };
      const iv = constValues(n.inputs[1]);
      if (x.value && iv && r === 1) {
        const picked = iv.map((i) => x.value![norm(i as number, x.value!.length)]);
        if (picked.every((d) => d !== undefined)) out.value = picked;
      }
      return [out];
    }
    case 'GatherElements': return [{ shape: ins[1]?.shape }];
    case 'Unsqueeze': {
      const axes = constValues(n.inputs[1]) as number[] | undefined;
      if (!xs || !axes) return [{}];
      const outR = xs.length + axes.length;
      const set = new Set(axes.map((a) => norm(a, outR)));
      const out: SymDim[] = [];
      for (let i = 0, j = 0; i < outR; i++) out.push(set.has(i) ? 1 : xs[j++]);
      return [{ shape: out, value: x.value && xs.length === 0 ? x.value : undefined }];
    }
    case 'Squeeze': {
      const axes = constValues(n.inputs[1]) as number[] | undefined;
      if (!xs || !axes || r === undefined) return [{}];
      const set = new Set(axes.map((a) => norm(a, r)));
      return [{ shape: xs.filter((_, i) => !set.has(i)) }];
    }
    case 'Concat': {
      if (ins.some((t) => !t.shape) || r === undefined) return [{}];
      const a = norm(int('axis', 0), r);
      const sizes = ins.map((t) => t.shape![a]);
      const total = sizes.every((d) => typeof d === 'number') ? (sizes as number[]).reduce((s, d) => s + d, 0) : unknown();
      const out: SymInfo = { shape: xs!.map((d, i) => (i === a ? total : d)) };
      if (r === 1 && ins.every((t) => t.value)) out.value = ins.flatMap((t) => t.value!);
      return [out];
    }
    case 'Split': {
      if (!xs || r === undefined) return n.outputs.map(() => ({}));
      const a = norm(int('axis', 0), r);
      const sizes = constValues(n.inputs[1]);
      return n.outputs.map((_, k) => ({ shape: xs.map((d, i) => (i === a ? (sizes?.[k] ?? unknown()) : d)) }));
    }
    case 'Transpose': {
      if (!xs || r === undefined) return [{}];
      const perm = n.attr('perm', 'ints') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
      return [{ shape: perm.map((p) => xs[p]) }];
    }
    case 'Reshape': {
      const target = ins[1]?.value ?? constValues(n.inputs[1]);
      if (!target) return [{}];
      const allowZero = int('allowzero', 0);
      const dims = target.map((d, i) => (d === 0 && !allowZero ? (xs?.[i] ?? unknown()) : d));
      const k = dims.indexOf(-1);
      if (k >= 0) dims[k] = xs ? inferredDim(xs, dims.filter((_, i) => i !== k)) : unknown();
      return [{ shape: dims }];
    }
    case 'Expand': {
      const target = ins[1]?.value ?? constValues(n.inputs[1]);
      return [{ shape: target ? broadcast([xs, target]) : undefined }];
    }
    case 'ConstantOfShape': {
      const target = x.value ?? constValues(n.inputs[0]);
      return [{ shape: target }];
    }
    case 'Range': {
      const start = ins[0]?.value ?? constValues(n.inputs[0]);
      const delta = ins[2]?.value ?? constValues(n.inputs[2]);
      const limit = ins[1]?.value ?? constValues(n.inputs[1]);
      return [{ shape: [start?.[0] === 0 && delta?.[0] === 1 && limit?.length === 1 ? limit[0] : unknown()] }];
    }
    case 'MatMul': {
      const a = xs, b = ins[1]?.shape;
      if (!a || !b || a.length < 2 || b.length < 2) return [{}];
      const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
      return [{ shape: batch ? [...batch, a[a.length - 2], b[b.length - 1]] : undefined }];
    }
    case 'Gemm': {
      const a = xs, b = ins[1]?.shape;
      if (!a || !b) return [{}];
      return [{ shape: [int('transA', 0) ? a[1] : a[0], int('transB', 0) ? b[0] : b[1]] }];
    }
    case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': {
      const axes = n.inputs[1] ? (constValues(n.inputs[1]) as number[] | undefined) : [];
      if (!xs || r === undefined || !axes) return [{}];
      if (axes.length === 0 && int('noop_with_empty_axes', 0)) return same();
      const set = new Set(axes.length ? axes.map((a) => norm(a, r)) : xs.map((_, i) => i));
      return [{ shape: int('keepdims', 1) ? xs.map((d, i) => (set.has(i) ? 1 : d)) : xs.filter((_, i) => !set.has(i)) }];
    }
    default: return n.outputs.map(() => ({}));
  }
}

/** Initial symbolic info of an input or initializer. */
export function valueShape(v: Value): SymInfo {
  if (v.constant) return { shape: [...v.constant.dims], value: constValues(v) };
  const s = v.type?.shape;
  return s ? { shape: [...s] } : {};
}
