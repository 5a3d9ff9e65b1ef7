import type { Attr, Graph, Value } from './graph.js';
import { Tensor } from './tensor.js';

export type AttrInput = number | string | number[] | string[] | Tensor | Attr;

/** Attribute helpers: plain JS numbers are ambiguous, so floats are tagged explicitly. */
export const float = (v: number): Attr => ({ t: 'float', v });
export const floats = (v: number[]): Attr => ({ t: 'floats', v });

function toAttr(x: AttrInput): Attr {
  if (x instanceof Tensor) return { t: 'tensor', v: x };
  if (typeof x === 'number') return { t: 'int', v: x };
  if (typeof x === 'string') return { t: 'string', v: x };
  if (Array.isArray(x)) {
    if (x.length > 0 && typeof x[0] === 'string') return { t: 'strings', v: x as string[] };
    return { t: 'ints', v: x as number[] };
  }
  return x;
}

const CONST_PREFIX = 'const_';

/** Whether an initializer is one of the builder's shared constants (shapes, scalars, scale vectors), not a weight. */
export const isBuilderConstant = (name: string): boolean => /^const_\d+(_\d+)?$/.test(name);

/**
 * Terse graph construction: `b.op('MatMul', [x, w])` appends a node and returns its output.
 * Node and value names are prefixed with the current scope (e.g. `/h.0/attn/MatMul`).
 */
export class Builder {
  private scopes: string[] = [];
  private constCache = new Map<string, Value>();
  constructor(public readonly graph: Graph) {}

  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try { return fn(); } finally { this.scopes.pop(); }
  }

  private prefixed(name: string): string {
    return this.scopes.length ? `/${this.scopes.join('/')}/${name}` : name;
  }

  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInput> = {}, opts: { name?: string; domain?: string; output?: string } = {}): Value {
    return this.opN(opType, inputs, 1, attrs, opts)[0];
  }

  opN(opType: string, inputs: (Value | null)[], nOut: number, attrs: Record<string, AttrInput> = {}, opts: { name?: string; domain?: string; output?: string } = {}): Value[] {
    const name = this.prefixed(opts.name ?? opType);
    const outs = Array.from({ length: nOut }, (_, i) => opts.output && nOut === 1 ? opts.output : `${name}_output_${i}`);
    const a: Record<string, Attr> = {};
    for (const [k, v] of Object.entries(attrs)) a[k] = toAttr(v);
    const node = this.graph.addNode(opType, inputs, outs, { name, attrs: a, domain: opts.domain });
    return node.outputs;
  }

  /** A named initializer (a weight). */
  weight(name: string, t: Tensor): Value {
    return this.graph.addInitializer(name, t);
  }

  /** A small shared constant (shape vectors, scalars), deduplicated by value. */
  constI64(values: number[], dims: number[] = [values.length]): Value {
    return this.cached(`i64:${dims}:${values}`, () => Tensor.i64(dims, values));
  }

  scalarI64(v: number): Value { return this.constI64([v], []); }

  constF32(values: number[], dims: number[] = [values.length]): Value {
    return this.cached(`f32:${dims}:${values}`, () => Tensor.f32(dims, values));
  }

  scalarF32(v: number): Value { return this.constF32([v], []); }

  private cached(key: string, make: () => Tensor): Value {
    let v = this.constCache.get(key);
    if (!v) {
      v = this.graph.addInitializer(this.graph.uniqueName(`${CONST_PREFIX}${this.constCache.size}`), make());
      this.constCache.set(key, v);
    }
    return v;
  }
}
