import { type AttrInput, Builder } from '../ir/builder.js';
import type { DType } from '../ir/dtype.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { fullyKnown, sameShape } from '../ir/shapes.js';
import { constInts, type TypeTable } from '../ir/types.js';

/** A gradient rule: given dL/d(outputs) of one node, build dL/d(inputs) with standard ONNX ops. */
export interface GradRule {
  /** ONNX op type in the default domain. */
  op: string;
  /** One entry per node input: its gradient, or null where none flows (integer inputs, constants). */
  grad(ctx: GradContext): (Value | null | undefined)[];
}

export class AutodiffError extends Error {}

/** Constants and cached Shape() values shared by all rules of one gradient graph. */
export class GradPool {
  private consts = new Map<string, Value>();
  private shapes = new Map<Value, Value>();
  /** Values made by zerosLike: scatter-adds into them can be retargeted onto a dense gradient. */
  readonly zeros = new Set<Value>();
  constructor(readonly graph: Graph, readonly types: TypeTable) {}

  constant(dtype: DType, dims: number[], values: number[]): Value {
    const key = `${dtype}:${dims}:${values}`;
    let v = this.consts.get(key);
    if (!v) {
      v = this.graph.addInitializer(this.graph.uniqueName(`grad_const_${this.consts.size}`), makeTensor(dtype, dims, values));
      this.types.addValue(v);
      this.consts.set(key, v);
    }
    return v;
  }

  cachedShape(v: Value, make: () => Value): Value {
    let s = this.shapes.get(v);
    if (!s) { s = make(); this.shapes.set(v, s); }
    return s;
  }
}

export function makeTensor(dtype: DType, dims: number[], values: number[]): Tensor {
  switch (dtype) {
    case 'float32': return new Tensor(dtype, dims, Float32Array.from(values));
    case 'float64': return new Tensor(dtype, dims, Float64Array.from(values));
    case 'int64': return new Tensor(dtype, dims, BigInt64Array.from(values, (x) => BigInt(x)));
    case 'int32': return new Tensor(dtype, dims, Int32Array.from(values));
    default: throw new AutodiffError(`autodiff constants of type ${dtype} are not supported`);
  }
}

/** What a rule sees: the node, the gradients of its outputs, and helpers that keep the type table current. */
export class GradContext {
  private readonly b: Builder;
  constructor(
    readonly node: Node,
    /** dL/d(output i), null when no gradient reaches that output. */
    readonly gy: (Value | null)[],
    private readonly needed: boolean[],
    private readonly pool: GradPool,
    readonly types: TypeTable,
  ) {
    this.b = new Builder(pool.graph);
  }

  /** Input i (throws when the optional input is absent). */
  input(i: number): Value {
    const v = this.node.inputs[i];
    if (!v) throw this.error(`input ${i} is absent`);
    return v;
  }

  output(i: number): Value { return this.node.outputs[i]; }

  /** Whether input i needs a gradient (rules skip work for the others). */
  needs(i: number): boolean { return this.needed[i] === true; }

  /** The single output gradient of a one-output op. */
  get g(): Value {
    const g = this.gy[0];
    if (!g) throw this.error('no gradient for output 0');
    return g;
  }

  error(msg: string): AutodiffError {
    return new AutodiffError(`gradient of ${this.node.opType} (node ${this.node.name}): ${msg}`);
  }

  dtype(v: Value): DType {
    const d = this.types.dtype(v);
    if (!d) throw this.error(`unknown element type of '${v.name}'`);
    return d;
  }

  rank(v: Value): number | undefined { return this.types.rank(v); }

  mustRank(v: Value): number {
    const r = this.types.rank(v);
    if (r === undefined) throw this.error(`rank of '${v.name}' is not known statically`);
    return r;
  }

  attrInt(name: string, dflt: number): number { return this.node.attr(name, 'int') ?? dflt; }
  attrFloat(name: string, dflt: number): number { return this.node.attr(name, 'float') ?? dflt; }

  /** Constant int64 values of input i (axes, split sizes), or undefined when computed at run time. */
  constInts(i: number): number[] | undefined { return constInts(this.node.inputs[i]); }

  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput> = {}): Value {
    return this.opN(opType, inputs, 1, attrs)[0];
  }

  opN(opType: string, inputs: (Value | null)[], n: number, attrs: Record<string, AttrInput> = {}): Value[] {
    const outs = this.b.scope(`grad${this.node.name.startsWith('/') ? '' : '/'}${this.node.name}`, () => this.b.opN(opType, inputs, n, attrs));
    this.types.inferNode(outs[0].producer!);
    return outs;
  }

  /** A scalar constant with the element type of `like`. */
  scalar(value: number, like: Value): Value { return this.pool.constant(this.dtype(like), [], [value]); }

  ints(values: number[]): Value { return this.pool.constant('int64', [values.length], values); }

  intScalar(value: number): Value { return this.pool.constant('int64', [], [value]); }

  shape(v: Value): Value { return this.pool.cachedShape(v, () => this.op('Shape', [v])); }

  zerosLike(v: Value): Value {
    const z = this.op('ConstantOfShape', [this.shape(v)], { value: makeTensor(this.dtype(v), [1], [0]) });
    this.pool.zeros.add(z);
    return z;
  }

  /**
   * When g is a scatter-add into zeros (the gradient of a gather), its node; rules use it to keep
   * the gradient sparse (e.g. cross-entropy's LogSoftmax never materialises the one-hot tensor).
   */
  sparseScatter(g: Value): Node | undefined {
    const p = g.producer;
    if (!p || (p.opType !== 'ScatterElements' && p.opType !== 'ScatterND')) return undefined;
    if (p.attr('reduction', 'string') !== 'add' || !p.inputs[0] || !this.pool.zeros.has(p.inputs[0])) return undefined;
    return p;
  }

  /** Sum gradient contributions; scatter-adds into zeros are redirected onto the dense sum. */
  sum(parts: Value[]): Value {
    const sparse = parts.filter((p) => this.sparseScatter(p));
    let acc: Value | null = null;
    for (const p of parts) if (!sparse.includes(p)) acc = acc ? this.op('Add', [acc, p]) : p;
    for (const p of sparse) {
      if (!acc) { acc = p; continue; }
      const n = p.producer!;
      acc = this.op(n.opType, [acc, n.inputs[1], n.inputs[2]], { ...n.attrs });
    }
    return acc!;
  }

  /** Static dims of v when all are known numbers. */
  staticShape(v: Value): number[] | undefined {
    if (v.constant) return [...v.constant.dims];
    const s = v.type?.shape;
    return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
  }

  /** Sum a gradient of the (broadcast) output shape back to the shape of input `x`. */
  unbroadcast(g: Value, x: Value): Value {
    const gsym = this.types.shape(g), xsym = this.types.shape(x);
    if (sameShape(gsym, xsym)) return g;
    if (fullyKnown(gsym) && fullyKnown(xsym) && gsym.length >= xsym.length) {
      // Shapes known symbolically: the reduced axes are known without running anything.
      const k = gsym.length - xsym.length;
      if (xsym.every((d, i) => d === gsym[i + k] || d === 1)) {
        const lead = Array.from({ length: k }, (_, i) => i);
        const inner = xsym.flatMap((d, i) => (d === 1 && gsym[i + k] !== 1 ? [i + k] : []));
        if (!inner.length) return lead.length ? this.op('ReduceSum', [g, this.ints(lead)], { keepdims: 0 }) : g;
        const r = this.op('ReduceSum', [g, this.ints([...lead, ...inner])], { keepdims: 1 });
        return lead.length ? this.op('Squeeze', [r, this.ints(lead)]) : r;
      }
    }
    const gr = this.rank(g), xr = this.rank(x);
    const xs = this.staticShape(x);
    if (xs && gr !== undefined) {
      const k = gr - xs.length;
      if (k < 0) throw this.error(`gradient '${g.name}' has rank ${gr} below input '${x.name}' rank ${xs.length}`);
      const lead = Array.from({ length: k }, (_, i) => i);
      const ones = xs.flatMap((d, i) => (d === 1 ? [i + k] : []));
      if (!lead.length && !ones.length) return g;
      if (!ones.length) return this.op('ReduceSum', [g, this.ints(lead)], { keepdims: 0 });
      return this.op('Reshape', [this.op('ReduceSum', [g, this.ints([...lead, ...ones])], { keepdims: 1 }), this.ints(xs)]);
    }
    const xsh = this.shape(x);
    let padded: Value;
    if (gr !== undefined && xr !== undefined) {
      if (gr < xr) throw this.error(`gradient '${g.name}' has rank ${gr} below input '${x.name}' rank ${xr}`);
      padded = gr > xr ? this.op('Concat', [this.ints(new Array(gr - xr).fill(1)), xsh], { axis: 0 }) : xsh;
    } else {
      const k = this.op('Sub', [this.op('Size', [this.shape(g)]), this.op('Size', [xsh])]);
      const ones = this.op('ConstantOfShape', [this.op('Unsqueeze', [k, this.ints([0])])], { value: makeTensor('int64', [1], [1]) });
      padded = this.op('Concat', [ones, xsh], { axis: 0 });
    }
    const axes = this.op('Reshape', [this.op('NonZero', [this.op('Equal', [padded, this.ints([1])])]), this.ints([-1])]);
    const summed = this.op('ReduceSum', [g, axes], { keepdims: 1, noop_with_empty_axes: 1 });
    return this.op('Reshape', [summed, xsh]);
  }
}
