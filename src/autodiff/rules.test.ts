import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AttrInput, Builder, float } from '../ir/builder.js';
import type { DType } from '../ir/dtype.js';
import { Graph, Model, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { createSession, ort } from '../runtime/session.js';
import { gradCheck } from '../testing/gradcheck.js';
import { RULES } from './rules/index.js';

// Every gradient rule against central finite differences, one tiny graph per case:
// loss = Σ_outputs ReduceSum(y · r) with fixed random r. Cases run in float64 where onnxruntime's CPU
// provider has double kernels for the op (and everything the gradient uses), float32 otherwise.

type Shapes = 'static' | 'symbolic' | 'shared' | 'unknown';
interface In {
  shape: number[];
  /** Differentiable float input (default) or a constant. */
  kind?: 'x' | 'int' | 'bool' | 'float';
  values?: number[];
  /** Range of random values for 'x' (default [-1, 1]). */
  range?: [number, number];
  dtype?: DType;
}
interface Case {
  op: string;
  label?: string;
  inputs: In[];
  attrs?: Record<string, AttrInput>;
  outputs?: number;
  /** Outputs summed into the loss (default all). */
  lossOutputs?: number[];
  dtype: 'float64' | 'float32';
  /** How differentiable inputs declare their shapes: numbers, named dims, or none (default static). */
  shapes?: Shapes;
}

const x = (...shape: number[]): In => ({ shape });
const pos = (...shape: number[]): In => ({ shape, range: [0.5, 2] });
const ints = (values: number[], shape = [values.length]): In => ({ shape, kind: 'int', values });
const D = 'float64' as const, F = 'float32' as const;

const CASES: Case[] = [
  { op: 'Add', inputs: [x(2, 3), x(2, 3)], dtype: D },
  { op: 'Add', label: 'broadcast both', inputs: [x(2, 1, 3), x(4, 1)], dtype: D },
  { op: 'Add', label: 'bias, symbolic dims', inputs: [x(2, 3, 4), x(4)], dtype: D, shapes: 'symbolic' },
  { op: 'Add', label: 'broadcast, unknown ranks', inputs: [x(2, 1, 3), x(4, 1)], dtype: D, shapes: 'unknown' },
  { op: 'Add', label: 'broadcast, shared symbolic dims', inputs: [x(2, 3, 4), x(3, 1)], dtype: D, shapes: 'shared' },
  { op: 'Mul', label: 'same shape, shared symbolic dims', inputs: [x(2, 3), x(2, 3)], dtype: D, shapes: 'shared' },
  { op: 'Sub', label: 'broadcast', inputs: [x(3, 4), x(1, 4)], dtype: D, shapes: 'symbolic' },
  { op: 'Mul', label: 'broadcast', inputs: [x(2, 3, 4), x(3, 1)], dtype: D },
  { op: 'Mul', label: 'broadcast, unknown ranks', inputs: [x(3, 4), x(4)], dtype: D, shapes: 'unknown' },
  { op: 'Div', label: 'broadcast', inputs: [x(2, 3), pos(3)], dtype: D },
  { op: 'Neg', inputs: [x(2, 3)], dtype: D },
  { op: 'Pow', label: 'x^2 (constant exponent)', inputs: [x(2, 3), { shape: [], kind: 'float', values: [2] }], dtype: D },
  { op: 'Pow', label: 'x^e, both differentiated', inputs: [pos(2, 3), { shape: [3], range: [0.5, 2.5] }], dtype: D },
  { op: 'Sqrt', inputs: [pos(2, 3)], dtype: D },
  { op: 'Exp', inputs: [x(2, 3)], dtype: D },
  { op: 'Log', inputs: [pos(2, 3)], dtype: D },
  { op: 'Reciprocal', inputs: [pos(2, 3)], dtype: D },
  { op: 'Relu', inputs: [x(3, 4)], dtype: D },
  { op: 'Sigmoid', inputs: [x(2, 3)], dtype: D },
  { op: 'Tanh', inputs: [x(2, 3)], dtype: D },
  // No double Erf kernel in onnxruntime's CPU provider: Erf and exact Gelu (which uses Erf) run in float32.
  { op: 'Erf', inputs: [x(2, 3)], dtype: F },
  { op: 'Gelu', label: 'exact', inputs: [x(2, 5)], dtype: F },
  { op: 'Gelu', label: 'tanh approximation', inputs: [x(2, 5)], attrs: { approximate: 'tanh' }, dtype: D },
  { op: 'Cos', inputs: [x(2, 3)], dtype: D },
  { op: 'Sin', inputs: [x(2, 3)], dtype: D },
  { op: 'MatMul', label: '2-D', inputs: [x(3, 4), x(4, 5)], dtype: D },
  { op: 'MatMul', label: '3-D @ 2-D weight', inputs: [x(2, 3, 4), x(4, 5)], dtype: D },
  { op: 'MatMul', label: 'batched 4-D (attention)', inputs: [x(2, 2, 3, 4), x(2, 2, 4, 3)], dtype: D },
  { op: 'MatMul', label: 'broadcast batch', inputs: [x(2, 1, 3, 4), x(3, 4, 2)], dtype: D },
  { op: 'MatMul', label: 'symbolic 3-D @ 2-D', inputs: [x(2, 3, 4), x(4, 5)], dtype: D, shapes: 'symbolic' },
  { op: 'MatMul', label: '1-D @ 3-D', inputs: [x(4), x(2, 4, 3)], dtype: D },
  { op: 'MatMul', label: '2-D @ 3-D', inputs: [x(3, 4), x(2, 4, 5)], dtype: D },
  { op: 'MatMul', label: 'batched, shared symbolic dims', inputs: [x(2, 3, 4), x(2, 4, 5)], dtype: D, shapes: 'shared' },
  { op: 'MatMul', label: '2-D @ 1-D', inputs: [x(3, 4), x(4)], dtype: D },
  { op: 'MatMul', label: '1-D @ 1-D', inputs: [x(4), x(4)], dtype: D },
  { op: 'Gemm', label: 'plain + bias', inputs: [x(3, 4), x(4, 5), x(5)], dtype: D },
  { op: 'Gemm', label: 'transB (tied head)', inputs: [x(3, 4), x(5, 4)], attrs: { transB: 1 }, dtype: D },
  { op: 'Gemm', label: 'transA, alpha, beta, C [3,1]', inputs: [x(4, 3), x(4, 5), x(3, 1)], attrs: { transA: 1, alpha: float(0.7), beta: float(1.3) }, dtype: D },
  { op: 'Gemm', label: 'transA + transB', inputs: [x(4, 3), x(5, 4), x(1)], attrs: { transA: 1, transB: 1, alpha: float(-1.5) }, dtype: D },
  { op: 'ReduceMean', label: 'axes [-1], keepdims', inputs: [x(2, 3, 4), ints([-1])], dtype: D },
  { op: 'ReduceMean', label: 'axes [1], no keepdims', inputs: [x(2, 3, 4), ints([1])], attrs: { keepdims: 0 }, dtype: D, shapes: 'symbolic' },
  { op: 'ReduceMean', label: 'all axes', inputs: [x(2, 3)], attrs: { keepdims: 0 }, dtype: D },
  { op: 'ReduceSum', label: 'axes [0, 2]', inputs: [x(2, 3, 4), ints([0, 2])], attrs: { keepdims: 0 }, dtype: D },
  { op: 'ReduceSum', label: 'empty axes, noop', inputs: [x(2, 3), ints([])], attrs: { noop_with_empty_axes: 1 }, dtype: D },
  { op: 'LayerNormalization', label: 'axis -1, scale + bias', inputs: [x(2, 3, 5), x(5), x(5)], attrs: { axis: -1, epsilon: float(1e-5) }, dtype: D },
  { op: 'LayerNormalization', label: 'axis 1 of 3, no bias', inputs: [x(2, 3, 4), x(3, 4)], attrs: { axis: 1 }, dtype: D, shapes: 'symbolic' },
  { op: 'Softmax', label: 'axis -1', inputs: [x(2, 3, 5)], attrs: { axis: -1 }, dtype: D },
  { op: 'Softmax', label: 'axis 1', inputs: [x(2, 3, 4)], attrs: { axis: 1 }, dtype: D },
  { op: 'LogSoftmax', inputs: [x(2, 3, 5)], attrs: { axis: -1 }, dtype: D },
  { op: 'Gather', label: 'axis 0, repeated and negative ids', inputs: [x(5, 3), ints([0, 2, 2, -1, 4, 0], [2, 3])], dtype: D },
  { op: 'Gather', label: 'axis 1', inputs: [x(2, 4, 3), ints([3, 1, 3])], attrs: { axis: 1 }, dtype: D },
  { op: 'Gather', label: 'scalar index', inputs: [x(4, 3), ints([2], [])], dtype: D },
  { op: 'GatherElements', label: 'axis -1 (NLL pick)', inputs: [x(2, 3, 5), ints([1, 4, 0, 2, 2, 3], [2, 3, 1])], attrs: { axis: -1 }, dtype: D },
  { op: 'GatherElements', label: 'axis 0, repeats', inputs: [x(3, 2), ints([2, 0, 2, 2], [2, 2])], attrs: { axis: 0 }, dtype: D },
  { op: 'Reshape', inputs: [x(2, 3, 4), ints([0, -1])], dtype: D, shapes: 'symbolic' },
  { op: 'Flatten', inputs: [x(2, 3, 4)], attrs: { axis: 2 }, dtype: D },
  { op: 'Squeeze', inputs: [x(2, 1, 3), ints([1])], dtype: D },
  { op: 'Unsqueeze', inputs: [x(2, 3), ints([0, -1])], dtype: D },
  { op: 'Transpose', label: 'perm', inputs: [x(2, 3, 4)], attrs: { perm: [1, 2, 0] }, dtype: D },
  { op: 'Transpose', label: 'default (reverse)', inputs: [x(2, 3, 4)], dtype: D },
  { op: 'Identity', inputs: [x(2, 3)], dtype: D },
  { op: 'Split', label: 'sizes, all outputs', inputs: [x(2, 7), ints([2, 4, 1])], attrs: { axis: -1 }, outputs: 3, dtype: D },
  { op: 'Split', label: 'middle output unused', inputs: [x(6, 2), ints([3, 1, 2])], attrs: { axis: 0 }, outputs: 3, lossOutputs: [0, 2], dtype: D },
  { op: 'Concat', label: 'axis -1', inputs: [x(2, 3), x(2, 1), x(2, 2)], attrs: { axis: -1 }, dtype: D },
  { op: 'Concat', label: 'axis 0, symbolic', inputs: [x(1, 3), x(2, 3)], attrs: { axis: 0 }, dtype: D, shapes: 'symbolic' },
  { op: 'Slice', label: 'steps, negative step', inputs: [x(4, 6), ints([3, 0]), ints([0, 6]), ints([0, 1]), ints([-1, 2])], dtype: D },
  { op: 'Slice', label: 'clamped end', inputs: [x(3, 5), ints([1]), ints([100]), ints([-1])], dtype: D, shapes: 'symbolic' },
  { op: 'Where', label: 'broadcast', inputs: [{ shape: [2, 3], kind: 'bool', values: [1, 0, 1, 0, 0, 1] }, x(2, 3), x(1)], dtype: D },
  { op: 'Expand', inputs: [x(3, 1), ints([2, 3, 4])], dtype: D, shapes: 'symbolic' },
  { op: 'Cast', label: 'float32 → float64', inputs: [x(2, 3)], attrs: { to: 11 }, dtype: F },
  // DequantizeLinear has no double kernel; its scale gradient is smooth (linear), so finite differences apply.
  { op: 'DequantizeLinear', label: 'per-tensor scale', inputs: [{ ...ints([-128, -3, 0, 5, 100, 127], [2, 3]), dtype: 'int8' }, pos(), { ...ints([3], []), dtype: 'int8' }], dtype: F },
  { op: 'DequantizeLinear', label: 'per-channel scales (axis 1)', inputs: [{ ...ints([-7, 1, 0, 9, 4, -128, 127, 3, -1, 2, 60, -60], [3, 4]), dtype: 'int8' }, pos(4), { ...ints([0, 1, -2, 3]), dtype: 'int8' }], attrs: { axis: 1 }, dtype: F },
];

/** Rules finite differences cannot check (piecewise-constant functions): see fake-quant.test.ts. */
const NOT_DIFFERENTIABLE = new Set(['QuantizeLinear']);

/** Deterministic uniform numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const floatTensor = (d: DType, dims: number[], v: number[]) =>
  d === 'float64' ? new Tensor(d, dims, Float64Array.from(v)) : Tensor.f32(dims, v);

/** Build `op` on the case's inputs; differentiable inputs are graph inputs x0, x1, … */
function opGraph(c: Case, rand: () => number): { g: Graph; outs: Value[]; feeds: Record<string, ort.Tensor>; wrt: string[] } {
  const g = new Graph(`grad_${c.op}`);
  const feeds: Record<string, ort.Tensor> = {};
  const wrt: string[] = [];
  const ins = c.inputs.map((spec, i) => {
    const kind = spec.kind ?? 'x';
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (kind === 'int' && spec.dtype === 'int8') return g.addInitializer(`c${i}`, new Tensor('int8', spec.shape, Int8Array.from(spec.values!)));
    if (kind === 'int') return g.addInitializer(`c${i}`, Tensor.i64(spec.shape, spec.values!));
    if (kind === 'bool') return g.addInitializer(`c${i}`, new Tensor('bool', spec.shape, Uint8Array.from(spec.values!)));
    if (kind === 'float') return g.addInitializer(`c${i}`, floatTensor(c.dtype, spec.shape, spec.values!));
    const [lo, hi] = spec.range ?? [-1, 1];
    const vals = Array.from({ length: n }, () => lo + (hi - lo) * rand());
    const name = `x${i}`;
    const shapes = c.shapes ?? 'static';
    // 'shared': dims named by size, so equal sizes share a symbol (as batch_size/sequence_length do).
    const shape = shapes === 'unknown' ? undefined : spec.shape.map((d, k) => (shapes === 'symbolic' ? `d${i}_${k}` : shapes === 'shared' ? `n${d}` : d));
    wrt.push(name);
    feeds[name] = c.dtype === 'float64' ? new ort.Tensor('float64', Float64Array.from(vals), spec.shape) : new ort.Tensor('float32', Float32Array.from(vals), spec.shape);
    return g.addInput(name, { dtype: c.dtype, shape });
  });
  const b = new Builder(g);
  const outs = b.opN(c.op, ins, c.outputs ?? 1, c.attrs ?? {});
  return { g, outs, feeds, wrt };
}

/** Run the bare op once for its output shapes and types, then add loss = Σ ReduceSum(y · r). */
async function lossModel(c: Case, seed: number): Promise<{ model: Model; feeds: Record<string, ort.Tensor>; wrt: string[] }> {
  const rand = rng(seed);
  const { g, outs, feeds, wrt } = opGraph(c, rand);
  const probe = new Model(g);
  outs.forEach((o) => probe.graph.markOutput(o));
  const s = await createSession(probe, { threads: 1 });
  const ys = await s.run(feeds);
  await s.release();
  probe.graph.outputs.splice(0);
  const b = new Builder(g);
  let loss: Value | null = null;
  for (const i of c.lossOutputs ?? outs.map((_, k) => k)) {
    const y = ys[outs[i].name];
    const r = Array.from({ length: y.size }, () => rand() * 2 - 1);
    const rw = g.addInitializer(`r${i}`, floatTensor(y.type === 'float64' ? 'float64' : 'float32', [...y.dims], r));
    const term = b.op('ReduceSum', [b.op('Mul', [outs[i], rw])], { keepdims: 0 });
    loss = loss ? b.op('Add', [loss, term]) : term;
  }
  g.renameValue(loss!, 'loss');
  loss!.type = { dtype: ys[outs[0].name].type === 'float64' ? 'float64' : 'float32', shape: [] };
  g.markOutput(loss!);
  return { model: probe, feeds, wrt };
}

const summary: string[] = [];
const covered = new Set<string>();

CASES.forEach((c, idx) => {
  const label = `${c.op}${c.label ? ` (${c.label})` : ''} [${c.dtype}${c.shapes && c.shapes !== 'static' ? `, ${c.shapes} shapes` : ''}]`;
  test(`gradient rule matches finite differences: ${label}`, async () => {
    const { model, feeds, wrt } = await lossModel(c, 1000 + idx);
    const f64 = c.dtype === 'float64';
    const results = await gradCheck(model, { loss: 'loss', wrt, feeds, step: f64 ? 1e-6 : 1e-2 });
    const worst = Math.max(...results.map((r) => r.relError));
    summary.push(`${label}: max rel err ${worst.toExponential(2)}`);
    covered.add(c.op);
    for (const r of results) {
      assert.ok(r.maxAbsGrad > 0, `${label}: ${r.name} has an all-zero numeric gradient (the check would be vacuous)`);
      assert.ok(r.relError < (f64 ? 1e-6 : 2e-2), `${label}: ${r.name} rel error ${r.relError} (max |grad| ${r.maxAbsGrad})`);
    }
  });
});

test('every registered rule has a finite-difference case', () => {
  for (const s of summary) console.log(`  ${s}`);
  const missing = RULES.map((r) => r.op).filter((op) => !NOT_DIFFERENTIABLE.has(op) && !CASES.some((c) => c.op === op));
  assert.deepEqual(missing, []);
  assert.equal(covered.size, new Set(CASES.map((c) => c.op)).size, 'some cases did not run to completion');
});
