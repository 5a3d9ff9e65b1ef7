import { cloneModel, type Graph, type Model, Node, type Value } from '../ir/graph.js';
import { UsageError } from '../util/errors.js';
import { AutodiffError, GradContext, GradPool, type GradRule, makeTensor } from './context.js';
import { RULES } from './rules/index.js';
import { isFloat, TypeTable } from '../ir/types.js';

export interface GradientOptions {
  /** Name of the scalar loss value (usually a graph output). */
  loss: string;
  /** Initializers (or float graph inputs) to differentiate; each gets an output `grad.<name>`. */
  wrt: string[];
  /** Turn the `wrt` initializers into graph inputs, so a training loop feeds updated weights each step. */
  weightsAsInputs?: boolean;
  /** Keep the forward graph's other outputs (default false: only the loss and the gradients). */
  keepOutputs?: boolean;
  /**
   * Values treated as constants: no gradient flows through them (e.g. QAT weight scales computed
   * from the weights with ReduceMax, which training must not differentiate).
   */
  stopGradient?: string[];
  /** Rules to use instead of the registered list (tests). */
  rules?: readonly GradRule[];
}

export const gradName = (name: string): string => `grad.${name}`;

const RULE_MAP = new Map(RULES.map((r) => [r.op, r]));

/**
 * Reverse-mode differentiation of an ONNX graph, emitted as ONNX: returns a new model that also
 * outputs dL/dw for each chosen initializer. The input model is not modified.
 */
export function buildGradientGraph(model: Model, opts: GradientOptions): Model {
  const rules = opts.rules ? new Map(opts.rules.map((r) => [r.op, r])) : RULE_MAP;
  const m = cloneModel(model);
  const g = m.graph;
  g.sortTopologically();
  const loss = g.value(opts.loss);
  if (!loss) throw new UsageError(`autodiff: no value named '${opts.loss}' (the loss)`);
  const wrt = opts.wrt.map((n) => {
    const v = g.value(n);
    if (!v || !(v.constant || g.inputs.includes(v))) throw new UsageError(`autodiff: '${n}' is not an initializer or graph input`);
    return v;
  });
  const types = new TypeTable(g);
  if (!isFloat(types.dtype(loss))) throw new UsageError(`autodiff: loss '${opts.loss}' is not a float tensor`);
  for (const v of wrt) if (!isFloat(types.dtype(v))) throw new UsageError(`autodiff: '${v.name}' is not a float tensor`);

  const forward = [...g.nodes];
  const stop = new Set((opts.stopGradient ?? []).map((n) => {
    const v = g.value(n);
    if (!v) throw new UsageError(`autodiff: no value named '${n}' (stopGradient)`);
    if (wrt.includes(v)) throw new UsageError(`autodiff: '${n}' is both differentiated and in stopGradient`);
    return v;
  }));
  const needed = neededValues(forward, wrt, loss, types, stop);
  const pool = new GradPool(g, types);
  const contrib = new Map<Value, Value[]>();
  const add = (v: Value, d: Value) => { const l = contrib.get(v); if (l) l.push(d); else contrib.set(v, [d]); };
  const total = (v: Value, ctx: GradContext): Value | null => {
    const l = contrib.get(v);
    if (!l?.length) return null;
    const s = l.length === 1 ? l[0] : ctx.sum(l);
    contrib.set(v, [s]);
    return s;
  };

  // Seed dL/dL = 1.
  const lossRank = types.rank(loss);
  const one = pool.constant(types.dtype(loss)!, [], [1]);
  const root = new GradContext(new Node('Seed', 'loss'), [], [], pool, types);
  add(loss, lossRank === 0 ? one : root.op('Expand', [one, root.shape(loss)]));

  for (let ni = forward.length - 1; ni >= 0; ni--) {
    const node = forward[ni];
    if (!node.outputs.some((o) => contrib.has(o))) continue;
    const needs = node.inputs.map((v) => v !== null && needed.has(v));
    if (!needs.some(Boolean)) continue;
    const rule = node.domain === '' || node.domain === 'ai.onnx' ? rules.get(node.opType) : undefined;
    if (!rule) throw new AutodiffError(`no gradient rule for op ${node.domain ? node.domain + '.' : ''}${node.opType} (node ${node.name})`);
    const probe = new GradContext(node, [], needs, pool, types);
    const gy = node.outputs.map((o) => total(o, probe));
    const ctx = new GradContext(node, gy, needs, pool, types);
    const gx = rule.grad(ctx);
    node.inputs.forEach((x, i) => {
      if (!x || !needs[i]) return;
      const d = gx[i];
      if (!d) throw ctx.error(`rule returned no gradient for input ${i} ('${x.name}')`);
      checkGradient(ctx, x, d, i);
      add(x, d);
    });
  }

  for (const w of wrt) {
    const name = gradName(w.name);
    if (g.value(name)) throw new UsageError(`autodiff: a value named '${name}' already exists`);
    const d = total(w, root) ?? root.zerosLike(w);
    const out = g.addNode('Identity', [d], [name], { name: `grad_output/${w.name}` }).outputs[0];
    const shape = w.constant ? [...w.constant.dims] : w.type?.shape;
    out.type = { dtype: types.dtype(w)!, shape };
    g.markOutput(out);
  }
  if (!g.outputs.includes(loss)) g.markOutput(loss);
  loss.type ??= { dtype: types.dtype(loss)!, shape: lossRank === 0 ? [] : undefined };
  if (!opts.keepOutputs) {
    const keep = new Set([loss.name, ...wrt.map((w) => gradName(w.name))]);
    for (let i = g.outputs.length - 1; i >= 0; i--) if (!keep.has(g.outputs[i].name)) g.outputs.splice(i, 1);
  }
  g.removeDeadNodes();
  if (opts.weightsAsInputs) initializersToInputs(g, wrt.filter((w) => w.constant).map((w) => w.name));
  g.removeUnusedInitializers();
  m.metadata['quantlab.autodiff'] = JSON.stringify({ loss: opts.loss, wrt: opts.wrt });
  return m;
}

/** Make initializers graph inputs of the same type (their values must then be fed at run time). */
export function initializersToInputs(g: Graph, names: string[]): void {
  for (const n of names) {
    const v = g.mustValue(n);
    if (!v.constant) throw new UsageError(`autodiff: '${n}' is not an initializer`);
    v.type = { dtype: v.constant.dtype, shape: [...v.constant.dims] };
    v.constant = null;
    g.inputs.push(v);
  }
}

/** Values on a path from some wrt value to the loss, through float tensors. */
function neededValues(nodes: Node[], wrt: Value[], loss: Value, types: TypeTable, stop: Set<Value>): Set<Value> {
  const fromWrt = new Set<Value>(wrt);
  for (const n of nodes) {
    if (!n.inputs.some((v) => v && fromWrt.has(v))) continue;
    for (const o of n.outputs) if (carriesGradient(o, types) && !stop.has(o)) fromWrt.add(o);
  }
  const toLoss = new Set<Value>([loss]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n.outputs.some((o) => toLoss.has(o))) for (const v of n.inputs) if (v) toLoss.add(v);
  }
  return new Set([...fromWrt].filter((v) => toLoss.has(v)));
}

/**
 * Float values carry gradients; so do the integer outputs of QuantizeLinear (fake quantization):
 * their gradient is the straight-through one, dL/dq as a float in the scale's type.
 */
function carriesGradient(v: Value, types: TypeTable): boolean {
  const d = types.dtype(v);
  return d === undefined || isFloat(d) || isQuantized(v);
}

const isQuantized = (v: Value): boolean => v.producer?.opType === 'QuantizeLinear' && v.producer.domain === '';

/** The element type of dL/dv: v's own, or for a QuantizeLinear output the type of its scale. */
export function gradDtype(v: Value, types: TypeTable) {
  return isQuantized(v) ? types.dtype(v.producer!.inputs[1]!) : types.dtype(v);
}

function checkGradient(ctx: GradContext, x: Value, d: Value, i: number): void {
  const want = gradDtype(x, ctx.types), got = ctx.types.dtype(d);
  if (got !== want) throw ctx.error(`rule returned a ${got ?? 'unknown'} gradient for input ${i} ('${x.name}', ${want})`);
  const wr = ctx.types.rank(x), gr = ctx.types.rank(d);
  if (wr !== undefined && gr !== undefined && wr !== gr) {
    throw ctx.error(`rule returned a rank-${gr} gradient for input ${i} ('${x.name}', rank ${wr})`);
  }
}

export { makeTensor };
